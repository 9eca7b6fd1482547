"""The README's first two commands: its install line brings everything its test command and the
export need, and CI runs exactly that test command after the same install."""

import ast
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _readme_commands() -> list:
    with open(os.path.join(ROOT, "README.md")) as f:
        block = re.search(r"```bash\n(.*?)```", f.read(), re.S).group(1)
    return [line.strip() for line in block.splitlines() if line.strip()]


def _setup_requirements() -> tuple:
    """(install_requires, extras_require) of setup.py, read without running it."""
    with open(os.path.join(ROOT, "setup.py")) as f:
        tree = ast.parse(f.read())
    call = next(node for node in ast.walk(tree) if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "setup")
    kwargs = {kw.arg: kw.value for kw in call.keywords}
    return ast.literal_eval(kwargs["install_requires"]), ast.literal_eval(kwargs.get("extras_require", ast.Dict([], [])))


def _names(requirements) -> set:
    return {re.split(r"[<>=!~\[; ]", req, maxsplit=1)[0].lower() for req in requirements}


def test_readme_install_line_brings_what_the_tests_and_export_import():
    install, run = _readme_commands()[0].split(" && ")
    match = re.fullmatch(r'pip install -e "?\.(\[([\w,]+)\])?"?', install)
    assert match, install
    assert run.startswith("python -m sdpg_warp.train ")
    requires, extras = _setup_requirements()
    installed = _names(requires)
    for extra in (match.group(2) or "").split(","):
        if extra:
            installed |= _names(extras[extra])
    assert {"pytest", "onnxruntime", "onnx", "tensorboard", "torch", "warp-lang", "mujoco-warp"} <= installed
    assert "onnx" in _names(requires), "export needs onnx with the plain install"


def test_ci_runs_the_readme_install_and_test_command():
    install = _readme_commands()[0].split(" && ")[0].replace("pip install", "").strip()
    test_command = _readme_commands()[1]
    assert test_command == "python -m pytest -q tests"
    with open(os.path.join(ROOT, ".ci", "run")) as f:
        ci = f.read()
    assert re.search(r"pip install .*" + re.escape(install) + r"\s*$", ci, re.M), ci
    assert re.search(r"^python3? " + re.escape(test_command.removeprefix("python ")) + r"\s*$", ci, re.M), ci
