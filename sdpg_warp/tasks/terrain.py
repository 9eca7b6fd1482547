"""Procedural heightfield terrain of go2_terrain: a grid of sub-terrains of rising difficulty.

The generator follows the authors' curriculum terrain (SDPG ``utils/terrain.py`` with
``utils/terrain_utils.py``, settings of ``cfgs/task/genesis/go2_terrain.yaml``): ``num_rows`` x
``num_cols`` sub-terrains of ``size`` metres, row i at difficulty i / num_rows, column j of type
choice j / num_cols + 0.001 through the cumulative proportions (pyramid slopes down and up,
random roughness, pyramid stairs down and up), surrounded by a flat border. Heights are integers
of ``vertical_scale`` metres on a ``horizontal_scale`` grid; sample (i, j) of the grid sits at
world (i * horizontal_scale - border, j * horizontal_scale - border). Everything is generated on
the host from a fixed seed, once: one terrain for all worlds, as the authors'.
"""

import dataclasses
import functools

import mujoco
import numpy as np
import warp as wp

# Nothing here is differentiated: no adjoint code (faster compiles).
wp.set_module_options({"enable_backward": False})


@dataclasses.dataclass(frozen=True)
class TerrainSpec:
    """Sizes and the generator's parameters (lengths in metres)."""

    num_rows: int = 10
    """Sub-terrains along x (difficulty levels)."""
    num_cols: int = 10
    """Sub-terrains along y (terrain types)."""
    size: float = 8.0
    """Edge length of a square sub-terrain."""
    border: float = 20.0
    """Width of the flat border around the grid of sub-terrains."""
    horizontal_scale: float = 0.1
    """Distance between height samples."""
    vertical_scale: float = 0.005
    """Height unit of the samples."""
    platform: float = 2.0
    """Edge of the flat platform at the centre of a pyramid sub-terrain."""
    proportions: tuple[float, ...] = (0.25, 0.25, 0.25, 0.25, 0.0)
    """Shares of smooth slopes, rough terrain, stairs down + up, (unused) obstacles."""
    seed: int = 0
    """Seed of the roughness draws."""

    @property
    def cells(self) -> int:
        """Samples along a sub-terrain's edge."""
        return int(self.size / self.horizontal_scale)

    @property
    def border_cells(self) -> int:
        return int(self.border / self.horizontal_scale)


@dataclasses.dataclass(frozen=True)
class Terrain:
    """One generated terrain."""

    spec: TerrainSpec
    """What it was generated from."""
    heights: np.ndarray
    """[nx, ny] float32 heights (m) of the samples, x-major."""
    origins: np.ndarray
    """[num_rows * num_cols, 3] start points: each sub-terrain's centre, at the highest sample of its
    central 1 m square (row-major: index i * num_cols + j)."""


def _sloped(spec: TerrainSpec, raw: np.ndarray, slope: float) -> None:
    """Pyramid slope up (slope > 0) or down to a central platform, a 0.2 m flat edge around it."""
    n = spec.cells
    edge = int(0.2 / spec.horizontal_scale)
    centre = n // 2
    ramp = (centre - np.abs(centre - np.arange(edge, n - edge))) / centre
    top = int(slope * (spec.horizontal_scale / spec.vertical_scale) * ((n - 2 * edge) / 2))
    raw[edge:n - edge, edge:n - edge] += (top * ramp[:, None] * ramp[None, :]).astype(np.int16)
    corner = centre - int(spec.platform / spec.horizontal_scale / 2)
    low, high = min(raw[corner, corner], 0), max(raw[corner, corner], 0)
    np.clip(raw, low, high, out=raw)


def _rough(spec: TerrainSpec, raw: np.ndarray, rng: np.random.Generator) -> None:
    """Uniform roughness in +-0.05 m on 5 mm steps, drawn every 0.2 m and interpolated bilinearly."""
    n = spec.cells
    edge = int(0.2 / spec.horizontal_scale)
    lo, hi, step = (int(v / spec.vertical_scale) for v in (-0.05, 0.05, 0.005))
    coarse_n = int((n - 2 * edge) * spec.horizontal_scale / 0.2)
    coarse = rng.choice(np.arange(lo, hi + step, step), (coarse_n, coarse_n)).astype(np.float64)
    coarse_at = np.linspace(0.0, 1.0, coarse_n)
    fine_at = np.linspace(0.0, 1.0, n - 2 * edge)
    along_x = np.stack([np.interp(fine_at, coarse_at, coarse[:, k]) for k in range(coarse_n)], axis=1)
    fine = np.stack([np.interp(fine_at, coarse_at, row) for row in along_x])
    raw[edge:n - edge, edge:n - edge] += np.rint(fine).astype(np.int16)


def _stairs(spec: TerrainSpec, raw: np.ndarray, step_height: float) -> None:
    """Square rings 0.4 m wide, each step_height above the one outside it, to the central platform."""
    width = int(0.4 / spec.horizontal_scale)
    rise = int(step_height / spec.vertical_scale)
    platform = int(spec.platform / spec.horizontal_scale)
    start, stop, height = 0, spec.cells, 0
    while stop - start > platform:
        raw[start:stop, start:stop] = height
        start, stop, height = start + width, stop - width, height + rise


