"""The Torch networks of SDPG (docs/DESIGN.md sections 1 and 4.5): running mean/std, image encoders
(DrQ-v2's, and the authors' small depth encoder of the Go2), actor, critic.

The actor maps an observation (privileged state, stacked RGB frames or stacked depth frames) to a
pre-tanh action mean and a state-independent log-std; the critic maps the privileged state to a value.
MLP heads are Linear -> ELU -> LayerNorm per hidden layer with orthogonal weights of gain sqrt(2) on
every layer, outputs included, and zero biases (the authors' heads; docs/DESIGN.md section 4.5).
"""

import math
from typing import Callable, Literal, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from sdpg_warp.render.ego import unpack

ObsKind = Literal["state", "rgb", "depth"]
EncoderKind = Literal["drqv2", "depth_small"]
Combine = Callable[[torch.Tensor, torch.Tensor, int], Tuple[torch.Tensor, torch.Tensor, Union[int, torch.Tensor]]]
"""(batch mean, population variance, count) -> the same of the union of every rank's batch."""

NORMALIZE_EPS = 1e-5
"""Added to the running variance before the square root (constant features)."""
DEPTH_MAX = 10.0
"""Default depth (m) at which depth images saturate; farther points and misses (inf) read as this."""


class RunningMeanStd(nn.Module):
    """Running per-feature mean and (population) variance of a stream of batches.

    Buffers (saved in ``state_dict``): ``mean`` and ``var`` of shape ``shape``, ``count`` scalar, all
    float64 so that long runs do not lose precision. After updates with batches b1..bk the statistics
    equal the mean and variance of their concatenation (parallel-merge rule of Chan et al.).
    """

    def __init__(self, shape: Sequence[int], clip: Optional[float] = None, eps: float = NORMALIZE_EPS):
        super().__init__()
        self.shape = tuple(shape)
        self.clip = clip
        self.eps = eps
        self.register_buffer("mean", torch.zeros(self.shape, dtype=torch.float64))
        self.register_buffer("var", torch.ones(self.shape, dtype=torch.float64))
        # Starting from count 0 makes the first batch's statistics exact (no prior pseudo-count).
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))

    @torch.no_grad()
    def update(self, x: torch.Tensor, combine: Optional[Combine] = None) -> None:
        """Merges a batch ``x`` [..., *shape] (leading dims flattened) into the statistics.

        ``combine`` (``DataParallel.combine_moments``) turns the batch's (mean, variance, count) into
        those of the union of every rank's batch, so that every rank merges the same statistics.
        """
        x = x.reshape(-1, *self.shape).to(torch.float64)
        count = x.shape[0]
        if count == 0 and combine is None:
            return
        if count == 0:  # an empty batch still takes part in the ranks' combination
            mean, var = torch.zeros_like(self.mean), torch.zeros_like(self.var)
        else:
            mean, var = x.mean(dim=0), x.var(dim=0, unbiased=False)
        if combine is not None:
            mean, var, count = combine(mean, var, count)
        self.update_from_moments(mean, var, count)

    @torch.no_grad()
    def update_from_moments(self, batch_mean: torch.Tensor, batch_var: torch.Tensor,
                            batch_count: Union[int, torch.Tensor]) -> None:
        """Merges a batch given by its mean and population variance (each ``shape``) and size; a
        0-dim tensor size (several ranks' merged count) is used with no host read."""
        if not isinstance(batch_count, torch.Tensor) and batch_count == 0:
            return
        batch_mean = batch_mean.to(self.mean.dtype)
        batch_var = batch_var.to(self.var.dtype)
        total = self.count + batch_count
        delta = batch_mean - self.mean
        # Sum of squared deviations of the union = both parts' own + the between-means term.
        m2 = self.var * self.count + batch_var * batch_count + delta.square() * self.count * batch_count / total
        self.mean.add_(delta * batch_count / total)
        self.var.copy_(m2 / total)
        self.count.copy_(total)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """(x - mean) / sqrt(var + eps), clipped to [-clip, clip] when ``clip`` is set; ``x`` [..., *shape],
        same dtype out."""
        mean = self.mean.to(x.dtype)
        std = torch.sqrt(self.var + self.eps).to(x.dtype)
        x = (x - mean) / std
        return x if self.clip is None else x.clamp(-self.clip, self.clip)


