"""Batched ray-cast rendering of the N nominal worlds into a zero-copy frame stack.

``NominalRenderer(sim, width, height, frames, modality, camera)`` renders one camera (``track``,
or an ego-centric task's ``ego``) of the N nominal worlds only (world n*(M+1) of the simulator)
and keeps the last ``frames`` frames of each, newest last, in one fixed Warp buffer that Torch
reads through ``wp.to_torch``. Per frame: gather the nominal state into a private N-world Data,
kinematics and camera poses, BVH refit, mujoco_warp's ray-cast render, then our push kernel into
the stack (refilling nominals that just started an episode). Why this renderer and what it costs: docs/DESIGN.md section 7.
``render.ego`` packs an ego-centric task's frame stack with its proprioception for the actor.
"""

from sdpg_warp.render.nominal import NominalRenderer as NominalRenderer
