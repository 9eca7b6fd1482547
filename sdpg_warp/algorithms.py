"""The registry of learning algorithms: ``cfg.algo`` names one of ``ALGORITHMS``, whose entry says
all that differs between algorithms outside their modules: the class (the Runner reaches the
algorithm only through it, :class:`~sdpg_warp.algorithm.Algorithm`), the config sections that are
the algorithm's own, how its worlds are counted, and its extra input checks. Light: naming and
checking algorithms imports neither Torch nor Warp. docs/DESIGN.md "Extension points" lists the
files a new algorithm touches."""

import dataclasses
import importlib
from typing import Callable, Dict, Optional, Tuple, Type, Union

from sdpg_warp.config import DistillConfig, EnvsConfig, PPOConfig, SDPGConfig, TrainConfig


@dataclasses.dataclass(frozen=True)
class AlgorithmEntry:
    """What the CLI, the config and the Runner need to know of one algorithm."""

    cls: Union[str, type]
    """``"module:Class"`` of its :class:`~sdpg_warp.algorithm.Algorithm` subclass (imported on first
    use, so that naming the algorithms costs no import of Torch or Warp), or the class itself."""
    sections: Tuple[type, ...] = (EnvsConfig,)
    """Its own config sections (``sdpg_warp/config.py``): their flags are refused for any algorithm
    that does not list them too."""
    worlds: Tuple[Tuple[str, str], ...] = (("envs", "num_envs"),)
    """(label, field) of its world counts: the nominal worlds, then the auxiliaries per nominal
    world if it has any (``TrainConfig.world_layout``)."""
    in_run_name: bool = True
    """The default run folder name carries the algorithm's name (``{algo}__``)."""
    teacher: bool = False
    """Learns from ``--teacher``, a trained run checked before anything is built."""
    check: Optional[Callable[[TrainConfig], None]] = None
    """Its own input checks (``TrainConfig.validate`` calls it); raises ValueError in one line."""


def _check_ppo(cfg: TrainConfig) -> None:
    if cfg.num_envs * cfg.horizon < cfg.ppo_minibatches:
        raise ValueError(f"ppo-minibatches ({cfg.ppo_minibatches}) exceeds the rollout's "
                         f"num-envs * horizon = {cfg.num_envs * cfg.horizon} samples")


def _check_distill(cfg: TrainConfig) -> None:
    if cfg.teacher is None:
        raise ValueError("--algo distill needs --teacher RUN_DIR (a state-observation run of the same task)")
    if cfg.obs == "state":
        raise ValueError("--algo distill trains a pixel student: use --obs rgb or depth")
    if cfg.distill_buffer < cfg.num_envs * cfg.horizon:
        raise ValueError(f"distill-buffer ({cfg.distill_buffer}) must hold one epoch's "
                         f"num-envs * horizon = {cfg.num_envs * cfg.horizon} samples")


ALGORITHMS: Dict[str, AlgorithmEntry] = {
    "sdpg": AlgorithmEntry("sdpg_warp.sdpg:SDPG", sections=(SDPGConfig,),
                           worlds=(("N", "num_nominal"), ("M", "num_aux")), in_run_name=False),
    "ppo": AlgorithmEntry("sdpg_warp.ppo:PPO", sections=(EnvsConfig, PPOConfig), check=_check_ppo),
    "distill": AlgorithmEntry("sdpg_warp.distill:Distill", sections=(EnvsConfig, DistillConfig), teacher=True,
                              check=_check_distill),
}
"""``--algo`` name -> its entry."""


def algorithm_entry(name: str) -> AlgorithmEntry:
    """The entry registered as ``name``; ValueError names the registered ones."""
    try:
        return ALGORITHMS[name]
    except KeyError:
        raise ValueError(f"unknown algo {name!r}; choose one of {', '.join(ALGORITHMS)}") from None


def algorithm_class(name: str) -> Type:
    """The :class:`~sdpg_warp.algorithm.Algorithm` subclass registered as ``name``."""
    entry = algorithm_entry(name).cls
    if isinstance(entry, str):
        module, _, attr = entry.partition(":")
        entry = getattr(importlib.import_module(module), attr)
    return entry


def _section_fields(sections) -> set:
    return {field.name for section in sections for field in dataclasses.fields(section)}


def foreign_fields(algo: str, names) -> list:
    """The field names among ``names`` that belong to other algorithms' sections only (sorted)."""
    own = _section_fields(algorithm_entry(algo).sections)
    other = _section_fields(section for entry in ALGORITHMS.values() for section in entry.sections) - own
    return sorted(set(names) & other)
