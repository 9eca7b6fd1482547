"""Training configuration: frozen dataclasses, one per section of settings (their field docstrings
are the CLI's --help), joined flat in :class:`TrainConfig`; ``task_defaults`` resolves a task's
defaults (``sdpg_warp/tasks/defaults.py``; docs/DESIGN.md section 4.5).

A section holds the settings of every algorithm (run, env, network) or of one algorithm (sdpg,
ppo, distill; the baselines share envs); ``sdpg_warp/algorithms.py`` says which sections belong to
which algorithm."""

import dataclasses
import json
import math
import os
from typing import Literal, Optional, Tuple

from sdpg_warp.tasks import task_info, task_names

MIN_IMAGE_SIZE = 16
"""Smallest image the DrQ-v2 encoder takes (a 3x3 stride-2 conv, then three 3x3 convs)."""
MAX_SEED = 2**31 - 1
"""Largest seed: the reset kernels take it as a 32-bit int, and Warp wraps larger values silently
(two seeds would give the same resets)."""


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Run settings of every algorithm: which one learns, for how long, on which device, where the
    run folder, its checkpoints and logs go."""

    algo: Literal["sdpg", "ppo", "distill"] = "sdpg"
    """Learning algorithm: SDPG; or the baselines PPO (every world rendered) and distill (a pixel
    student imitating a state teacher with DAgger; needs ``teacher``). Flags of another algorithm
    are refused."""
    epochs: int = 2000
    """Number of epochs (rollout + update) to train for; the task's default depends on ``obs``
    (``sdpg_warp/tasks/defaults.py``). The learning-rate schedules span this many epochs."""
    schedule_epochs: Optional[int] = None
    """Length in epochs of the learning-rate schedules (actor cosine, critic linear); None: ``epochs``
    when the run starts. Saved resolved in config.json and kept on ``--resume``, so a resumed run
    with a larger ``--epochs`` continues at the final rates instead of restarting the curve."""
    device: str = "auto"
    """Device for simulation and networks: "auto" (cuda:0 if present, else cpu), "cpu" or "cuda:N"."""
    seed: int = 0
    """Seed for simulation resets, perturbations and network initialization, in [0, 2^31 - 1]. Under
    torchrun rank r simulates and perturbs with seed + r * 65536, and every rank starts from rank 0's
    networks."""
    log_dir: str = "runs"
    """Directory under which each run gets its own folder (TensorBoard events, checkpoints, config.json)."""
    run_name: Optional[str] = None
    """Run folder name (one path component, no ``/``); default ``{task}__{obs}__{seed}__{time}``, with
    ``{algo}__`` before the seed for ppo and distill."""
    resume: Optional[str] = None
    """Run folder or checkpoint file to continue from (training continues in that run folder)."""
    checkpoint_every: int = 100
    """Write a checkpoint every this many epochs, and after a new run's first epoch and at the end."""
    checkpoint_minutes: float = 30.0
    """Also write a checkpoint once this many minutes have passed since the last one (checked between
    epochs), so that a job killed without warning loses at most this much training plus an epoch;
    0: off. May change on resume."""
    max_minutes: float = 0.0
    """Wall-clock budget of the run: once it has trained this many minutes (resumes included; checked
    between epochs) it stops after the epoch in progress, with a checkpoint, and exits 0 (resuming it
    then trains no further epoch); 0: no budget. May change on resume."""
    log_every: int = 1
    """Print progress and write TensorBoard scalars every this many epochs."""
    logger: Tuple[str, ...] = ("tensorboard",)
    """Where the scalars go besides the console, one or more of: tensorboard (event files in the run
    folder), csv (metrics.csv in the run folder), wandb (Weights & Biases; pip install -e ".[wandb]";
    WANDB_MODE=offline works without a network), none (nothing). Changeable on resume."""
    # ---- Run monitoring: console line, checkpoints kept, videos (all changeable on resume) ----
    console: Literal["full", "compact"] = "full"
    """The per-epoch console line: full (every shown scalar and phase time) or compact (return, env
    steps, speed, elapsed time and ETA in at most 100 columns)."""
    keep_checkpoints: int = 0
    """Besides the latest checkpoint.pt, keep the newest this many as checkpoint_epochXXXXXX.pt (the
    oldest beyond them removed) and the one of the highest logged episode return as
    checkpoint_best.pt (among the saved ones); 0: the latest only."""
    video_every: int = 0
    """Every this many epochs, record an episode of nominal world 0 into videos/epoch_XXXXXX.mp4 in
    the run folder and hand it to the loggers (training is unchanged by it); 0: off."""
    video_steps: int = 500
    """Environment steps of each --video-every video (at most one episode length)."""
    graph: bool = True
    """Replay the simulator's step and episode resets as captured Warp graphs (same numbers as eager)."""
    sync_timing: Optional[bool] = None
    """Synchronize the device at the end of every timed phase, so per-phase times are exact.
    None: on for the CPU, off on CUDA (where it would stop the host from queueing ahead of the GPU;
    phases then time only their launches). May change on resume."""
    deterministic: bool = False
    """CUDA: every determinism feature of mujoco_warp (reproducible atomic reductions) and Torch's
    deterministic algorithms (cuDNN autotuning off); costs speed. Bitwise-reproducible runs only for
    worlds with at most one contact and one active joint limit: mujoco_warp 4.0 does not sort a
    world's contacts and constraint rows (docs/gpu.md, "Determinism"). The CPU is deterministic already."""

    # Domain randomization (docs/randomization.md)
    randomize: bool = False
    """Domain randomization per nominal group: the physics (friction, added mass, centre of mass,
    PD gains, motor offsets, ...) drawn once per group and episode and shared by the nominal and its
    auxiliaries, random pushes, and what the actor's images see (colours, lights, camera pose and
    field of view, depth noise; one draw per nominal episode). Default: on for the tasks with ranges
    (go2_terrain, the authors' ranges), off for the others, which take ranges from ``randomize_set`` only."""
    randomize_set: Tuple[str, ...] = ()
    """Randomization ranges over the task's: ``name=min,max`` (friction, added_mass, com_offset,
    kp_scale, kd_scale, motor_offset, damping_scale, armature_scale; rgba_scale, light_pos,
    light_diffuse_scale, camera_pos, camera_rot, camera_fovy, depth_noise), ``name=none`` to turn one off,
    ``push_interval_s=T``, ``push_velocity=V``, ``body=NAME``."""
    curriculum: bool = True
    """Terrain tasks (go2_terrain): the authors' terrain curriculum, one level per nominal group,
    moved by the distance its nominal walked; off, every reset draws a uniform sub-terrain. No
    effect on the other tasks."""

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
    threads: int = 1
    """Torch CPU threads (``torch.set_num_threads``); 0 keeps Torch's default (one per core). One
    thread is fastest for the small CPU tasks, and it does not slow to a crawl when another process
    holds a core."""
    collective_timeout: float = 600.0
    """Under torchrun: seconds a rank waits in a collective (gradient average, checkpoint gather, the
    first one also for every rank's build and Warp compile) before the job fails with an error
    naming the rank, instead of hanging. May change on resume."""


