"""Helpers shared by the test files: the task-contract harness (a task's kernel against its NumPy
reference on the same inputs), task metrics on hand-built rows, the renderer's stand-in simulator
and mj_ray reference, the contact comparison with C MuJoCo, and the ego policies' export check."""

import dataclasses
import types

import mujoco
import mujoco_warp as mjw
import numpy as np
import pytest
import torch
import warp as wp

from sdpg_warp import export
from sdpg_warp.tasks.base import TaskInputs

TOL = dict(rtol=1e-5, atol=1e-5)
"""float32 kernel against float64 reference."""
_VECTOR = {"mocap_pos": wp.vec3, "xpos": wp.vec3, "site_xpos": wp.vec3, "mocap_quat": wp.quat}
"""Warp dtypes of the vector inputs (the rest are float, contacts int)."""


# ------------------------------------------------------------------------------ task contract


def task_inputs(task, mjm: mujoco.MjModel, qpos: np.ndarray, qvel: np.ndarray, action: np.ndarray,
                **fields) -> TaskInputs:
    """NumPy inputs of ``len(qpos)`` worlds, rounded to float32 as the kernel sees them; inputs not
    given are zeros (``mocap_quat`` the identity) of the model's shapes. ``fields``: ``mocap_pos``
    [W, nmocap, 3], ``mocap_quat`` [W, nmocap, 4], ``xpos`` [W, nbody, 3], ``site_xpos`` [W, nsite, 3],
    ``contacts`` [W, num_contact_flags]."""
    num = len(qpos)
    defaults = dict(mocap_pos=np.zeros((num, mjm.nmocap, 3)),
                    mocap_quat=np.tile([1.0, 0.0, 0.0, 0.0], (num, mjm.nmocap, 1)),
                    xpos=np.zeros((num, mjm.nbody, 3)), site_xpos=np.zeros((num, mjm.nsite, 3)),
                    contacts=np.zeros((num, task.num_contact_flags), dtype=np.int32))
    unknown = set(fields) - set(defaults)
    assert not unknown, unknown
    defaults.update(fields)
    rounded = {name: np.asarray(value, np.float32).astype(np.float64)
               for name, value in dict(qpos=qpos, qvel=qvel, action=action, **defaults).items() if name != "contacts"}
    return TaskInputs(**rounded, contacts=np.asarray(defaults["contacts"], np.int32))


def to_warp(inputs: TaskInputs, device: str) -> TaskInputs:
    """The NumPy inputs as the Warp arrays a kernel reads."""
    def array(name, value):
        if name == "contacts":
            return wp.array(np.asarray(value, np.int32).reshape(len(value), -1), dtype=int, device=device)
        value = np.asarray(value, np.float32)
        if name == "mocap_quat":  # MuJoCo's (w, x, y, z) is what mujoco_warp stores
            return wp.array(value.reshape(len(value), -1, 4), dtype=wp.quat, device=device)
        if name in _VECTOR:
            return wp.array(value.reshape(len(value), -1, 3), dtype=wp.vec3, device=device)
        return wp.array(value, dtype=float, device=device)
    return TaskInputs(**{f.name: array(f.name, getattr(inputs, f.name)) for f in dataclasses.fields(inputs)})


def evaluate(task, inputs: TaskInputs, device: str):
    """``task.evaluate`` on Warp inputs (or NumPy ones, moved to ``device``); outputs start as
    inf / -1 so an unwritten entry fails. Returns (obs, terms, reward, terminated) as NumPy."""
    if isinstance(inputs.qpos, np.ndarray):
        inputs = to_warp(inputs, device)
    num = inputs.qpos.shape[0]
    obs = wp.array(np.full((num, task.state_dim), np.inf, np.float32), dtype=float, device=device)
    terms = wp.array(np.full((num, len(task.reward_terms)), np.inf, np.float32), dtype=float, device=device)
    reward = wp.array(np.full(num, np.inf, np.float32), dtype=float, device=device)
    terminated = wp.array(np.full(num, -1, np.int32), dtype=int, device=device)
    task.evaluate(inputs, obs, terms, reward, terminated)
    return obs.numpy(), terms.numpy(), reward.numpy(), terminated.numpy()


