"""Frames per second of NominalRenderer vs number of nominal worlds, next to mujoco.Renderer (OpenGL).

Both render the same poses (the nominal worlds of a freshly reset BatchedSim) through the task's
camera (``track``; ``ego`` on the robot for the ego-centric tasks) at the same size. A frame is one
nominal world's image of one camera (a multi-camera task's renderer draws all its cameras in one
pass and counts each; mujoco.Renderer draws the first camera); NominalRenderer's time
includes gathering the nominal state, kinematics, BVH refit, ray casting and the frame-stack push;
mujoco.Renderer's includes kinematics, ``update_scene`` and ``render`` (pixels read back to the
host), one world after another. On CUDA the renderer is also timed as a captured graph. The renderer
is timed again with every visual randomization drawn (``PIXELS``: colours, lights, camera pose and
field of view, depth noise; docs/randomization.md, "Pixels"), the ratio to the plain one printed.
Prints ``name: value unit`` lines, then one JSON object.

  python bench/bench_render.py --task humanoid --nominal 16 64 256
  python bench/bench_render.py --quick
"""

import os
import subprocess
import sys

_GL_PROBE = "import mujoco; mujoco.Renderer(mujoco.MjModel.from_xml_string('<mujoco/>'), 8, 8).close()"


def _pick_opengl_backend() -> str | None:
    """The first MUJOCO_GL backend (the one set, else egl, then osmesa) that can open a context.

    Probed in child processes: MuJoCo binds its GL backend once, when ``mujoco`` is imported.
    """
    candidates = [os.environ["MUJOCO_GL"]] if os.environ.get("MUJOCO_GL") else ["egl", "osmesa"]
    for backend in candidates:
        env = dict(os.environ, MUJOCO_GL=backend)
        try:
            probe = subprocess.run([sys.executable, "-c", _GL_PROBE], env=env, capture_output=True, timeout=120)
        except subprocess.TimeoutExpired:
            continue
        if probe.returncode == 0:
            return backend
    return None


# Before anything imports mujoco (see _pick_opengl_backend).
OPENGL_BACKEND = _pick_opengl_backend()
if OPENGL_BACKEND is not None:
    os.environ["MUJOCO_GL"] = OPENGL_BACKEND

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import mujoco  # noqa: E402
import numpy as np  # noqa: E402
import warp as wp  # noqa: E402

# Warp 1.19 logs the init banner and module loads to stdout (wp.config.quiet no longer exists).
wp.config.log_level = wp.LOG_WARNING

from sdpg_warp.randomization import Randomization  # noqa: E402
from sdpg_warp.render import NominalRenderer  # noqa: E402
from sdpg_warp.sim import BatchedSim, resolve_device  # noqa: E402
from sdpg_warp.tasks import make_task  # noqa: E402
from timing import time_eager, time_graph  # noqa: E402


PIXELS = Randomization(rgba_scale=(0.8, 1.2), light_pos=(-0.1, 0.1), light_diffuse_scale=(0.8, 1.2),
                       camera_pos=(-0.01, 0.01), camera_rot=(-0.035, 0.035), camera_fovy=(-1.0, 1.0),
                       depth_noise=(0.0, 0.02))
"""Every visual quantity drawn (go2_terrain's camera ranges; the depth noise a real sensor's order)."""


def time_opengl(mjm: mujoco.MjModel, qpos: np.ndarray, width: int, height: int, camera: str, iterations: int) -> float:
    """Seconds for ``iterations`` passes of mujoco.Renderer over the poses ``qpos`` [N, nq]."""
    mjd = mujoco.MjData(mjm)
    renderer = mujoco.Renderer(mjm, height=height, width=width)
    try:

        def one_pass():
            for pose in qpos:
                mjd.qpos[:] = pose
                mujoco.mj_kinematics(mjm, mjd)
                mujoco.mj_comPos(mjm, mjd)
                mujoco.mj_camlight(mjm, mjd)
                renderer.update_scene(mjd, camera=camera)
                renderer.render()

        renderer.update_scene(mjd, camera=camera)
        renderer.render()  # warm-up: context and shader set-up
        start = time.perf_counter()
        for _ in range(iterations):
            one_pass()
        return time.perf_counter() - start
    finally:
        renderer.close()


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="humanoid")
    parser.add_argument("--nominal", type=int, nargs="+", default=[16, 64, 256], help="nominal worlds N")
    parser.add_argument("--size", type=int, default=84, help="image width and height")
    parser.add_argument("--iterations", type=int, default=5, help="renders timed per setting")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--quick", action="store_true", help="tiny sizes for a smoke test")
    args = parser.parse_args(argv)
    if args.quick:
        args.task, args.nominal, args.size, args.iterations = "pointmass", [2], 16, 2
    device = resolve_device(args.device)
    is_cuda = wp.get_device(device).is_cuda
    results = {
        "device": wp.get_device(device).name,
        "task": args.task,
        "size": args.size,
        "iterations": args.iterations,
        "cameras": list(make_task(args.task).cameras),
        "opengl_backend": OPENGL_BACKEND,
        "nominal": {},
    }
    if OPENGL_BACKEND is None:
        print("opengl: unavailable (no working MUJOCO_GL backend: tried egl, osmesa)")
    prefix = f"render_{args.task}_{args.size}px"
    for num_nominal in args.nominal:
        sim = BatchedSim(args.task, num_nominal=num_nominal, num_aux=1, device=device, seed=0)
        sim.reset()
        row = {}
        for modality in ("rgb", "depth"):
            # A multi-camera task renders all its cameras in one pass: frames count every camera's.
            renderer = NominalRenderer(sim, width=args.size, height=args.size, frames=3, modality=modality,
                                       camera=sim.task.cameras)
            frames = num_nominal * renderer.num_cameras * args.iterations
            seconds = time_eager(renderer.render, args.iterations, renderer.device)
            row[f"{modality}_frames_per_s"] = frames / seconds
            drawn = NominalRenderer(sim, width=args.size, height=args.size, frames=3, modality=modality,
                                    camera=sim.task.cameras, visual=PIXELS)
            row[f"{modality}_visual_frames_per_s"] = frames / time_eager(drawn.render, args.iterations, drawn.device)
            row[f"{modality}_visual_over_plain"] = row[f"{modality}_visual_frames_per_s"] / row[f"{modality}_frames_per_s"]
            if is_cuda:
                try:
                    seconds = time_graph(renderer.render, args.iterations, renderer.device)
                    row[f"{modality}_graph_frames_per_s"] = frames / seconds
                except Exception as e:  # report, do not hide the eager numbers
                    print(f"{prefix}_{num_nominal}n_{modality}_graph: unavailable ({type(e).__name__}: {e})")
        if OPENGL_BACKEND is not None:
            qpos = sim.qpos[:: sim.num_aux + 1].cpu().numpy().astype(np.float64)
            seconds = time_opengl(sim.mjm, qpos, args.size, args.size, sim.task.camera, args.iterations)
            row["opengl_rgb_frames_per_s"] = num_nominal * args.iterations / seconds
            row["rgb_over_opengl"] = row["rgb_frames_per_s"] / row["opengl_rgb_frames_per_s"]
        results["nominal"][num_nominal] = row
        for key, value in row.items():
            unit = "x" if "over" in key else "frames/s"
            print(f"{prefix}_{num_nominal}n_{key}: {value:.4g} {unit}")
    print(json.dumps(results))
    return results


if __name__ == "__main__":
    main()