def _init_orthogonal(layer: nn.Module, gain: float) -> None:
    nn.init.orthogonal_(layer.weight, gain)
    nn.init.zeros_(layer.bias)


MLP_GAIN = math.sqrt(2.0)
"""Orthogonal-init gain of every MLP layer, the output layer included (as the authors' heads)."""


def mlp(in_dim: int, hidden: Sequence[int], out_dim: int) -> nn.Sequential:
    """in_dim -> [Linear -> ELU -> LayerNorm] per hidden width -> Linear -> out_dim."""
    layers = []
    for width in hidden:
        layers += [nn.Linear(in_dim, width), nn.ELU(), nn.LayerNorm(width)]
        in_dim = width
    layers.append(nn.Linear(in_dim, out_dim))
    for layer in layers:
        if isinstance(layer, nn.Linear):
            _init_orthogonal(layer, MLP_GAIN)
    return nn.Sequential(*layers)


def _centre(obs_kind: ObsKind, depth_max: Optional[float], obs: torch.Tensor,
            layout: torch.memory_format = torch.contiguous_format) -> torch.Tensor:
    """Raw images -> float32 in [-0.5, 0.5] in memory ``layout``: rgb x / 255 - 0.5; depth in metres
    clamp(x, 0, depth_max) / depth_max - 0.5; depth already in that range (``depth_max`` None) as it is.
    One float copy, which converts and reorders at once, then scaled in place (images carry no gradient)."""
    # copy=True: float32 depth in the layout already would otherwise come back as the input itself,
    # which the in-place scaling below must not touch (it is the stored observation).
    x = obs.to(torch.float32, memory_format=layout, copy=True)
    if obs_kind == "rgb":
        return x.div_(255.0).sub_(0.5)
    if depth_max is None:
        return x
    return x.clamp_(0.0, depth_max).div_(depth_max).sub_(0.5)


class ImageEncoder(nn.Module):
    """DrQ-v2 encoder: 4 conv 3x3 of 32 channels (strides 2, 1, 1, 1, ReLU), flatten, Linear ->
    LayerNorm -> Tanh to ``encoder_dim``.

    Input [B, C, H, W] with H, W >= 16, scaled to [0, 1] and centred by 0.5 (DrQ-v2's
    x / 255 - 0.5, the authors' choice; no running statistics, so the actor is regressed on exactly
    the inputs that produced its actions):
      rgb:   C = 3 * frames, values in [0, 255] (uint8): x / 255 - 0.5.
      depth: C = frames, float depth in metres: clamp(x, 0, depth_max) / depth_max - 0.5 (misses
             read as far); with ``depth_max`` None, depth the renderer already mapped to [-0.5, 0.5]
             (its ``depth_far`` format), taken as it is.
    """

    def __init__(self, obs_kind: ObsKind, obs_shape: Sequence[int], encoder_dim: int,
                 depth_max: Optional[float] = DEPTH_MAX):
        super().__init__()
        if obs_kind not in ("rgb", "depth"):
            raise ValueError(f"ImageEncoder takes rgb or depth observations, got {obs_kind!r}")
        if len(obs_shape) != 3 or min(obs_shape[1:]) < 16:
            raise ValueError(f"image observations must be [C, H, W] with H, W >= 16, got {tuple(obs_shape)}")
        self.obs_kind = obs_kind
        self.depth_max = depth_max
        self.channels_last = False
        self.output_dim = encoder_dim
        channels = obs_shape[0]
        convs = []
        for i in range(4):
            conv = nn.Conv2d(channels if i == 0 else 32, 32, 3, stride=2 if i == 0 else 1)
            _init_orthogonal(conv, math.sqrt(2.0))
            convs += [conv, nn.ReLU()]
        self.convs = nn.Sequential(*convs, nn.Flatten())
        with torch.no_grad():
            flat_dim = self.convs(torch.zeros(1, *obs_shape)).shape[1]
        self.trunk = nn.Sequential(nn.Linear(flat_dim, encoder_dim), nn.LayerNorm(encoder_dim), nn.Tanh())
        _init_orthogonal(self.trunk[0], 1.0)

    def preprocess(self, obs: torch.Tensor) -> torch.Tensor:
        """Raw images [B, C, H, W] -> float32 in [-0.5, 0.5] (see the class docstring), in the
        encoder's memory layout."""
        layout = torch.channels_last if self.channels_last else torch.contiguous_format
        return _centre(self.obs_kind, self.depth_max, obs, layout)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """obs [B, C, H, W] -> features [B, encoder_dim]."""
        return self.trunk(self.convs(self.preprocess(obs)))

    def use_channels_last(self) -> "ImageEncoder":
        """Keeps conv weights and inputs in channels-last layout (faster cuDNN convolutions on CUDA;
        the same numbers up to the convolution algorithm)."""
        self.channels_last = True
        self.convs.to(memory_format=torch.channels_last)
        return self