@dataclasses.dataclass(frozen=True)
class EnvConfig:
    """The task and what the actor sees of it (every algorithm)."""

    task: str = "hopper"
    """Registered task: hopper, walker, ant, humanoid, the small reacher and pointmass, or the
    ego-centric walker_hurdle, g1_hurdle, go2_terrain and franka_pick_cube (camera on the robot,
    proprioception + images), allegro_hand and shadow_hand (in-hand cube reorientation seen by a
    fixed camera) and aloha_insertion (two arms insert a peg into a socket; three cameras)."""
    obs: Literal["state", "rgb", "depth"] = "rgb"
    """What the actor sees: the privileged state, or rendered RGB / depth images of the nominal worlds."""
    horizon: int = 32
    """H: environment steps per epoch (short-horizon rollout)."""
    episode_length: Optional[int] = None
    """Environment steps after which an episode is truncated; None: the task's own
    (``sdpg_warp/tasks/registry.py``: 1000 for the locomotion tasks, 100 for reacher and pointmass)."""
    frame_skip: Optional[int] = None
    """Physics steps per environment step (the model's timestep is the physics dt); None: the
    task's own."""
    image_size: int = 84
    """Rendered image width and height in pixels."""
    frames: int = 3
    """Stacked frames in the actor's observation."""
    render_hw: Tuple[int, ...] = ()
    """(height, width) in pixels the camera renders; empty: ``image_size`` by ``image_size`` (which
    is not used when this is set)."""
    image_crop: Tuple[int, ...] = ()
    """Depth: (top, bottom, left, right) pixels cut off each rendered frame; empty: none."""
    image_hw: Tuple[int, ...] = ()
    """Depth: (height, width) of the actor's images, to which the cropped frame is resampled
    (bicubic, as Torch's ``interpolate``); empty: the cropped size, no resampling."""
    depth_far: Optional[float] = None
    """Depth: None keeps z-depth in metres (the encoder clips it at 10 m and centres it); a distance
    in metres: the renderer clips depth to [0, depth_far] and maps it to [-0.5, 0.5] before the
    resampling, the format of the authors' Go2 (its RealSense depth clipped to 2 m), and the encoder
    takes it as it is."""
    proprio_history: int = 1
    """Ego-centric tasks (rgb / depth): steps of proprioception the actor sees, oldest first and the
    current one last; the steps before a new episode's first read as zeros."""


