"""Episode statistics of the nominal worlds (on the device) and the per-epoch console and
log-writer logging (host reads happen here only, once per logged epoch)."""

from typing import Callable, Dict, List, Optional, Sequence

import torch


class EpisodeStatistics:
    """Returns and lengths of the nominal worlds' episodes, the sums of their reward terms and the
    task metrics of their finished episodes, accumulated on the device with no host
    synchronization per step.

    ``track`` every environment step; ``pop`` (a host read) at logging time.
    """

    def __init__(self, num_nominal: int, reward_terms: Sequence[str], device, metric_names: Sequence[str] = ()):
        self.reward_terms = tuple(reward_terms)
        self.metric_names = tuple(metric_names)
        self.episode_return = torch.zeros(num_nominal, device=device)
        self.episode_length = torch.zeros(num_nominal, device=device)
        self._finished = torch.zeros(3, device=device)  # return sum, length sum, count
        self._term_sums = torch.zeros(len(self.reward_terms), device=device)
        self._metric_sums = torch.zeros(len(self.metric_names), device=device)  # over finished episodes
        self._steps = torch.zeros((), device=device)
        self.last_return: Optional[float] = None
        """Mean return of the episodes that finished last (the console repeats it between finishes)."""

    def track(self, reward: torch.Tensor, done: torch.Tensor, terms: torch.Tensor,
              metrics: Optional[torch.Tensor] = None) -> None:
        """One step of the nominal worlds: reward [N], episode ended [N] bool, reward terms [N, T],
        task metrics [N, len(metric_names)] as of this step (``BatchedSim.metrics``; read where
        ``done``, so before the episode resets)."""
        self.episode_return += reward
        self.episode_length += 1.0
        self._term_sums += terms.sum(0)
        self._steps += reward.shape[0]
        self._finished[0] += torch.where(done, self.episode_return, 0.0).sum()
        self._finished[1] += torch.where(done, self.episode_length, 0.0).sum()
        self._finished[2] += done.sum()
        if self.metric_names:
            self._metric_sums += torch.where(done[:, None], metrics, 0.0).sum(0)
        self.episode_return.masked_fill_(done, 0.0)
        self.episode_length.masked_fill_(done, 0.0)

    def pop(self, sum_over_ranks: Optional[Callable[[List[torch.Tensor]], None]] = None) -> Dict[str, float]:
        """Scalars since the last pop: ``rewards/<term>`` (mean per nominal step) and, where episodes
        finished, ``charts/episode_return``, ``charts/episode_length`` and ``task/<metric>`` (means
        over the finished episodes); then resets the sums.
        ``sum_over_ranks`` (``DataParallel.sum_``) first sums the accumulators over the ranks in place,
        so the scalars are those of every rank's episodes."""
        if sum_over_ranks is not None:
            sum_over_ranks([self._finished, self._term_sums, self._metric_sums, self._steps])
        finished = self._finished.tolist()
        steps = max(float(self._steps), 1.0)
        scalars = {f"rewards/{name}": total / steps for name, total in zip(self.reward_terms, self._term_sums.tolist())}
        if finished[2] > 0:
            scalars["charts/episode_return"] = finished[0] / finished[2]
            scalars["charts/episode_length"] = finished[1] / finished[2]
            self.last_return = scalars["charts/episode_return"]
            for name, total in zip(self.metric_names, self._metric_sums.tolist()):
                scalars[f"task/{name}"] = total / finished[2]
        self._finished.zero_()
        self._term_sums.zero_()
        self._metric_sums.zero_()
        self._steps.zero_()
        return scalars

    def state_dict(self) -> dict:
        return {"return": self.episode_return.cpu().clone(), "length": self.episode_length.cpu().clone(),
                "last_return": self.last_return}

    def load_state_dict(self, state: dict) -> None:
        self.episode_return.copy_(state["return"])
        self.episode_length.copy_(state["length"])
        self.last_return = state.get("last_return")


