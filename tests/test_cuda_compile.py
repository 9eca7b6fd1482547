"""Every Warp module of the project compiles for CUDA (sm_80, sm_90), with or without a GPU.

Warp's wheel carries NVRTC, so ``wp.compile_aot_module(..., use_ptx=True)`` generates and compiles
a module's CUDA code without a device: a CUDA-only code-generation error (a builtin, a type or a
construct the CPU path accepts) fails here instead of on the first GPU run. Modules are found from
the source (any file with a ``@wp.kernel``), so a new kernel module is covered without listing it.
"""

import importlib
import pathlib
import re

import pytest
import warp as wp

ROOT = pathlib.Path(__file__).resolve().parents[1]
ARCHS = (80, 90)


def kernel_modules():
    """Dotted names of the project's Python modules that define at least one @wp.kernel."""
    files = sorted(ROOT.glob("kernels/**/*.py")) + sorted(ROOT.glob("sdpg_warp/**/*.py"))
    # Kernels built by a factory count too (indented), except those in a module of their own
    # (module="unique", the task kernels: see test_task_kernel_compiles_for_cuda).
    pattern = re.compile(r"^\s*@wp\.kernel\b(?!.*module=\"unique\")", re.MULTILINE)
    # The repository's kernels/ folder installs as the package sdpg_warp.kernels.
    return [
        ".".join(("sdpg_warp",) * (path.parts[len(ROOT.parts)] == "kernels") + path.relative_to(ROOT).with_suffix("").parts)
        for path in files
        if pattern.search(path.read_text(encoding="utf-8"))
    ]


def test_the_search_finds_the_kernel_modules():
    # A broken search would make the compile test vacuous.
    names = kernel_modules()
    assert {f"sdpg_warp.kernels.{name}" for name in ("perturb", "estimator", "returns", "reset")} <= set(names)
    assert any(name.startswith("sdpg_warp.tasks.") for name in names)
    assert "sdpg_warp.render.nominal" in names


@pytest.mark.parametrize("arch", ARCHS, ids=lambda arch: f"sm{arch}")
@pytest.mark.parametrize("name", kernel_modules())
def test_module_compiles_for_cuda(name, arch, tmp_path):
    wp.config.log_level = wp.LOG_WARNING
    wp.init()
    importlib.import_module(name)
    module = wp.get_module(name)
    assert module.kernels, f"{name} defines no Warp kernel"
    # A fresh directory: nothing comes from (or goes to) the kernel cache.
    (artifact,) = wp.compile_aot_module(module, arch=arch, module_dir=tmp_path, use_ptx=True)
    ptx = artifact.read_text(encoding="utf-8", errors="replace")
    assert re.search(rf"^\.target sm_{arch}\b", ptx, re.MULTILINE), f"{artifact.name} is not sm_{arch} PTX"
    # Every kernel of the module made it into the PTX as an entry point.
    assert ptx.count(".entry ") >= len(module.kernels)


@pytest.mark.parametrize("arch", ARCHS, ids=lambda arch: f"sm{arch}")
@pytest.mark.parametrize("task", sorted(__import__("sdpg_warp.tasks", fromlist=["task_names"]).task_names()))
def test_task_kernel_compiles_for_cuda(task, arch, tmp_path):
    # Task kernels built by a factory (ant, humanoid) live in modules of their own, which the
    # source search above does not see: compile each task's kernel module directly.
    from sdpg_warp.tasks import make_task

    wp.config.log_level = wp.LOG_WARNING
    wp.init()
    module = make_task(task)._kernel.module
    (artifact,) = wp.compile_aot_module(module, arch=arch, module_dir=tmp_path, use_ptx=True)
    ptx = artifact.read_text(encoding="utf-8", errors="replace")
    assert re.search(rf"^\.target sm_{arch}\b", ptx, re.MULTILINE)
    assert ".entry " in ptx


@pytest.mark.parametrize("arch", ARCHS, ids=lambda arch: f"sm{arch}")
def test_cuda_sampler_keeps_its_normals_in_registers(arch, tmp_path):
    # The CPU variant calls _normals out of line; on CUDA a call passes its four results through
    # local memory (thread-private DRAM behind L1), so the CUDA variant inlines it: no local depot.
    from sdpg_warp.kernels import perturb

    wp.config.log_level = wp.LOG_WARNING
    wp.init()
    module = wp.get_module("sdpg_warp.kernels.perturb")
    (artifact,) = wp.compile_aot_module(module, arch=arch, module_dir=tmp_path, use_ptx=True)
    ptx = artifact.read_text(encoding="utf-8", errors="replace")
    entries = {match.group(1): match.start() for match in re.finditer(r"^\.visible \.entry (\S+)\(", ptx, re.MULTILINE)}
    (name,) = [name for name in entries if name.startswith(perturb._PERTURB_ACTIONS["cuda"].get_mangled_name())]
    start = entries[name]
    end = min([pos for pos in entries.values() if pos > start] + [len(ptx)])
    body = ptx[start:end]
    assert "__local_depot" not in body and "st.local" not in body and "ld.local" not in body