@dataclasses.dataclass(frozen=True)
class NetworkConfig:
    """Returns, networks and the policy's distribution (every algorithm)."""

    gamma: float = 0.99
    """Discount factor."""
    lam: float = 0.95
    """TD(lambda) trace parameter of the return-to-go and critic targets."""
    actor_hidden: Tuple[int, ...] = (128, 64, 32)
    """Hidden layer widths of the actor's MLP head (Linear -> ELU -> LayerNorm per hidden layer)."""
    encoder_dim: int = 128
    """Output width of the image encoder (Linear -> LayerNorm -> Tanh)."""
    encoder: Literal["drqv2", "depth_small"] = "drqv2"
    """Image encoder: DrQ-v2's (four 3x3 convolutions of 32 channels), or depth_small, the authors' Go2
    depth encoder (conv 5x5, max-pool, conv 3x3, Linear 128, then ``encoder_dim``; depth only)."""
    camera_encoder_dims: Tuple[int, ...] = ()
    """Multi-camera tasks: output width of each camera's image encoder, in the task's camera order
    (each camera has its own encoder; the features are concatenated). Empty: ``encoder_dim`` each."""
    proprio_hidden: Tuple[int, ...] = (256,)
    """Ego-centric tasks (rgb / depth): hidden widths of the MLP on the normalized proprioception,
    whose output joins the image features (Linear -> ELU -> LayerNorm per width)."""
    init_logstd: float = 0.0
    """Initial value of the state-independent log standard deviation."""
    mean_bound: float = 2.0
    """Pre-tanh action means and perturbed actions are clamped to [-mean_bound, mean_bound]."""
    logstd_min: float = -5.0
    """Lower bound of the log standard deviation."""
    logstd_max: float = 2.0
    """Upper bound of the log standard deviation."""
    critic_hidden: Tuple[int, ...] = (64, 64)
    """Hidden layer widths of the critic's MLP (Linear -> ELU -> LayerNorm per hidden layer)."""
    grad_clip: float = 1.0
    """Gradient-norm clip for actor and critic."""