class SmallDepthEncoder(nn.Module):
    """The authors' Go2 depth encoder (extreme-parkour's 58 x 87 depth backbone): conv 5x5 of 32
    channels -> max-pool 2x2 -> ELU -> conv 3x3 of 64 channels -> ELU -> flatten -> Linear 128 ->
    ELU -> Linear ``encoder_dim`` -> Tanh; orthogonal weights of gain sqrt(2), zero biases.

    About 1/4 of the DrQ-v2 encoder's convolution work on the same image (one stride-1 5x5 conv of
    32 channels and one 3x3 conv of 64 on the pooled map, against four 3x3 convs of 32) and a 128-wide
    bottleneck before the output. Input [B, C, H, W] as :class:`ImageEncoder` (depth: metres, or the
    renderer's [-0.5, 0.5] with ``depth_max`` None); H, W >= 16.
    """

    def __init__(self, obs_kind: ObsKind, obs_shape: Sequence[int], encoder_dim: int,
                 depth_max: Optional[float] = DEPTH_MAX):
        super().__init__()
        if obs_kind != "depth":
            raise ValueError(f"the depth_small encoder takes depth observations, got {obs_kind!r}")
        if len(obs_shape) != 3 or min(obs_shape[1:]) < 16:
            raise ValueError(f"image observations must be [C, H, W] with H, W >= 16, got {tuple(obs_shape)}")
        self.obs_kind = obs_kind
        self.depth_max = depth_max
        self.channels_last = False
        self.output_dim = encoder_dim
        self.convs = nn.Sequential(nn.Conv2d(obs_shape[0], 32, 5), nn.MaxPool2d(2, 2), nn.ELU(),
                                   nn.Conv2d(32, 64, 3), nn.ELU(), nn.Flatten())
        with torch.no_grad():
            flat_dim = self.convs(torch.zeros(1, *obs_shape)).shape[1]
        self.trunk = nn.Sequential(nn.Linear(flat_dim, 128), nn.ELU(), nn.Linear(128, encoder_dim), nn.Tanh())
        for layer in (*self.convs, *self.trunk):
            if isinstance(layer, (nn.Conv2d, nn.Linear)):
                _init_orthogonal(layer, math.sqrt(2.0))

    def preprocess(self, obs: torch.Tensor) -> torch.Tensor:
        """Raw images [B, C, H, W] -> float32 in [-0.5, 0.5] (as :meth:`ImageEncoder.preprocess`)."""
        return _centre(self.obs_kind, self.depth_max, obs)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """obs [B, C, H, W] -> features [B, encoder_dim]."""
        x = self.preprocess(obs)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.trunk(self.convs(x))

    def use_channels_last(self) -> "SmallDepthEncoder":
        """As :meth:`ImageEncoder.use_channels_last`."""
        self.channels_last = True
        self.convs.to(memory_format=torch.channels_last)
        return self


ENCODERS = {"drqv2": ImageEncoder, "depth_small": SmallDepthEncoder}
"""The image encoders by name (``TrainConfig.encoder``)."""


class MultiCameraEncoder(nn.Module):
    """Images of K cameras stacked along the channel axis (camera k's C channels in the k-th block,
    ``sdpg_warp.render.nominal``) -> each camera's own :class:`ImageEncoder`, features concatenated.

    One encoder per camera, as the authors' per-source encoders: views from different places share
    no pixel grid, so stacking them as channels of one convolution would mix unrelated pixels.
    """

    def __init__(self, obs_kind: ObsKind, obs_shape: Sequence[int], encoder_dims: Sequence[int],
                 depth_max: Optional[float] = DEPTH_MAX, encoder: EncoderKind = "drqv2"):
        super().__init__()
        cameras = len(encoder_dims)
        if len(obs_shape) != 3 or cameras < 1 or obs_shape[0] % cameras:
            raise ValueError(f"{cameras} camera(s) cannot split image observations of shape {tuple(obs_shape)}")
        self.channels = obs_shape[0] // cameras
        shape = (self.channels, *obs_shape[1:])
        self.cameras = nn.ModuleList(ENCODERS[encoder](obs_kind, shape, dim, depth_max) for dim in encoder_dims)
        self.output_dim = sum(encoder_dims)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """obs [B, K*C, H, W] -> features [B, sum(encoder_dims)]."""
        return torch.cat([encoder(part) for encoder, part in zip(self.cameras, obs.split(self.channels, dim=1))],
                         dim=-1)

    def use_channels_last(self) -> "MultiCameraEncoder":
        """:meth:`ImageEncoder.use_channels_last` for every camera."""
        for encoder in self.cameras:
            encoder.use_channels_last()
        return self


