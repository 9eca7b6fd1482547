"""Pictures of what the actor sees in the ego-centric tasks: one PNG per task under docs/.

For each task: a freshly reset world (seeded), moved forward towards its first obstacle, rendered by the
training renderer (NominalRenderer, the task's cameras: ``ego``, or each of a multi-camera task's) as
RGB and as depth (near white, far black), side by side, one row per camera, upscaled 3x (nearest
neighbour) from 84 x 84.

  python tools/ego_pictures.py --task walker_hurdle
"""

import argparse
import os

import imageio
import mujoco
import numpy as np
import warp as wp

wp.config.log_level = wp.LOG_WARNING

from sdpg_warp.render import NominalRenderer  # noqa: E402
from sdpg_warp.sim import BatchedSim  # noqa: E402

DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs")
SIZE = 84
SCALE = 3
DEPTH_RANGE = 5.0
"""Depth (m) mapped to black; nearer is lighter."""


def picture(task: str, seed: int, advance: float) -> np.ndarray:
    """[K*SIZE*SCALE, 2*SIZE*SCALE, 3] uint8 for K cameras: RGB | depth of nominal 0 after moving it
    ``advance`` m along +x (qpos[0]: the walker's rootx, a free joint's x) from its reset pose; a
    robot on a fixed base (franka_pick_cube, aloha_insertion) stays at its reset pose."""
    sim = BatchedSim(task, num_nominal=1, num_aux=1, device="cpu", seed=seed)
    sim.reset()
    if advance and sim.mjm.jnt_type[0] in (mujoco.mjtJoint.mjJNT_FREE, mujoco.mjtJoint.mjJNT_SLIDE):
        sim.qpos[0, 0] += advance
    cameras = sim.task.cameras
    rgb = NominalRenderer(sim, SIZE, SIZE, 1, "rgb", camera=cameras).render()[0].numpy()
    depth = NominalRenderer(sim, SIZE, SIZE, 1, "depth", camera=cameras).render()[0].numpy()
    rows = []
    for k in range(len(cameras)):
        grey = (255 * (1.0 - np.clip(depth[k] / DEPTH_RANGE, 0.0, 1.0))).astype(np.uint8)
        rows.append(np.concatenate([rgb[3 * k:3 * k + 3].transpose(1, 2, 0), np.repeat(grey[..., None], 3, axis=2)],
                                   axis=1))
    return np.concatenate(rows, axis=0).repeat(SCALE, axis=0).repeat(SCALE, axis=1)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", nargs="+", default=["walker_hurdle"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--advance", type=float, default=1.0, help="metres to move the robot forward first")
    args = parser.parse_args(argv)
    for task in args.task:
        path = os.path.join(DOCS, f"ego_{task}.png")
        imageio.imwrite(path, picture(task, args.seed, args.advance))
        print(f"{task}: {path}")


if __name__ == "__main__":
    main()