def check_reference(task, inputs: TaskInputs, device: str, worlds=None, tol=TOL, terms_tol=None,
                    reward_tol=TOL):
    """The task contract: the kernel's obs, terms, reward and termination of every world equal the
    NumPy reference's (``task.reference``; the reward ``task.reference_reward`` of its terms).
    ``inputs``: NumPy inputs of every world (:func:`task_inputs`), or the Warp inputs of a simulator
    with ``worlds`` the reference's per-world NumPy inputs (e.g. C MuJoCo's kinematics). ``tol`` for
    obs (and terms, unless ``terms_tol``), ``reward_tol`` for the reward. Returns the kernel's
    (obs, terms, reward, terminated)."""
    obs, terms, reward, terminated = evaluate(task, inputs, device)
    if worlds is None:
        worlds = [inputs.world(w) for w in range(len(obs))]
    assert len(worlds) == len(obs)
    for w, world in enumerate(worlds):
        ref_obs, ref_terms, ref_terminated = task.reference(world)
        np.testing.assert_allclose(obs[w], ref_obs, **tol, err_msg=f"obs, world {w}")
        np.testing.assert_allclose(terms[w], ref_terms, **(terms_tol or tol), err_msg=f"terms, world {w}")
        assert reward[w] == pytest.approx(task.reference_reward(ref_terms), rel=reward_tol["rtol"],
                                          abs=reward_tol["atol"]), f"reward, world {w}"
        assert terminated[w] == int(ref_terminated), f"world {w}"
    return obs, terms, reward, terminated


# ------------------------------------------------------------------------------ task metrics


def measure_rows(task, device, episode_step, previous, **data) -> np.ndarray:
    """``task.measure`` on hand-built rows: ``data`` the Data fields its kernel reads (NumPy, as
    float32: qpos, qvel, mocap_pos [W, nmocap, 3], ...), ``episode_step`` [W] the steps before
    this one, ``previous`` [W, metrics] the metrics before it (inf where they must be ignored)."""
    d = types.SimpleNamespace(**{name: wp.array(np.asarray(value, np.float32), dtype=_VECTOR.get(name, float),
                                                device=device) for name, value in data.items()})
    metrics = wp.array(np.asarray(previous, np.float32), dtype=float, device=device)
    task.measure(d, wp.array(np.asarray(episode_step, np.int32), dtype=int, device=device), metrics)
    return metrics.numpy()


def check_measure_reference(task, measured, episode_step, previous, *rows) -> None:
    """Each measured row equals ``task.reference_measure(*row, previous, episode_step)`` on the
    float32 inputs the kernel saw (``rows``: per world, the reference's leading arguments)."""
    for w, row in enumerate(rows):
        as32 = [np.asarray(x, np.float32).astype(np.float64) for x in row]
        expected = task.reference_measure(*as32, np.asarray(previous[w], np.float32), int(episode_step[w]))
        np.testing.assert_allclose(measured[w], expected, rtol=1e-5, atol=1e-5, err_msg=f"world {w}")


# ------------------------------------------------------------------------------ rendering and physics

# Geom groups the renderer draws (mujoco_warp's default), as an mj_ray group mask.
GEOM_GROUPS = np.array([1, 1, 1, 0, 0, 0], dtype=np.uint8)
DEPTH_ATOL = 1e-3
DEPTH_RTOL = 1e-3
# Rays that graze a silhouette may hit in float32 and miss in float64 (or the reverse).
MAX_EDGE_FRACTION = 0.02


def stand_in(mjm: mujoco.MjModel, device: str, num_nominal: int = 2, num_aux: int = 2):
    """An object with exactly the BatchedSim attributes the renderer reads."""
    num_worlds = num_nominal * (num_aux + 1)
    with wp.ScopedDevice(device):
        m = mjw.put_model(mjm)
        d = mjw.make_data(mjm, nworld=num_worlds)
    return types.SimpleNamespace(
        mjm=mjm, m=m, d=d, num_nominal=num_nominal, num_aux=num_aux, num_worlds=num_worlds, device=device
    )


def random_qpos(mjm: mujoco.MjModel, rng: np.random.Generator, count: int, scale: float = 0.25) -> np.ndarray:
    """[count, nq] poses near qpos0, quaternions renormalized."""
    qpos = mjm.qpos0 + rng.uniform(-scale, scale, size=(count, mjm.nq))
    for j in range(mjm.njnt):
        adr = mjm.jnt_qposadr[j]
        if mjm.jnt_type[j] == mujoco.mjtJoint.mjJNT_FREE:
            adr += 3
        elif mjm.jnt_type[j] != mujoco.mjtJoint.mjJNT_BALL:
            continue
        qpos[:, adr : adr + 4] /= np.linalg.norm(qpos[:, adr : adr + 4], axis=1, keepdims=True)
    return qpos


