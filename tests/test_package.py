"""The package face: every public name resolves, and importing the package stays light."""

import pathlib
import shutil
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


def test_a_checkout_without_an_editable_install_finds_its_kernels(tmp_path):
    """After a plain ``pip install .``, pytest in the checkout imports the checkout's sdpg_warp, which has
    no kernels/ subfolder (setup.py maps the top-level kernels/ there); before, 17 test files failed to
    collect with "No module named 'sdpg_warp.kernels'"."""
    root = pathlib.Path(__file__).resolve().parents[1]
    (tmp_path / "sdpg_warp").mkdir()
    shutil.copy(root / "sdpg_warp" / "__init__.py", tmp_path / "sdpg_warp")
    shutil.copytree(root / "kernels", tmp_path / "kernels")
    code = ("import importlib.util, sys; sys.path.insert(0, sys.argv[1]); import sdpg_warp.kernels as k; "
            "print(k.__file__); print(importlib.util.find_spec('sdpg_warp.kernels.reset').origin)")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(tmp_path / "kernels" / "__init__.py"), str(tmp_path / "kernels" / "reset.py")]
