"""SDPG Warp kernels: private ``@wp.kernel`` / ``@wp.func`` only; launch wrappers live in ``sdpg_warp``."""