def _sub_terrain(spec: TerrainSpec, choice: float, difficulty: float, rng: np.random.Generator) -> np.ndarray:
    """[cells, cells] int16 samples of one sub-terrain (the authors' choice thresholds)."""
    raw = np.zeros((spec.cells, spec.cells), dtype=np.int16)
    bounds = np.cumsum(spec.proportions)
    if choice < bounds[0]:
        _sloped(spec, raw, 0.4 * difficulty * (-1.0 if choice < bounds[0] / 2 else 1.0))
    elif choice < bounds[1]:
        _rough(spec, raw, rng)
    elif choice < bounds[3]:
        _stairs(spec, raw, (0.05 + 0.15 * difficulty) * (-1.0 if choice < bounds[2] else 1.0))
    else:
        raise ValueError(f"terrain choice {choice} falls on a sub-terrain type this generator lacks")
    return raw


@functools.cache
def generate(spec: TerrainSpec = TerrainSpec()) -> Terrain:
    """The terrain of ``spec`` (cached: generated once per process)."""
    n, b = spec.cells, spec.border_cells
    raw = np.zeros((spec.num_rows * n + 2 * b, spec.num_cols * n + 2 * b), dtype=np.int16)
    origins = np.zeros((spec.num_rows * spec.num_cols, 3))
    rng = np.random.default_rng(spec.seed)
    lo = int((spec.size / 2 - 0.5) / spec.horizontal_scale)
    hi = int((spec.size / 2 + 0.5) / spec.horizontal_scale)
    for j in range(spec.num_cols):
        for i in range(spec.num_rows):
            sub = _sub_terrain(spec, j / spec.num_cols + 0.001, i / spec.num_rows, rng)
            raw[b + i * n:b + (i + 1) * n, b + j * n:b + (j + 1) * n] = sub
            origins[i * spec.num_cols + j] = ((i + 0.5) * spec.size, (j + 0.5) * spec.size,
                                              sub[lo:hi, lo:hi].max() * spec.vertical_scale)
    return Terrain(spec, (raw * spec.vertical_scale).astype(np.float32), origins)


def add_to(spec: mujoco.MjSpec, terrain: Terrain, name: str = "terrain") -> mujoco.MjsGeom:
    """Adds the terrain as heightfield geom ``name`` with a grey grid material: MuJoCo's hfield
    triangulates the samples, sample (i, j) at the world point given in the module docstring."""
    h = terrain.heights.astype(np.float64)
    nx, ny = h.shape
    low, high = float(h.min()), float(h.max())
    span = max(high - low, 1e-3)
    half_x = 0.5 * (nx - 1) * terrain.spec.horizontal_scale
    half_y = 0.5 * (ny - 1) * terrain.spec.horizontal_scale
    # MuJoCo's hfield rows run along y, columns along x; it rescales the data to [0, 1].
    spec.add_hfield(name=name, size=[half_x, half_y, span, 1.0], nrow=ny, ncol=nx,
                    userdata=((h - low) / span).T.reshape(-1).tolist())
    spec.add_texture(name=name, type=mujoco.mjtTexture.mjTEXTURE_2D, builtin=mujoco.mjtBuiltin.mjBUILTIN_CHECKER,
                     rgb1=[0.5, 0.52, 0.55], rgb2=[0.68, 0.7, 0.72], width=512, height=512)
    material = spec.add_material(name=name, texrepeat=[1.0, 1.0], texuniform=True)
    material.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = name
    return spec.worldbody.add_geom(
        name=name, type=mujoco.mjtGeom.mjGEOM_HFIELD, hfieldname=name, material=name, contype=1, conaffinity=1,
        pos=[half_x - terrain.spec.border, half_y - terrain.spec.border, low])


@wp.func
def sample_height(
    x: float,
    y: float,
    border: float,
    horizontal_scale: float,
    # In:
    heights_in: wp.array2d(dtype=float),
) -> float:
    """The authors' terrain reading at (x, y): the lowest of the sample at or below (x, y) and its
    +x and +y neighbours, indices clamped to the grid."""
    i = wp.clamp(int((x + border) / horizontal_scale), 0, heights_in.shape[0] - 2)
    j = wp.clamp(int((y + border) / horizontal_scale), 0, heights_in.shape[1] - 2)
    return wp.min(heights_in[i, j], wp.min(heights_in[i + 1, j], heights_in[i, j + 1]))


def np_sample_height(x: float, y: float, terrain: Terrain) -> float:
    """NumPy twin of :func:`sample_height` (float32 arithmetic, as the kernel's)."""
    spec, h = terrain.spec, terrain.heights
    f = np.float32
    i = int(np.clip(int((f(x) + f(spec.border)) / f(spec.horizontal_scale)), 0, h.shape[0] - 2))
    j = int(np.clip(int((f(y) + f(spec.border)) / f(spec.horizontal_scale)), 0, h.shape[1] - 2))
    return float(min(h[i, j], h[i + 1, j], h[i, j + 1]))