class Logger:
    """Turns an epoch's metrics into scalars: the ``writer`` (a ``sdpg_warp.log_writers.LogWriter``
    or None; CleanRL's ``losses/``, ``charts/``, ``rewards/``, ``perf/`` namespaces, and ``task/``
    for the task metrics), one console line (``console``: "full" or "compact", at most
    :data:`COMPACT_COLUMNS` wide), and the in-memory ``history``.

    The writers' step is the epoch; every step also carries the x axes ``charts/env_steps`` (all
    ranks' environment steps so far) and ``perf/wall_minutes`` (training time so far, resumes
    included), so any scalar can be drawn against either."""

    def __init__(self, writer=None, console: str = "full"):
        self.writer = writer
        self.console = console
        self.history: list[Dict[str, float]] = []

    def log(self, epoch: int, epochs: int, metrics: Dict[str, torch.Tensor], episodes: Dict[str, float],
            last_return: Optional[float], phases: Dict[str, float], seconds: float, env_steps: int,
            elapsed: Optional[float] = None, eta: Optional[float] = None) -> Dict[str, float]:
        """Writes one epoch's scalars and returns them (``epoch`` included). ``env_steps``: the
        environment steps of one epoch; ``elapsed``: training seconds so far (None: this epoch's);
        ``eta``: seconds to the last epoch (None: unknown)."""
        elapsed = seconds if elapsed is None else elapsed
        scalars = {name: float(value) for name, value in metrics.items()}
        scalars.update(episodes)
        scalars["charts/env_steps"] = float(epoch * env_steps)
        scalars["perf/wall_minutes"] = elapsed / 60.0
        scalars["perf/epoch_seconds"] = seconds
        scalars["perf/env_steps_per_s"] = env_steps / seconds
        for name, total in phases.items():
            scalars[f"perf/{name}_seconds"] = total
        if self.writer is not None:
            for name, value in scalars.items():
                self.writer.add_scalar(name, value, epoch)
            if hasattr(self.writer, "flush"):
                self.writer.flush()
        scalars["epoch"] = epoch
        self.history.append(scalars)
        line = (compact_line if self.console == "compact" else full_line)(epoch, epochs, scalars, last_return, phases,
                                                                         elapsed, eta)
        print(line, flush=True)
        return scalars


def full_line(epoch, epochs, scalars, last_return, phases, elapsed, eta) -> str:
    """The full console line of a logged epoch."""
    ret_text = f"return {last_return:9.2f}" if last_return is not None else "return       n/a"
    phase_text = " ".join(f"{k} {v:.2f}s" for k, v in phases.items())
    shown = "".join(f" | {label} {scalars[name]:{spec}}" for name, label, spec in CONSOLE_SCALARS if name in scalars)
    task = " ".join(f"{name[len('task/'):]} {value:.3g}" for name, value in scalars.items() if name.startswith("task/"))
    shown += f" | {task}" if task else ""
    return (f"epoch {epoch:5d}/{epochs} | {ret_text}{shown} | {_count(scalars['charts/env_steps'])} env steps | "
            f"{scalars['perf/env_steps_per_s']:8.0f} steps/s | {_clock(elapsed)} elapsed, ETA {_clock(eta)} | {phase_text}")


COMPACT_COLUMNS = 100
"""Width limit of the compact console line."""


def compact_line(epoch, epochs, scalars, last_return, phases, elapsed, eta) -> str:
    """The compact console line: epoch, return, env steps, speed, elapsed time, ETA and, as room
    allows, the first task metric; at most :data:`COMPACT_COLUMNS` characters."""
    ret_text = f"{last_return:9.2f}" if last_return is not None else "      n/a"
    line = (f"ep {epoch}/{epochs} | ret {ret_text} | {_count(scalars['charts/env_steps'])} st | "
            f"{_count(scalars['perf/env_steps_per_s'])}/s | {_clock(elapsed)} eta {_clock(eta)}")
    task = next(((name[len("task/"):], value) for name, value in scalars.items() if name.startswith("task/")), None)
    if task:
        line += f" | {task[0]} {task[1]:.3g}"
    return line[:COMPACT_COLUMNS]


def _count(n: float) -> str:
    """1234567 -> '1.23M'."""
    for scale, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= scale:
            return f"{n / scale:.3g}{suffix}"
    return f"{n:.0f}"


def _clock(seconds: Optional[float]) -> str:
    """Seconds as h:mm:ss ('-:--:--' when unknown)."""
    if seconds is None:
        return "-:--:--"
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


CONSOLE_SCALARS = (
    ("charts/step_reward", "step reward", "7.3f"),
    ("charts/policy_std", "std", ".3f"),
    ("losses/imitation", "imitation", ".4f"),
    ("perf/solver_niter_max", "solver iters max", ".0f"),
)
"""(metric, label, format) of the console line, each shown when the algorithm reports it."""
