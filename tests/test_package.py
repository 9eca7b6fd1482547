"""The package face: every public name resolves, and importing the package stays light."""

import subprocess
import sys

import sdpg_warp


def test_public_names_resolve():
    for name in sdpg_warp.__all__:
        assert getattr(sdpg_warp, name) is not None, name
    assert sdpg_warp.Runner.__name__ == "Runner"
    assert callable(sdpg_warp.ops.sample_actions)


def test_import_does_not_load_torch_or_mujoco_warp():
    code = "import sys, sdpg_warp; print('torch' in sys.modules, 'mujoco_warp' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