def image_encoder(obs_kind: ObsKind, obs_shape: Sequence[int], encoder_dim: Union[int, Sequence[int]],
                  depth_max: Optional[float] = DEPTH_MAX, encoder: EncoderKind = "drqv2") -> nn.Module:
    """The image encoder (``encoder``, a name of :data:`ENCODERS`) of ``encoder_dim`` output features
    (one camera), or of one width per camera (:class:`MultiCameraEncoder` for more than one);
    ``output_dim`` says its width."""
    if encoder not in ENCODERS:
        raise ValueError(f"encoder must be one of {', '.join(ENCODERS)}, got {encoder!r}")
    dims = (encoder_dim,) if isinstance(encoder_dim, int) else tuple(encoder_dim)
    if len(dims) > 1:
        return MultiCameraEncoder(obs_kind, obs_shape, dims, depth_max, encoder)
    return ENCODERS[encoder](obs_kind, obs_shape, dims[0], depth_max)


class ProprioImageEncoder(nn.Module):
    """The ego-centric tasks' encoder: packed rows of camera images and proprioception
    (:mod:`sdpg_warp.render.ego`) -> [image encoder(images), MLP(normalize(proprio))].

    The proprioception, the last ``proprio_history`` steps of it (oldest first, newest last), is
    normalized by one running mean/std of its ``proprio_dim`` values shared by every step
    (``update_normalizer``), then passes Linear -> ELU -> LayerNorm per width of ``proprio_hidden``
    (the authors' MLP encoder, orthogonal gain sqrt(2), zero biases); the output has
    ``encoder_dim + proprio_hidden[-1]`` features (``encoder_dim + proprio_history * proprio_dim`` with
    no hidden layer; ``sum(encoder_dim)`` for one width per camera).
    """

    def __init__(self, obs_kind: ObsKind, image_shape: Sequence[int], proprio_dim: int,
                 encoder_dim: Union[int, Sequence[int]], proprio_hidden: Sequence[int],
                 depth_max: Optional[float] = DEPTH_MAX, encoder: EncoderKind = "drqv2", proprio_history: int = 1):
        super().__init__()
        if proprio_dim < 1:
            raise ValueError(f"proprio_dim must be >= 1, got {proprio_dim}")
        if proprio_history < 1:
            raise ValueError(f"proprio_history must be >= 1, got {proprio_history}")
        self.image_shape = tuple(image_shape)
        self.proprio_dim = proprio_dim
        self.proprio_history = proprio_history
        inputs = proprio_dim * proprio_history
        self.image = image_encoder(obs_kind, self.image_shape, encoder_dim, depth_max, encoder)
        self.proprio_rms = RunningMeanStd((proprio_dim,))
        self.proprio = mlp(inputs, proprio_hidden[:-1], proprio_hidden[-1]) if proprio_hidden else nn.Identity()
        if proprio_hidden:  # the last layer is a hidden layer too: ELU -> LayerNorm after it
            self.proprio.append(nn.ELU())
            self.proprio.append(nn.LayerNorm(proprio_hidden[-1]))
        self.output_dim = self.image.output_dim + (proprio_hidden[-1] if proprio_hidden else inputs)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """obs [B, packed_size] -> features [B, output_dim]."""
        return self.encode(*unpack(obs, self.image_shape, self.proprio_dim * self.proprio_history))

    def encode(self, images: torch.Tensor, proprio: torch.Tensor) -> torch.Tensor:
        """The two parts of a packed row, images [B, *image_shape] and the proprioception float32
        [B, proprio_history * proprio_dim] or [B, proprio_history, proprio_dim] -> features [B, output_dim]."""
        steps = proprio.reshape(proprio.shape[0], self.proprio_history, self.proprio_dim)
        return torch.cat([self.image(images), self.proprio(self.proprio_rms.normalize(steps).flatten(1))], dim=-1)

    @torch.no_grad()
    def update_normalizer(self, obs: torch.Tensor, combine: Optional[Combine] = None) -> None:
        """Merges the proprioception of packed rows [..., packed_size] (every step of the history)
        into the running statistics; ``combine`` as in :meth:`RunningMeanStd.update`."""
        proprio = unpack(obs.reshape(-1, obs.shape[-1]), self.image_shape, self.proprio_dim * self.proprio_history)[1]
        self.proprio_rms.update(proprio.reshape(-1, self.proprio_dim), combine)

    def use_channels_last(self) -> "ProprioImageEncoder":
        """:meth:`ImageEncoder.use_channels_last` for the image part."""
        self.image.use_channels_last()
        return self


