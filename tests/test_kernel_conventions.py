"""The kernel conventions, checked on the source (an AST pass, no compilation).

Every ``@wp.kernel`` of the project is private (``_name``); its arguments are grouped under an
``# In:`` comment and then an ``# Out:`` comment, inputs named ``*_in`` and outputs ``*_out``
(scalars too); it never writes an input (no subscript assignment, augmented assignment or atomic
update of an ``_in`` argument); and every module that defines kernels turns off Warp's backward
code generation, as nothing here is differentiated.
"""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
_ATOMICS = {"atomic_add", "atomic_sub", "atomic_min", "atomic_max", "atomic_or", "atomic_and", "atomic_xor",
            "atomic_cas", "atomic_exch"}


def _kernel_modules() -> list:
    files = sorted((ROOT / "kernels").glob("*.py")) + sorted((ROOT / "sdpg_warp").rglob("*.py"))
    return [path for path in files if _kernels(path)]


def _is_kernel(node: ast.AST) -> bool:
    return isinstance(node, ast.FunctionDef) and any(
        ast.unparse(d).startswith(("wp.kernel", "warp.kernel")) for d in node.decorator_list)


def _kernels(path: pathlib.Path) -> list:
    return [node for node in ast.walk(ast.parse(path.read_text())) if _is_kernel(node)]


def _argument_groups(path: pathlib.Path, kernel: ast.FunctionDef) -> dict:
    """{argument name: "In" or "Out" or None}: the last group comment above each argument."""
    lines = path.read_text().splitlines()
    groups, current = {}, None
    args = kernel.args.args
    start = kernel.lineno
    for arg in args:
        for line in lines[start - 1:arg.lineno - 1]:
            text = line.strip()
            if text.startswith("# In:"):
                current = "In"
            elif text.startswith("# Out:"):
                current = "Out"
        groups[arg.arg] = current
        start = arg.lineno
    return groups


def _written_names(kernel: ast.FunctionDef) -> set:
    """Names of arrays the kernel writes: x[...] = / x[...] op= / wp.atomic_*(x, ...)."""
    written = set()
    for node in ast.walk(kernel):
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AugAssign):
            targets = [node.target]
        for target in targets:
            while isinstance(target, (ast.Subscript, ast.Attribute)):
                target = target.value
            if isinstance(target, ast.Name) and target is not node:
                if isinstance(node, ast.AugAssign) or any(isinstance(t, (ast.Subscript, ast.Attribute))
                                                          for t in targets):
                    written.add(target.id)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _ATOMICS:
            if node.args and isinstance(node.args[0], ast.Name):
                written.add(node.args[0].id)
    return written


MODULES = _kernel_modules()
KERNELS = [(path, kernel) for path in MODULES for kernel in _kernels(path)]


def _id(item) -> str:
    path, kernel = item
    return f"{path.relative_to(ROOT)}::{kernel.name}"


def test_the_project_has_kernels():
    assert len(KERNELS) >= 15


@pytest.mark.parametrize("item", KERNELS, ids=[_id(k) for k in KERNELS])
def test_kernel_conventions(item):
    path, kernel = item
    assert kernel.name.startswith("_"), "kernels are private"
    groups = _argument_groups(path, kernel)
    order = [g for g in groups.values()]
    assert None not in order, f"every argument sits under # In: or # Out: ({groups})"
    assert order == sorted(order, key=["In", "Out"].index), "# In: arguments come before # Out:"
    for name, group in groups.items():
        suffix = "_in" if group == "In" else "_out"
        assert name.endswith(suffix), f"{name} is under # {group}: and must end in {suffix}"
    written_inputs = {name for name in _written_names(kernel) if groups.get(name) == "In"}
    assert not written_inputs, f"kernel writes its inputs {sorted(written_inputs)}"


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(ROOT)) for p in MODULES])
def test_kernel_modules_skip_backward_code(path):
    assert 'wp.set_module_options({"enable_backward": False})' in path.read_text()