@dataclasses.dataclass(frozen=True)
class SDPGConfig:
    """SDPG (--algo sdpg): its worlds, actor and critic updates and entropy term (docs/DESIGN.md)."""

    num_nominal: int = 64
    """N: nominal worlds, rendered and seen by the actor; per rank under torchrun (K ranks learn
    from K*N nominal worlds)."""
    num_aux: int = 63
    """M: auxiliary (perturbed, state-only) worlds per nominal world."""
    actor_lr: float = 2e-3
    """Actor peak learning rate (Adam)."""
    actor_lr_min: float = 1e-5
    """Actor learning rate at the end of the cosine schedule."""
    actor_warmup_epochs: int = 100
    """Epochs of linear warm-up from 0 to ``actor_lr`` before the cosine decay."""
    encoder_lr_scale: float = 1.0
    """The image encoder's learning rate as a fraction of the actor's (see ``sdpg._actor_param_groups``)."""
    actor_chunk: Optional[int] = None
    """Observations per forward/backward pass of the actor update; gradients accumulate to the
    whole batch's, so the step is the same and activation memory is bounded by one chunk.
    None: 256 on the CPU, 1024 on CUDA."""
    top_k: Optional[int] = None
    """Average the estimate over only the k best perturbations of each group (None: all M+1)."""
    fixed_std: bool = False
    """SDPG: the log-std stays at ``init_logstd`` (not a parameter of the optimizer, so the
    estimator's log-std targets never move it; the auxiliaries perturb with that std throughout)."""
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
    critic_lr: float = 2e-4
    """Critic learning rate (Adam)."""
    critic_lr_schedule: Literal["constant", "linear"] = "constant"
    """Critic learning-rate schedule over the run: constant, or linear decay to 0.1x ``critic_lr``."""
    critic_minibatch: int = 4096
    """Largest critic minibatch (samples drawn from all N*(M+1)*H states): the authors' 4096, 1/32
    of their 131,072 states per epoch. Smaller epochs use ``critic_minibatches`` instead."""
    critic_minibatches: int = 8
    """Fewest minibatches per critic pass: the minibatch is min(``critic_minibatch``,
    ceil(states / ``critic_minibatches``)), so the paper's sizes keep 4096 (32 minibatches) while a
    small run (N=16, M=15, H=32: 8,192 states) still takes 8 steps per pass (1024, the size that
    took the hopper from 2709 to 3495 mean return over 3 seeds; docs/benchmarks.md)."""
    critic_iterations: int = 2
    """Passes over the epoch's states per critic update."""
    tau: float = 0.01
    """Target network update: p_target = tau * p_target + (1 - tau) * p."""


@dataclasses.dataclass(frozen=True)
class EnvsConfig:
    """Worlds of the baselines (--algo ppo and distill): independent worlds, no auxiliaries."""

    num_envs: int = 1024
    """PPO and distill: independent worlds (no auxiliaries), every one rendered for rgb/depth; per
    rank under torchrun."""


@dataclasses.dataclass(frozen=True)
class PPOConfig:
    """PPO (--algo ppo; docs/DESIGN.md section 8; defaults from the authors' rl_games configs)."""

    ppo_lr: float = 3e-4
    """PPO: initial learning rate (Adam, actor and critic together); adapted from the KL."""
    ppo_lr_schedule: Literal["adaptive", "fixed"] = "adaptive"
    """PPO: ``adaptive`` divides the rate by 1.5 when a minibatch's KL exceeds 2x ``ppo_desired_kl``
    and multiplies it by 1.5 below half of it (within [1e-6, 1e-2]); ``fixed`` keeps ``ppo_lr``."""
    ppo_desired_kl: float = 0.008
    """PPO: target KL divergence between the rollout policy and the updated one."""
    ppo_clip: float = 0.2
    """PPO: clip range of the probability ratio (and of the value change when ``ppo_value_clip``)."""
    ppo_epochs: int = 5
    """PPO: passes over the epoch's rollout per update."""
    ppo_minibatches: int = 4
    """PPO: minibatches per pass (each num_envs * horizon / ppo_minibatches samples)."""
    ppo_chunk: Optional[int] = None
    """PPO: samples per forward/backward pass of a minibatch; gradients accumulate to the
    minibatch's, so the step is the same and the images and activations alive are one chunk's.
    None: 256 on the CPU, 1024 on CUDA."""
    ppo_value_coef: float = 2.0
    """PPO: weight of the value loss mean((V - R)^2) beside the surrogate."""
    ppo_value_clip: bool = True
    """PPO: clipped value loss (the larger of the plain and clipped squared errors)."""
    ppo_entropy_coef: float = 0.0
    """PPO: weight of the entropy bonus."""
    ppo_reward_scale: float = 0.01
    """PPO: rewards are multiplied by this before the returns (the authors' rl_games reward shaper)."""
    ppo_normalize_value: bool = True
    """PPO: the critic predicts returns normalized by their running mean and std."""
    ppo_bootstrap_timeouts: bool = True
    """PPO: an episode ended by its time limit is bootstrapped by the value of its final state; off,
    a time-out is terminal (next value 0), as rl_games without ``value_bootstrap``."""


