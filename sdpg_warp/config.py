"""Training configuration: one frozen dataclass (its field docstrings are the CLI's --help) and
per-task defaults from the authors' public configs (docs/DESIGN.md section 4.5)."""

import dataclasses
import json
import math
from typing import Literal, Optional, Tuple

from sdpg_warp.tasks import task_names

MIN_IMAGE_SIZE = 16
"""Smallest image the DrQ-v2 encoder takes (a 3x3 stride-2 conv, then three 3x3 convs)."""


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """SDPG training run."""

    task: str = "hopper"
    """Registered task: hopper, walker, ant, humanoid, or the small reacher and pointmass."""
    obs: Literal["state", "rgb", "depth"] = "rgb"
    """What the actor sees: the privileged state, or rendered RGB / depth images of the nominal worlds."""
    num_nominal: int = 64
    """N: nominal worlds, rendered and seen by the actor."""
    num_aux: int = 63
    """M: auxiliary (perturbed, state-only) worlds per nominal world."""
    horizon: int = 32
    """H: environment steps per epoch (short-horizon rollout)."""
    epochs: int = 2000
    """Number of epochs (rollout + update) to train for; the task's default depends on ``obs``
    (``TASK_EPOCHS``). The learning-rate schedules span this many epochs."""
    device: str = "auto"
    """Device for simulation and networks: "auto" (cuda:0 if present, else cpu), "cpu" or "cuda:N"."""
    seed: int = 0
    """Seed for simulation resets, perturbations and network initialization."""
    log_dir: str = "runs"
    """Directory under which each run gets its own folder (TensorBoard events, checkpoints, config.json)."""
    run_name: Optional[str] = None
    """Run folder name; default ``{task}__{obs}__{seed}__{time}``."""
    resume: Optional[str] = None
    """Run folder or checkpoint file to continue from (training continues in that run folder)."""
    checkpoint_every: int = 100
    """Write a checkpoint every this many epochs (and at the end)."""
    log_every: int = 1
    """Print progress and write TensorBoard scalars every this many epochs."""
    graph: bool = True
    """Replay the simulator's step and episode resets as captured Warp graphs (same numbers as eager)."""
    sync_timing: Optional[bool] = None
    """Synchronize the device at the end of every timed phase, so per-phase times are exact.
    None: on for the CPU, off on CUDA (where it would stop the host from queueing ahead of the GPU;
    phases then time only their launches). May change on resume."""
    deterministic: bool = False
    """Bitwise-reproducible runs on CUDA: mujoco_warp's deterministic contacts, constraint rows and
    reductions, and Torch's deterministic algorithms (cuDNN autotuning off). Costs speed on CUDA;
    the CPU is deterministic already."""
    tf32: bool = True
    """CUDA: TF32 matmuls and convolutions (Ampere and newer). No effect on the CPU."""
    cudnn_benchmark: bool = True
    """CUDA: let cuDNN autotune convolution algorithms for the fixed image shapes (off with
    ``deterministic``). No effect on the CPU."""
    fused_adam: bool = True
    """CUDA: Torch's fused Adam kernels for actor and critic. No effect on the CPU."""
    channels_last: bool = True
    """CUDA: channels-last memory layout for the image encoder (faster cuDNN convolutions). No
    effect on the CPU."""

    # Observation
    image_size: int = 84
    """Rendered image width and height in pixels."""
    frames: int = 3
    """Stacked frames in the actor's observation."""

    # Returns
    gamma: float = 0.99
    """Discount factor."""
    lam: float = 0.95
    """TD(lambda) trace parameter of the return-to-go and critic targets."""

    # Actor
    actor_lr: float = 2e-3
    """Actor peak learning rate (Adam)."""
    actor_lr_min: float = 1e-5
    """Actor learning rate at the end of the cosine schedule."""
    actor_warmup_epochs: int = 100
    """Epochs of linear warm-up from 0 to ``actor_lr`` before the cosine decay."""
    actor_hidden: Tuple[int, ...] = (128, 64, 32)
    """Hidden layer widths of the actor's MLP head (Linear -> ELU -> LayerNorm per hidden layer)."""
    encoder_dim: int = 128
    """Output width of the image encoder (Linear -> LayerNorm -> Tanh)."""
    encoder_lr_scale: float = 1.0
    """The image encoder's learning rate as a fraction of the actor's (see ``sdpg._actor_param_groups``)."""
    init_logstd: float = 0.0
    """Initial value of the state-independent log standard deviation."""
    mean_bound: float = 2.0
    """Pre-tanh action means and perturbed actions are clamped to [-mean_bound, mean_bound]."""
    logstd_min: float = -5.0
    """Lower bound of the log standard deviation."""
    logstd_max: float = 2.0
    """Upper bound of the log standard deviation."""
    actor_chunk: Optional[int] = None
    """Observations per forward/backward pass of the actor update; gradients accumulate to the
    whole batch's, so the step is the same and activation memory is bounded by one chunk.
    None: 256 on the CPU, 1024 on CUDA."""
    top_k: Optional[int] = None
    """Average the estimate over only the k best perturbations of each group (None: all M+1)."""

    # Entropy
    alpha: float = 1e-2
    """Initial entropy temperature (weight of the log-std bonus in the actor loss); 0 disables it."""
    auto_alpha: bool = True
    """Tune the temperature so that the mean policy std tracks ``target_std``."""
    target_std: float = 0.15
    """Target policy std of the temperature auto-tuning (and the soft critic's reference)."""
    alpha_lr: float = 1e-3
    """Learning rate of the log-temperature."""
    soft_critic: bool = False
    """Add the entropy bonus alpha*mean(logstd - log target_std) to the critic's rewards."""

    # Critic
    critic_lr: float = 2e-4
    """Critic learning rate (Adam)."""
    critic_lr_schedule: Literal["constant", "linear"] = "constant"
    """Critic learning-rate schedule over the run: constant, or linear decay to 0.1x ``critic_lr``."""
    critic_hidden: Tuple[int, ...] = (64, 64)
    """Hidden layer widths of the critic's MLP (Linear -> ELU -> LayerNorm per hidden layer)."""
    critic_minibatch: int = 4096
    """Critic minibatch size (samples drawn from all N*(M+1)*H states)."""
    critic_iterations: int = 2
    """Passes over the epoch's states per critic update."""
    tau: float = 0.01
    """Target network update: p_target = tau * p_target + (1 - tau) * p."""

    grad_clip: float = 1.0
    """Gradient-norm clip for actor and critic."""

    # Run length and CPU use
    schedule_epochs: Optional[int] = None
    """Length in epochs of the learning-rate schedules (actor cosine, critic linear); None: ``epochs``
    when the run starts. Saved resolved in config.json and kept on ``--resume``, so a resumed run
    with a larger ``--epochs`` continues at the final rates instead of restarting the curve."""
    threads: int = 1
    """Torch CPU threads (``torch.set_num_threads``); 0 keeps Torch's default (one per core). One
    thread is fastest for the small CPU tasks, and it does not slow to a crawl when another process
    holds a core."""

    def actor_chunk_on(self, device: str) -> int:
        """``actor_chunk``, or its device default when None."""
        if self.actor_chunk is not None:
            return self.actor_chunk
        return 1024 if device.startswith("cuda") else 256

    def sync_timing_on(self, device: str) -> bool:
        """``sync_timing``, or its device default when None."""
        return self.sync_timing if self.sync_timing is not None else not device.startswith("cuda")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2)

    @staticmethod
    def from_dict(fields: dict) -> "TrainConfig":
        """The config of ``dataclasses.asdict`` output or its JSON (lists become tuples)."""
        fields = dict(fields)
        for name in ("actor_hidden", "critic_hidden"):
            fields[name] = tuple(fields[name])
        return TrainConfig(**fields)

    @staticmethod
    def from_json(text: str) -> "TrainConfig":
        return TrainConfig.from_dict(json.loads(text))

    def actor_obs_shape(self, state_dim: int) -> tuple:
        """The actor's observation shape: (state_dim,), or the frame stack (3*frames or frames,
        image_size, image_size) for rgb or depth."""
        if self.obs == "state":
            return (state_dim,)
        channels = 3 * self.frames if self.obs == "rgb" else self.frames
        return (channels, self.image_size, self.image_size)

    def validate(self) -> None:
        """Raises ValueError with a one-line message on an invalid setting."""
        if self.task not in task_names():
            raise ValueError(f"unknown task {self.task!r}; choose one of {', '.join(task_names())}")
        for name in ("num_nominal", "num_aux", "horizon", "epochs", "image_size", "frames",
                     "critic_minibatch", "critic_iterations", "checkpoint_every", "log_every", "actor_chunk"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if not 0.0 < self.gamma <= 1.0:
            raise ValueError(f"gamma must be in (0, 1], got {self.gamma}")
        if not 0.0 <= self.lam < 1.0:
            raise ValueError(f"lam must be in [0, 1), got {self.lam}")
        if self.logstd_min >= self.logstd_max:
            raise ValueError(f"logstd-min ({self.logstd_min}) must be below logstd-max ({self.logstd_max})")
        if not self.logstd_min <= self.init_logstd <= self.logstd_max:
            raise ValueError(f"init-logstd {self.init_logstd} outside [{self.logstd_min}, {self.logstd_max}]")
        if self.top_k is not None and not 1 <= self.top_k <= self.num_aux + 1:
            raise ValueError(f"top-k must be in [1, num-aux + 1 = {self.num_aux + 1}], got {self.top_k}")
        if not 0.0 <= self.tau <= 1.0:
            raise ValueError(f"tau must be in [0, 1], got {self.tau}")
        if self.device != "auto" and not (self.device == "cpu" or self.device.startswith("cuda")):
            raise ValueError(f"device must be auto, cpu or cuda[:N], got {self.device!r}")
        if self.obs != "state" and self.image_size < MIN_IMAGE_SIZE:
            raise ValueError(f"image-size must be >= {MIN_IMAGE_SIZE} for {self.obs} observations "
                             f"(the image encoder's input), got {self.image_size}")
        for name in ("actor_lr", "critic_lr", "alpha_lr", "grad_clip", "target_std", "mean_bound"):
            if not math.isfinite(getattr(self, name)) or getattr(self, name) <= 0.0:
                raise ValueError(f"{name.replace('_', '-')} must be finite and > 0, got {getattr(self, name)}")
        for name in ("actor_lr_min", "encoder_lr_scale", "alpha"):
            if not math.isfinite(getattr(self, name)) or getattr(self, name) < 0.0:
                raise ValueError(f"{name.replace('_', '-')} must be finite and >= 0, got {getattr(self, name)}")
        if self.actor_lr_min > self.actor_lr:
            raise ValueError(f"actor-lr-min ({self.actor_lr_min}) must not exceed actor-lr ({self.actor_lr})")
        for name in ("actor_hidden", "critic_hidden"):
            if any(width < 1 for width in getattr(self, name)):
                raise ValueError(f"{name.replace('_', '-')} widths must be >= 1, got {getattr(self, name)}")
        if self.encoder_dim < 1:
            raise ValueError(f"encoder-dim must be >= 1, got {self.encoder_dim}")
        if self.actor_warmup_epochs < 0:
            raise ValueError(f"actor-warmup-epochs must be >= 0, got {self.actor_warmup_epochs}")
        if self.schedule_epochs is not None and self.schedule_epochs < 1:
            raise ValueError(f"schedule-epochs must be >= 1, got {self.schedule_epochs}")
        if self.threads < 0:
            raise ValueError(f"threads must be >= 0 (0: Torch's default), got {self.threads}")
        for name in ("gamma", "lam", "tau", "init_logstd", "logstd_min", "logstd_max"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name.replace('_', '-')} must be finite, got {getattr(self, name)}")


# Per-task defaults (docs/DESIGN.md section 4.5; authors' public configs). The point mass is ours: small and fast.
TASK_DEFAULTS: dict[str, dict] = {
    "hopper": dict(horizon=32, critic_lr=2e-4, tau=0.01, actor_hidden=(128, 64, 32),
                   critic_hidden=(64, 64), encoder_dim=128, auto_alpha=True, target_std=0.15),
    "walker": dict(horizon=32, critic_lr=2e-4, tau=0.01, actor_hidden=(128, 64, 32),
                   critic_hidden=(64, 64), encoder_dim=128, auto_alpha=True, target_std=0.15),
    "ant": dict(horizon=32, critic_lr=2e-3, critic_lr_schedule="linear", tau=0.2,
                actor_hidden=(256, 64, 32), critic_hidden=(64, 64), encoder_dim=256, alpha=0.0,
                auto_alpha=False),
    "humanoid": dict(horizon=16, critic_lr=5e-4, critic_lr_schedule="linear", tau=0.2,
                     actor_hidden=(256, 128), critic_hidden=(128, 128), encoder_dim=256,
                     alpha=1e-2, auto_alpha=False, logstd_min=-2.2, logstd_max=0.0),
    "reacher": dict(num_nominal=8, num_aux=15, horizon=16, epochs=300, image_size=32,
                    actor_hidden=(64, 64), critic_hidden=(64, 64), encoder_dim=64,
                    critic_lr=1e-3, critic_minibatch=1024, actor_warmup_epochs=5, tau=0.2,
                    alpha=0.0, auto_alpha=False, init_logstd=-0.5, checkpoint_every=100),
    "pointmass": dict(num_nominal=8, num_aux=15, horizon=16, epochs=300, image_size=32,
                      actor_hidden=(64, 64), critic_hidden=(64, 64), encoder_dim=64,
                      critic_lr=1e-3, critic_minibatch=1024, actor_warmup_epochs=5, tau=0.2,
                      alpha=0.0, auto_alpha=False, init_logstd=-0.5, checkpoint_every=100),
}


# Run lengths of the authors' configs (max_epochs): (privileged state, pixels).
TASK_EPOCHS: dict[str, tuple[int, int]] = {
    "hopper": (10000, 20000),
    "walker": (20000, 20000),
    "ant": (10000, 20000),
    "humanoid": (100000, 200000),
}


def task_defaults(task: str, obs: Optional[str] = None) -> TrainConfig:
    """The default config of ``task`` (base defaults overridden by the task's entry) for ``obs``
    (default: the config's default observation), whose kind sets the default run length."""
    if task not in task_names():
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(task_names())}")
    cfg = dataclasses.replace(TrainConfig(task=task), **TASK_DEFAULTS.get(task, {}))
    if obs is not None:
        cfg = dataclasses.replace(cfg, obs=obs)
    if task in TASK_EPOCHS:
        cfg = dataclasses.replace(cfg, epochs=TASK_EPOCHS[task][cfg.obs != "state"])
    return cfg
