"""Deployment of an exported policy outside the training simulator (docs/deploy.md).

  python -m sdpg_warp.deploy runs/hopper__state__0__20261206-120000 --episodes 5

runs the policy's ONNX file (``sdpg_warp.export``) in onnxruntime on a :class:`Robot`, here C MuJoCo
(:class:`MuJoCoRobot`): observations assembled from ``MjData`` as a robot's sensors give them,
images from ``mujoco.Renderer``, rewards in NumPy, a fixed-rate loop that counts missed deadlines.
"""

import os

if "MUJOCO_GL" not in os.environ and not os.environ.get("DISPLAY"):
    # Headless (a server, a robot's computer): mujoco.Renderer needs EGL, and MuJoCo reads this
    # variable once, when it is first imported.
    os.environ["MUJOCO_GL"] = "egl"