@dataclasses.dataclass(frozen=True)
class DistillConfig:
    """Teacher-student distillation (--algo distill, DAgger)."""

    teacher: Optional[str] = None
    """distill: run folder or checkpoint of a state-observation run of the same task (SDPG or PPO)."""
    distill_lr: float = 2e-3
    """distill: student peak learning rate (Adam), decaying linearly to 1e-5 over the schedule."""
    distill_batch: int = 128
    """distill: samples per student update, drawn uniformly from the replay buffer."""
    distill_updates: int = 2000
    """distill: student updates per epoch (fewer when the loss falls below ``distill_loss_threshold``)."""
    distill_loss_threshold: float = 0.1
    """distill: the epoch's updates stop once a minibatch's imitation loss falls below this
    (checked every 50 updates, one device read each); 0 never stops early."""
    distill_buffer: int = 100000
    """distill: replay buffer capacity in samples (student observation + teacher label, on the device)."""
    distill_learning_starts: int = 32000
    """distill: samples collected before the student's first update."""
    distill_beta: float = 0.0
    """distill: probability that the teacher, not the student, acts in a world at a step, at epoch 0
    (DAgger's beta); decays linearly to 0 over ``distill_beta_epochs``."""
    distill_beta_epochs: int = 0
    """distill: epochs over which ``distill_beta`` decays to 0 (0: beta is 0 throughout)."""


SECTIONS: dict[str, type] = {"run": RunConfig, "env": EnvConfig, "network": NetworkConfig, "sdpg": SDPGConfig,
                             "envs": EnvsConfig, "ppo": PPOConfig, "distill": DistillConfig}
"""Every section by name, in --help's order (a new one is also a base of :class:`TrainConfig`)."""


