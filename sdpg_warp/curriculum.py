"""Terrain curriculum per nominal group (docs/randomization.md, "Terrain curriculum").

A terrain task's sub-terrains lie in rows of rising difficulty (the levels). Each nominal group has a
level: a nominal's episode starts on a sub-terrain of its level (its auxiliaries take its state), and
when it ends the level moves by the distance the nominal's base walked (the authors' rule, legged_gym's
terrain curriculum). :class:`TerrainLevels` is a task's data (``Task.curriculum``);
:class:`CurriculumLevels` the device side, launched by the simulator around its resets, inside the
captured graphs.
"""

import dataclasses

import numpy as np
import torch
import warp as wp

from sdpg_warp.kernels import curriculum as kernels
from sdpg_warp.profiling import nvtx_range


@dataclasses.dataclass(frozen=True)
class TerrainLevels:
    """A terrain task's curriculum: ``rows`` levels x ``cols`` columns of ``size`` m sub-terrains, row i
    at x in [i size, (i+1) size), column j at y in [j size, (j+1) size) (world frame)."""

    rows: int
    cols: int
    size: float
    command_body: int
    """Mocap body whose position's x, y hold the world's planar velocity command (task memory)."""
    max_init_level: int = 1
    """A group's first level is drawn from 0..max_init_level (the authors' 1)."""


class CurriculumLevels:
    """Levels of ``num_worlds // group_size`` groups on ``device``: :meth:`before_reset` moves the
    levels of the masked nominals (before their state is reset), :meth:`after_reset` puts the masked
    worlds on their group's level (after the task placed them)."""

    def __init__(self, spec: TerrainLevels, origins: np.ndarray, num_worlds: int, group_size: int,
                 episode_seconds: float, device: str):
        if origins.shape != (spec.rows * spec.cols, 3):
            raise ValueError(f"curriculum: {origins.shape[0]} start points for {spec.rows} x {spec.cols} sub-terrains")
        self.spec = spec
        self.group_size = group_size
        self.episode_seconds = float(episode_seconds)
        self.device = device
        groups = num_worlds // group_size
        with wp.ScopedDevice(device):
            self._origins = wp.array(origins.astype(np.float32), dtype=wp.vec3)
            self.level = wp.zeros(groups, dtype=int)
            self._started = wp.zeros(groups, dtype=int)
            self._start = wp.zeros(groups, dtype=wp.vec2)

    def state_arrays(self) -> dict:
        """Simulator state that a checkpoint keeps."""
        return {"curriculum.level": self.level, "curriculum.started": self._started,
                "curriculum.start": self._start}

    def level_fractions(self) -> dict:
        """{``curriculum/level_k``: 0-dim tensor on the device}: the fraction of groups on level k, for
        every level (the distribution of the curriculum's progress; no host read)."""
        levels = wp.to_torch(self.level).long()
        fractions = torch.bincount(levels, minlength=self.spec.rows).double() / levels.numel()
        return {f"curriculum/level_{k}": fractions[k] for k in range(self.spec.rows)}

    def before_reset(self, seed: int, mask: wp.array, reset_count: wp.array, qpos: wp.array2d,
                     mocap_pos: wp.array2d) -> None:
        """mask [W] (nominal entries read), reset_count [W], qpos [W, nq], mocap_pos [W, nmocap]:
        the masked nominals' levels after their episodes (their first reset draws one)."""
        s = self.spec
        with nvtx_range("sim.curriculum"):
            wp.launch(kernels._update_levels, dim=self.level.shape[0],
                      inputs=[seed, self.group_size, s.rows, s.max_init_level, s.size, self.episode_seconds,
                              s.command_body, mask, reset_count, qpos, mocap_pos, self._start, self._started,
                              self.level],
                      outputs=[self._started, self.level], device=self.device)

    def after_reset(self, mask: wp.array, qpos: wp.array2d) -> None:
        """The masked worlds moved onto their group's level, same column."""
        s = self.spec
        with nvtx_range("sim.curriculum"):
            wp.launch(kernels._place_on_levels, dim=mask.shape[0],
                      inputs=[self.group_size, s.rows, s.cols, s.size, mask, self._origins, self.level, qpos],
                      outputs=[qpos, self._start], device=self.device)