def set_worlds(r, nominal_qpos: np.ndarray, aux_qpos: np.ndarray | None = None) -> None:
    """Writes nominal poses [N, nq] (and auxiliary poses [N*M, nq], else copies) into the stand-in."""
    sim = r.sim
    qpos = np.repeat(nominal_qpos, sim.num_aux + 1, axis=0)
    if aux_qpos is not None:
        aux = np.arange(sim.num_worlds) % (sim.num_aux + 1) != 0
        qpos[aux] = aux_qpos
    sim.d.qpos.assign(qpos.astype(np.float32))


def reference_rays(mjm: mujoco.MjModel, qpos: np.ndarray, camera_id: int, size: int, mocap_pos=None):
    """C MuJoCo per-pixel (z-depth, geom id) of the camera's pixel-centre rays, via mj_ray (mocap
    bodies at ``mocap_pos`` [nmocap, 3] when given)."""
    mjd = mujoco.MjData(mjm)
    mjd.qpos[:] = qpos
    if mocap_pos is not None:
        mjd.mocap_pos[:] = mocap_pos
    mujoco.mj_forward(mjm, mjd)
    origin = mjd.cam_xpos[camera_id].copy()
    cam_xmat = mjd.cam_xmat[camera_id].reshape(3, 3)
    # Pixel-centre rays through a vertical field of view fovy, row 0 at the top, camera looking -z.
    half_height = np.tan(np.deg2rad(mjm.cam_fovy[camera_id]) / 2)
    centres = (np.arange(size) + 0.5) / size
    x = (2 * centres - 1) * half_height
    y = (1 - 2 * centres) * half_height
    depth = np.empty((size, size))
    geom = np.empty((size, size), dtype=int)
    geomid = np.zeros(1, dtype=np.int32)
    for row in range(size):
        for col in range(size):
            local = np.array([x[col], y[row], -1.0])
            local /= np.linalg.norm(local)
            dist = mujoco.mj_ray(mjm, mjd, origin, cam_xmat @ local, GEOM_GROUPS, 1, -1, geomid)
            geom[row, col] = geomid[0]
            depth[row, col] = dist * -local[2] if dist >= 0 else np.inf
    return depth, geom


def contact_depths_agree(sim, w, mjd, atol=1e-4) -> bool:
    """Whether world ``w``'s contacts (from the last substep) have the same depths as C MuJoCo's."""
    n = int(sim.d.nacon.numpy()[0])
    ours = np.sort(sim.d.contact.dist.numpy()[:n][sim.d.contact.worldid.numpy()[:n] == w])
    theirs = np.sort(mjd.contact.dist[: mjd.ncon])
    return ours.shape == theirs.shape and np.allclose(ours, theirs, atol=atol)


def check_ego_export(run, modality):
    """The exported graph takes the camera's frame stack and the proprioception as two inputs and
    gives the actions of the trained actor on the packed rows those make."""
    onnxruntime = pytest.importorskip("onnxruntime", reason="the README's install (.[test]) brings onnxruntime")
    assert export.main([str(run), "--out", str(run / "p.onnx")]) == 0
    policy, (images, proprio), names = export.load_policy(str(run))
    assert names == ("images", "proprio")
    gen = torch.Generator().manual_seed(0)
    if modality == "rgb":
        images = torch.randint(0, 256, (5, *images.shape[1:]), generator=gen, dtype=torch.uint8)
    else:
        images = torch.rand(5, *images.shape[1:], generator=gen) * 5.0
    proprio = torch.randn(5, proprio.shape[1], generator=gen)
    session = onnxruntime.InferenceSession(str(run / "p.onnx"))
    actions = session.run(None, {"images": images.numpy(), "proprio": proprio.numpy()})[0]
    packed = torch.cat([images.flatten(1), proprio.view(torch.uint8) if modality == "rgb" else proprio], dim=1)
    with torch.no_grad():
        expected = torch.tanh(policy.actor(packed)[0]).numpy()
    np.testing.assert_allclose(actions, expected, atol=1e-5)