@dataclasses.dataclass(frozen=True)
class TrainConfig(DistillConfig, PPOConfig, EnvsConfig, SDPGConfig, NetworkConfig, EnvConfig, RunConfig):
    """Training run of SDPG or of one of the baselines (PPO, teacher-student distillation): every
    section's settings as flat fields (``cfg.critic_minibatch``; the bases are listed last section
    first, so the fields keep ``SECTIONS``' order)."""

    def world_layout(self) -> tuple[int, int]:
        """(nominal worlds, auxiliary worlds per nominal) of the simulator, from the fields the
        algorithm's registry entry names: (N, M) for SDPG, (num_envs, 0) for the baselines."""
        from sdpg_warp.algorithms import algorithm_entry

        counts = [getattr(self, name) for _, name in algorithm_entry(self.algo).worlds]
        return counts[0], (counts[1] if len(counts) > 1 else 0)

    def actor_chunk_on(self, device: str) -> int:
        """``actor_chunk``, or its device default when None."""
        if self.actor_chunk is not None:
            return self.actor_chunk
        return 1024 if device.startswith("cuda") else 256

    def ppo_chunk_on(self, device: str) -> int:
        """``ppo_chunk``, or its device default when None."""
        if self.ppo_chunk is not None:
            return self.ppo_chunk
        return 1024 if device.startswith("cuda") else 256

    def sync_timing_on(self, device: str) -> bool:
        """``sync_timing``, or its device default when None."""
        return self.sync_timing if self.sync_timing is not None else not device.startswith("cuda")

    def sections(self) -> dict:
        """This config's settings as one instance per section, by name (``SECTIONS``)."""
        return {name: section(**{field.name: getattr(self, field.name) for field in dataclasses.fields(section)})
                for name, section in SECTIONS.items()}

    @staticmethod
    def from_sections(sections) -> "TrainConfig":
        """The config of one instance of each section (:meth:`sections`' values)."""
        return TrainConfig(**{name: value for section in sections for name, value in vars(section).items()})

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2)

    @staticmethod
    def from_dict(fields: dict) -> "TrainConfig":
        """The config of ``dataclasses.asdict`` output or its JSON (lists become tuples)."""
        fields = dict(fields)
        for name in ("actor_hidden", "critic_hidden", "proprio_hidden", "camera_encoder_dims", "render_hw",
                     "image_crop", "image_hw", "logger", "randomize_set"):
            if name in fields:
                fields[name] = tuple(fields[name])
        # Runs saved before the terrain curriculum had none: they resume without it.
        fields.setdefault("curriculum", False)
        return TrainConfig(**fields)

    @staticmethod
    def from_json(text: str) -> "TrainConfig":
        return TrainConfig.from_dict(json.loads(text))

    @property
    def num_cameras(self) -> int:
        """Cameras of the task's actor images (``Task.cameras``)."""
        return len(task_info(self.task).cameras)

    @property
    def encoder_dims(self) -> Tuple[int, ...]:
        """Output width of each camera's image encoder: ``camera_encoder_dims``, or ``encoder_dim``
        for each camera."""
        return self.camera_encoder_dims or (self.encoder_dim,) * self.num_cameras

    def task_settings(self) -> dict:
        """The task settings this config overrides (``episode_length``, ``frame_skip``), for
        ``make_task(cfg.task, **cfg.task_settings())``."""
        return {name: getattr(self, name) for name in ("episode_length", "frame_skip") if getattr(self, name) is not None}

    def render_size(self) -> Tuple[int, int]:
        """(height, width) the camera renders: ``render_hw``, or ``image_size`` square."""
        return (self.render_hw[0], self.render_hw[1]) if self.render_hw else (self.image_size, self.image_size)

    def actor_image_size(self) -> Tuple[int, int]:
        """(height, width) of the actor's images: ``image_hw``, or the rendered size less ``image_crop``."""
        if self.image_hw:
            return (self.image_hw[0], self.image_hw[1])
        height, width = self.render_size()
        top, bottom, left, right = self.image_crop or (0, 0, 0, 0)
        return (height - top - bottom, width - left - right)

    def actor_obs_shape(self, state_dim: int, proprio_dim: int = 0) -> tuple:
        """The actor's observation shape: (state_dim,), or the frame stacks of the task's K cameras
        (K*3*frames or K*frames, *actor_image_size()) for rgb or depth; with an ego-centric task's
        ``proprio_dim`` > 0, the packed row of stack and ``proprio_history`` steps of proprioception
        (``sdpg_warp.render.ego.packed_size``)."""
        if self.obs == "state":
            return (state_dim,)
        channels = self.num_cameras * (3 * self.frames if self.obs == "rgb" else self.frames)
        image = (channels, *self.actor_image_size())
        if proprio_dim == 0:
            return image
        return (math.prod(image) + self.proprio_history * proprio_dim * (4 if self.obs == "rgb" else 1),)

    def validate(self) -> None:
        """Raises ValueError with a one-line message on an invalid setting."""
        if self.task not in task_names():
            raise ValueError(f"unknown task {self.task!r}; choose one of {', '.join(task_names())}")
        from sdpg_warp.algorithms import algorithm_entry

        entry = algorithm_entry(self.algo)  # ValueError naming the registered ones
        from sdpg_warp.log_writers import unknown_loggers

        if unknown_loggers(self.logger):
            raise ValueError(unknown_loggers(self.logger))
        for name in ("keep_checkpoints", "video_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name.replace('_', '-')} must be >= 0 (0: off), got {getattr(self, name)}")
        if self.video_steps < 1:
            raise ValueError(f"video-steps must be >= 1, got {self.video_steps}")
        for name in ("num_nominal", "num_aux", "num_envs", "horizon", "epochs", "image_size", "frames",
                     "critic_minibatch", "critic_minibatches", "critic_iterations", "checkpoint_every", "log_every", "actor_chunk",
                     "ppo_epochs", "ppo_minibatches", "distill_batch", "distill_updates", "distill_buffer",
                     "episode_length", "frame_skip"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"seed must be in [0, {MAX_SEED}], got {self.seed}")
        if self.run_name is not None and (self.run_name in ("", ".", "..") or "/" in self.run_name
                                          or (os.altsep or "/") in self.run_name):
            raise ValueError(f"run-name must be a folder name without {os.sep!r} (the folder is created under "
                             f"--log-dir), got {self.run_name!r}")
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
        self._validate_image_format()
        self._validate_randomization()
        for name in ("actor_lr", "critic_lr", "alpha_lr", "grad_clip", "target_std", "mean_bound"):
            if not math.isfinite(getattr(self, name)) or getattr(self, name) <= 0.0:
                raise ValueError(f"{name.replace('_', '-')} must be finite and > 0, got {getattr(self, name)}")
        for name in ("actor_lr_min", "encoder_lr_scale", "alpha"):
            if not math.isfinite(getattr(self, name)) or getattr(self, name) < 0.0:
                raise ValueError(f"{name.replace('_', '-')} must be finite and >= 0, got {getattr(self, name)}")
        if self.actor_lr_min > self.actor_lr:
            raise ValueError(f"actor-lr-min ({self.actor_lr_min}) must not exceed actor-lr ({self.actor_lr})")
        for name in ("actor_hidden", "critic_hidden", "proprio_hidden", "camera_encoder_dims"):
            if any(width < 1 for width in getattr(self, name)):
                raise ValueError(f"{name.replace('_', '-')} widths must be >= 1, got {getattr(self, name)}")
        if self.encoder_dim < 1:
            raise ValueError(f"encoder-dim must be >= 1, got {self.encoder_dim}")
        if self.camera_encoder_dims and len(self.camera_encoder_dims) != self.num_cameras:
            raise ValueError(f"camera-encoder-dims has {len(self.camera_encoder_dims)} widths, task {self.task} has "
                             f"{self.num_cameras} camera(s) {task_info(self.task).cameras}")
        if self.actor_warmup_epochs < 0:
            raise ValueError(f"actor-warmup-epochs must be >= 0, got {self.actor_warmup_epochs}")
        if self.schedule_epochs is not None and self.schedule_epochs < 1:
            raise ValueError(f"schedule-epochs must be >= 1, got {self.schedule_epochs}")
        if self.threads < 0:
            raise ValueError(f"threads must be >= 0 (0: Torch's default), got {self.threads}")
        if not math.isfinite(self.checkpoint_minutes) or self.checkpoint_minutes < 0.0:
            raise ValueError(f"checkpoint-minutes must be finite and >= 0 (0: off), got {self.checkpoint_minutes}")
        if not math.isfinite(self.max_minutes) or self.max_minutes < 0.0:
            raise ValueError(f"max-minutes must be finite and >= 0 (0: no budget), got {self.max_minutes}")
        if not math.isfinite(self.collective_timeout) or self.collective_timeout <= 0.0:
            raise ValueError(f"collective-timeout must be finite and > 0, got {self.collective_timeout}")
        for name in ("gamma", "lam", "tau", "init_logstd", "logstd_min", "logstd_max"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name.replace('_', '-')} must be finite, got {getattr(self, name)}")
        self._validate_baselines()
        if entry.check is not None:
            entry.check(self)

    def randomization(self):
        """The run's :class:`~sdpg_warp.randomization.Randomization` (the task's ranges with
        ``randomize_set`` over them), or None when ``randomize`` is off."""
        from sdpg_warp.randomization import with_overrides
        from sdpg_warp.tasks import task_class

        if not self.randomize:
            return None
        return with_overrides(task_class(self.task).randomization, self.randomize_set)

    def _validate_randomization(self) -> None:
        from sdpg_warp.randomization import with_overrides

        if self.randomize_set and not self.randomize:
            raise ValueError("--randomize-set needs --randomize")
        if not self.randomize:
            return
        given = with_overrides(None, self.randomize_set)  # the task's own ranges are valid
        if given.problems():
            raise ValueError(given.problems()[0])
        if given.empty and not task_info(self.task).randomized:
            raise ValueError(f"--randomize: task {self.task} has no randomization ranges; give some with "
                             f"--randomize-set name=min,max (docs/randomization.md)")

    def _validate_image_format(self) -> None:
        """The camera's format (render size, crop, resampling, depth range), the encoder and the
        proprioception history."""
        for name, length in (("render_hw", 2), ("image_crop", 4), ("image_hw", 2)):
            value = getattr(self, name)
            if value and (len(value) != length or min(value) < (0 if name == "image_crop" else 1)):
                what = "4 pixel counts >= 0" if name == "image_crop" else "a height and a width >= 1"
                raise ValueError(f"{name.replace('_', '-')} must be {what}, got {value}")
        if self.obs == "state":
            if self.proprio_history != 1:
                raise ValueError(f"proprio-history is for ego-centric tasks' rgb / depth observations, not {self.obs}")
            return
        if self.obs != "depth" and (self.image_crop or self.image_hw or self.depth_far is not None):
            raise ValueError(f"image-crop, image-hw and depth-far format depth images; --obs is {self.obs}")
        if self.obs != "depth" and self.encoder == "depth_small":
            raise ValueError(f"encoder depth_small takes depth images; --obs is {self.obs}")
        height, width = self.render_size()
        top, bottom, left, right = self.image_crop or (0, 0, 0, 0)
        if top + bottom >= height or left + right >= width:
            raise ValueError(f"image-crop {self.image_crop} leaves nothing of the {height} x {width} rendered image")
        if min(self.actor_image_size()) < MIN_IMAGE_SIZE:
            raise ValueError(f"the actor's images must be >= {MIN_IMAGE_SIZE} pixels each way (the image "
                             f"encoder's input), got {self.actor_image_size()}")
        if self.depth_far is not None and not (math.isfinite(self.depth_far) and self.depth_far > 0.0):
            raise ValueError(f"depth-far must be finite and > 0, got {self.depth_far}")
        if self.proprio_history < 1:
            raise ValueError(f"proprio-history must be >= 1, got {self.proprio_history}")
        if self.proprio_history > 1 and not task_info(self.task).proprio_dim:
            raise ValueError(f"proprio-history: task {self.task} gives the actor no proprioception")

    def _validate_baselines(self) -> None:
        for name in ("ppo_lr", "ppo_desired_kl", "ppo_clip", "ppo_reward_scale", "distill_lr"):
            if not math.isfinite(getattr(self, name)) or getattr(self, name) <= 0.0:
                raise ValueError(f"{name.replace('_', '-')} must be finite and > 0, got {getattr(self, name)}")
        for name in ("ppo_value_coef", "ppo_entropy_coef", "distill_loss_threshold"):
            if not math.isfinite(getattr(self, name)) or getattr(self, name) < 0.0:
                raise ValueError(f"{name.replace('_', '-')} must be finite and >= 0, got {getattr(self, name)}")
        if self.ppo_chunk is not None and self.ppo_chunk < 1:
            raise ValueError(f"ppo-chunk must be >= 1, got {self.ppo_chunk}")
        if not 0.0 <= self.distill_beta <= 1.0:
            raise ValueError(f"distill-beta must be in [0, 1], got {self.distill_beta}")
        for name in ("distill_beta_epochs", "distill_learning_starts"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name.replace('_', '-')} must be >= 0, got {getattr(self, name)}")


def task_defaults(task: str, obs: Optional[str] = None, algo: str = "sdpg") -> TrainConfig:
    """The default config of ``task`` for ``obs`` (default: the config's default observation) and
    ``algo``: the sections' defaults, then the layers of the task's entry in
    ``sdpg_warp/tasks/defaults.py`` (shared, per observation kind, per algorithm, per both)."""
    from sdpg_warp.algorithms import algorithm_entry
    from sdpg_warp.tasks.defaults import TASK_DEFAULTS, TaskDefaults

    if task not in task_names():
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(task_names())}")
    algorithm_entry(algo)  # ValueError naming the registered ones
    obs = TrainConfig.obs if obs is None else obs
    settings = {}
    for layer in TASK_DEFAULTS.get(task, TaskDefaults()).layers(algo, obs):
        settings.update(layer)
    return TrainConfig(**{"randomize": task_info(task).randomized, **settings, "task": task, "obs": obs, "algo": algo})