class Actor(nn.Module):
    """Deterministic-mean Gaussian policy with a state-independent log-std.

    ``forward(obs)`` -> (mean [B, num_actions] clamped to [-mean_bound, mean_bound], with the
    identity's gradient (straight-through), logstd [num_actions] clamped to [logstd_min, logstd_max]).
    Observations:
      state: [B, state_dim] float, normalized by a running mean/std (``update_normalizer``);
      rgb / depth: [B, C, H, W], encoded by :class:`ImageEncoder` (``encoder_dim`` an int), or the
        stacks of several cameras, one encoder each (``encoder_dim`` one width per camera);
      rgb / depth with ``proprio_dim`` > 0 (ego-centric tasks): packed rows of images of shape
        ``obs_shape`` and proprioception (:mod:`sdpg_warp.render.ego`), encoded by
        :class:`ProprioImageEncoder`.
    Statistics change only through ``update_normalizer``, which the algorithm calls after its
    update, so that the actor is regressed on the inputs that produced its actions.
    ``fixed_std``: the log-std stays at ``init_logstd`` (a buffer, not a parameter).
    """

    def __init__(self, obs_kind: ObsKind, obs_shape: Sequence[int], num_actions: int,
                 encoder_dim: Union[int, Sequence[int]], hidden: Sequence[int], init_logstd: float,
                 mean_bound: float, logstd_min: float, logstd_max: float, depth_max: Optional[float] = DEPTH_MAX,
                 proprio_dim: int = 0, proprio_hidden: Sequence[int] = (), encoder: EncoderKind = "drqv2",
                 proprio_history: int = 1, fixed_std: bool = False):
        super().__init__()
        if obs_kind not in ("state", "rgb", "depth"):
            raise ValueError(f"obs_kind must be state, rgb or depth, got {obs_kind!r}")
        self.obs_kind = obs_kind
        self.obs_shape = tuple(obs_shape)
        self.mean_bound = mean_bound
        self.logstd_min = logstd_min
        self.logstd_max = logstd_max
        if obs_kind == "state":
            self.obs_rms = RunningMeanStd(self.obs_shape)
            features = self.obs_shape[0]
        elif proprio_dim > 0:
            self.encoder = ProprioImageEncoder(obs_kind, self.obs_shape, proprio_dim, encoder_dim, proprio_hidden,
                                               depth_max, encoder, proprio_history)
            features = self.encoder.output_dim
        else:
            self.encoder = image_encoder(obs_kind, self.obs_shape, encoder_dim, depth_max, encoder)
            features = self.encoder.output_dim
        self.head = mlp(features, hidden, num_actions)
        logstd = torch.full((num_actions,), float(init_logstd))
        if fixed_std:
            # A buffer: saved and loaded under the same name, but no optimizer sees it.
            self.register_buffer("logstd", logstd)
        else:
            self.logstd = nn.Parameter(logstd)

    @classmethod
    def from_config(cls, cfg, obs_shape: Sequence[int], num_actions: int, proprio_dim: int = 0) -> "Actor":
        """The actor of a ``TrainConfig`` (obs kind, widths, log-std init and bounds) for observations
        of ``obs_shape`` (``cfg.actor_obs_shape``); ``proprio_dim`` > 0: an ego-centric task's.
        Depth the renderer maps to [-0.5, 0.5] (``cfg.depth_far``) enters the encoder as it is."""
        depth_max = DEPTH_MAX if cfg.depth_far is None else None
        if cfg.obs != "state" and proprio_dim > 0:
            if tuple(obs_shape) != cfg.actor_obs_shape(0, proprio_dim):
                raise ValueError(f"packed observations of {cfg.obs} and {proprio_dim} proprioception values are "
                                 f"{cfg.actor_obs_shape(0, proprio_dim)}, got {tuple(obs_shape)}")
            return cls(cfg.obs, cfg.actor_obs_shape(0), num_actions, cfg.encoder_dims, cfg.actor_hidden,
                       cfg.init_logstd, cfg.mean_bound, cfg.logstd_min, cfg.logstd_max, depth_max,
                       proprio_dim=proprio_dim, proprio_hidden=cfg.proprio_hidden, encoder=cfg.encoder,
                       proprio_history=cfg.proprio_history, fixed_std=cfg.fixed_std)
        return cls(cfg.obs, obs_shape, num_actions, cfg.encoder_dims, cfg.actor_hidden, cfg.init_logstd,
                   cfg.mean_bound, cfg.logstd_min, cfg.logstd_max, depth_max, encoder=cfg.encoder,
                   fixed_std=cfg.fixed_std)

    def features(self, obs: torch.Tensor) -> torch.Tensor:
        """obs [B, ...] -> head input [B, features]."""
        if self.obs_kind == "state":
            return self.obs_rms.normalize(obs)
        return self.encoder(obs)

    def forward(self, obs: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """obs [B, ...] -> (mean [B, num_actions], logstd [num_actions])."""
        return self.from_features(self.features(obs))

    def from_features(self, features: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Head input [B, features] (:meth:`features`) -> (mean, logstd) as :meth:`forward`."""
        raw = self.head(features)
        # Straight-through clamp: the value is clamped, the gradient is the identity's. A plain
        # clamp has zero gradient beyond the bound, so a mean that one step carried past it could
        # never be pulled back by targets inside the bounds: saturation would be absorbing
        # (measured: every reacher mean from pixels stuck at -2 while targets asked for -1.2..-1.6).
        mean = raw + (raw.clamp(-self.mean_bound, self.mean_bound) - raw).detach()
        return mean, self.logstd.clamp(self.logstd_min, self.logstd_max)

    @torch.no_grad()
    def update_normalizer(self, obs: torch.Tensor, combine: Optional[Combine] = None) -> None:
        """Merges state observations [..., state_dim], or the proprioception of packed ego-centric
        rows, into the running mean/std (images keep the fixed centring: nothing to update);
        ``combine`` as in :meth:`RunningMeanStd.update`."""
        if self.obs_kind == "state":
            self.obs_rms.update(obs, combine)
        elif isinstance(self.encoder, ProprioImageEncoder):
            self.encoder.update_normalizer(obs, combine)

    @torch.no_grad()
    def project_logstd_(self) -> None:
        """Clamps the raw log-std parameter into its bounds (after each optimizer step).

        The clamp in ``forward`` has zero gradient outside the bounds, so a parameter that one Adam
        step carried past a bound would stay stuck there; kept inside, the gradient flows (Torch's
        clamp passes the gradient at the bound itself).
        """
        self.logstd.clamp_(self.logstd_min, self.logstd_max)


class Critic(nn.Module):
    """State-value function on the privileged state: [B, state_dim] -> value [B].

    Inputs are normalized by a running mean/std (``update_normalizer``, after each critic update)
    before the MLP.
    """

    def __init__(self, state_dim: int, hidden: Sequence[int]):
        super().__init__()
        self.obs_rms = RunningMeanStd((state_dim,))
        self.net = mlp(state_dim, hidden, 1)

    @classmethod
    def from_config(cls, cfg, state_dim: int) -> "Critic":
        """The critic of a ``TrainConfig`` (hidden widths)."""
        return cls(state_dim, cfg.critic_hidden)

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        """states [B, state_dim] -> values [B]."""
        return self.net(self.obs_rms.normalize(states)).squeeze(-1)

    @torch.no_grad()
    def update_normalizer(self, states: torch.Tensor, combine: Optional[Combine] = None) -> None:
        """Merges privileged states [..., state_dim] into the running statistics; ``combine`` as in
        :meth:`RunningMeanStd.update`."""
        self.obs_rms.update(states, combine)
