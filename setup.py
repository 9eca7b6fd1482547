"""sdpg_warp: Stochastic Decoupled Policy Gradient on MuJoCo Warp."""

from setuptools import find_packages, setup

setup(
    name="sdpg_warp",
    version="0.1.0",
    description="Stochastic Decoupled Policy Gradient (visual on-policy RL) on MuJoCo Warp and Warp kernels",
    long_description=open("README.md").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    # The kernels/ folder installs as sdpg_warp.kernels: nothing generic lands in site-packages.
    packages=find_packages(include=["sdpg_warp", "sdpg_warp.*"]) + ["sdpg_warp.kernels"],
    package_dir={"sdpg_warp.kernels": "kernels"},
    package_data={"sdpg_warp.tasks": ["assets/*.xml"]},
    install_requires=[
        "warp-lang>=1.10",
        "mujoco-warp>=3.3",
        "mujoco>=3.3",
        "torch>=2.4",
        "numpy>=1.24",
        "nvtx>=0.2",
        "tyro>=0.9",
        "tensorboard>=2.14",
        "imageio>=2.30",
        "imageio-ffmpeg>=0.5",
        "onnx>=1.15",  # python -m sdpg_warp.export
        "matplotlib>=3.7",  # python -m sdpg_warp.plot, the sweep's curves.png
        "mujoco-menagerie>=2026.10",  # robots of the ego-centric tasks (sdpg_warp/tasks/menagerie.py)
    ],
    # The README's install line installs these too, so that its test command runs as written.
    # wandb: --logger wandb (pip install -e ".[wandb]").
    extras_require={"test": ["pytest>=7", "onnxruntime>=1.17"], "wandb": ["wandb>=0.17"]},
)
