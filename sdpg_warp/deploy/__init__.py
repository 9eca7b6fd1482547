"""Deployment of an exported policy outside the training simulator (docs/deploy.md).

  python -m sdpg_warp.deploy runs/hopper__state__0__20261206-120000 --episodes 5

runs the policy's ONNX file (``sdpg_warp.export``) in onnxruntime on a :class:`Robot`, here C MuJoCo
(:class:`MuJoCoRobot`): observations assembled from ``MjData`` as a robot's sensors give them,
images from ``mujoco.Renderer``, rewards in NumPy, a fixed-rate loop that counts missed deadlines.
"""
