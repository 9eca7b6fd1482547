"""Per-world contact flags from mujoco_warp's contact list: which classes of geoms (a robot's feet,
its base, a gripper's fingers) touch which others (the terrain, a table) in each world.

A flag is the presence of a contact that adds a constraint (bit 1 of mujoco_warp's contact type),
not a force threshold. The NumPy twin reads C MuJoCo's ``MjData.contact`` list.
"""

import mujoco
import mujoco_warp as mjw
import numpy as np
import warp as wp

from sdpg_warp.profiling import nvtx_range

# Nothing here is differentiated: no adjoint code (faster compiles).
wp.set_module_options({"enable_backward": False})


@wp.kernel
def _contact_flags(
    # In:
    nacon_in: wp.array(dtype=int),
    contact_geom_in: wp.array(dtype=wp.vec2i),
    contact_worldid_in: wp.array(dtype=int),
    contact_type_in: wp.array(dtype=int),
    geom_flag_in: wp.array(dtype=int),
    geom_partner_in: wp.array(dtype=int),
    # Out:
    flags_out: wp.array2d(dtype=int),
):
    """flags_out[w, k] = 1 when a constraint contact of world w pairs a geom of flag k
    (``geom_flag_in[g]`` = k, -1 for none) with a partner geom (``geom_partner_in[g]`` != 0); the
    array is zeroed before, and every writer writes 1."""
    contactid = wp.tid()
    if contactid >= nacon_in[0] or (contact_type_in[contactid] & 1) == 0:
        return
    geoms = contact_geom_in[contactid]
    for side in range(2):
        geom = geoms[side]
        other = geoms[1 - side]
        if geom >= 0 and other >= 0:
            k = geom_flag_in[geom]
            if k >= 0 and geom_partner_in[other] != 0:
                flags_out[contact_worldid_in[contactid], k] = 1


def contact_flags(d: mjw.Data, geom_flag: wp.array, geom_partner: wp.array, flags_out: wp.array2d) -> None:
    """Writes ``flags_out`` [W, K] int32: 1 where world w has a constraint contact between a geom of
    flag k and a partner geom. ``geom_flag`` [ngeom] int32 each geom's flag in 0..K-1 or -1,
    ``geom_partner`` [ngeom] int32 1 for the geoms a flagged geom must touch (all 1: anything)."""
    with nvtx_range("task.contact_flags"):
        flags_out.zero_()
        wp.launch(_contact_flags, dim=d.naconmax,
                  inputs=[d.nacon, d.contact.geom, d.contact.worldid, d.contact.type, geom_flag, geom_partner],
                  outputs=[flags_out], device=flags_out.device)


def np_contact_flags(mjd: mujoco.MjData, geom_flag: np.ndarray, geom_partner: np.ndarray,
                     num_flags: int) -> np.ndarray:
    """NumPy twin of :func:`contact_flags` for one C MuJoCo world: [num_flags] int32."""
    flags = np.zeros(num_flags, dtype=np.int32)
    for pair in mjd.contact.geom[:mjd.ncon]:
        for geom, other in (pair, pair[::-1]):
            if geom >= 0 and other >= 0 and geom_flag[geom] >= 0 and geom_partner[other]:
                flags[geom_flag[geom]] = 1
    return flags
