"""Per-task defaults: one entry per task with its settings for every algorithm, then its overrides
per observation kind, per algorithm, and per algorithm and observation kind (later layers win;
``sdpg_warp.config.task_defaults`` resolves them over the config sections' defaults). Values from
the authors' public configs (docs/DESIGN.md section 4.5); the small reacher and pointmass are ours.
Light: it imports nothing of Warp or MuJoCo Warp (``--help`` and input checks read it)."""

import dataclasses
from typing import Any, Dict, Tuple

Settings = Dict[str, Any]


FRANKA_INIT_LOGSTD = -1.6
"""franka_pick_cube's initial SDPG log-std (std 0.2 rad on the absolute arm targets). Measured
(N=8, M=7, 350 epochs, seed 0; bench/results/learning_ego_suite_2026-12-07.md): the std of 1 ends
at 272 return, idle's level (225), with the reach term at 0.61 per step; std 0.2 reaches 658 and
std 0.1 707, both with the reach term at 1.97 per step."""


@dataclasses.dataclass(frozen=True)
class TaskDefaults:
    """A task's defaults, by layer."""

    shared: Settings = dataclasses.field(default_factory=dict)
    """Settings of every algorithm and observation kind."""
    obs: Dict[str, Settings] = dataclasses.field(default_factory=dict)
    """Per observation kind (``state``, ``rgb``, ``depth``), for every algorithm."""
    algo: Dict[str, Settings] = dataclasses.field(default_factory=dict)
    """Per algorithm (``sdpg``, ``ppo``, ``distill``): its own section's settings, and the shared
    settings it sets otherwise."""
    algo_obs: Dict[Tuple[str, str], Settings] = dataclasses.field(default_factory=dict)
    """Per (algorithm, observation kind); the kind ``pixels`` stands for rgb and depth, and comes
    before the kind's own entry."""

    def layers(self, algo: str, obs: str) -> list:
        """The settings dictionaries that apply to ``algo`` with ``obs``, first to last."""
        kinds = (obs,) if obs == "state" else ("pixels", obs)
        return [self.shared, self.obs.get(obs, {}), self.algo.get(algo, {}),
                *(self.algo_obs.get((algo, kind), {}) for kind in kinds)]


def _sdpg_epochs(state: int, pixels: int) -> Dict[Tuple[str, str], Settings]:
    """SDPG's run length: the authors' max_epochs for privileged state and for pixels."""
    return {("sdpg", "state"): dict(epochs=state), ("sdpg", "pixels"): dict(epochs=pixels)}


# PPO: the authors' rl_games configs (1024 worlds, or 4096 for the humanoid; 8192 samples per
# minibatch). Distillation: their teacher-student configs (32 student worlds).
_LOCOMOTION_PPO = dict(num_envs=1024, horizon=32, ppo_minibatches=4, ppo_epochs=5, actor_hidden=(128, 64, 32),
                       critic_hidden=(128, 64, 32), epochs=2000)

# The small tasks (ours): few worlds, a short run, small images and networks.
_SMALL = TaskDefaults(
    shared=dict(horizon=16, epochs=300, image_size=32, actor_hidden=(64, 64), critic_hidden=(64, 64), encoder_dim=64,
                init_logstd=-0.5, checkpoint_every=100),
    algo=dict(
        sdpg=dict(num_nominal=8, num_aux=15, critic_lr=1e-3, critic_minibatch=1024, actor_warmup_epochs=5, tau=0.2,
                  alpha=0.0, auto_alpha=False),
        ppo=dict(num_envs=64, horizon=16, ppo_minibatches=4, ppo_epochs=5, ppo_lr=1e-3, actor_hidden=(64, 64),
                 critic_hidden=(64, 64), epochs=300),
        distill=dict(num_envs=8, horizon=16, distill_learning_starts=512, distill_updates=50, distill_buffer=8192,
                     epochs=100),
    ),
)

# The ego-centric tasks without a teacher-student config of their own take g1's student settings
# (cfgs/agent/teacher_student/genesis_g1_hurtle.yaml: proprioception MLP 256, head 256-64-32, 32
# worlds, 32 steps) with their own encoders.
_EGO_DISTILL = dict(num_envs=32, horizon=32, actor_hidden=(256, 64, 32), proprio_hidden=(256,), epochs=50000)
# allegro_hand and shadow_hand: the authors' two in-hand configs agree on these.
_IN_HAND_SHARED = dict(horizon=16, grad_clip=0.5, actor_hidden=(256, 128), proprio_hidden=(1024, 256), encoder_dim=256,
                       critic_hidden=(1024, 512, 256, 128))
_IN_HAND_SDPG = dict(actor_lr=1e-3, critic_lr=5e-4, critic_lr_schedule="linear", tau=0.2, alpha=0.0, auto_alpha=False)


TASK_DEFAULTS: Dict[str, TaskDefaults] = {
    "hopper": TaskDefaults(
        shared=dict(horizon=32, actor_hidden=(128, 64, 32), critic_hidden=(64, 64), encoder_dim=128),
        algo=dict(
            sdpg=dict(critic_lr=2e-4, tau=0.01, auto_alpha=True, target_std=0.15),
            ppo=_LOCOMOTION_PPO,
            distill=dict(num_envs=32, horizon=32, init_logstd=-1.0, actor_hidden=(128, 64, 32), encoder_dim=128,
                         epochs=20000),
        ),
        algo_obs=_sdpg_epochs(10000, 20000),
    ),
    "walker": TaskDefaults(
        shared=dict(horizon=32, actor_hidden=(128, 64, 32), critic_hidden=(64, 64), encoder_dim=128),
        algo=dict(
            sdpg=dict(critic_lr=2e-4, tau=0.01, auto_alpha=True, target_std=0.15),
            ppo=_LOCOMOTION_PPO,
            distill=dict(num_envs=32, horizon=48, init_logstd=-1.0, actor_hidden=(128, 64, 32), encoder_dim=128,
                         epochs=20000),
        ),
        algo_obs=_sdpg_epochs(20000, 20000),
    ),
    "ant": TaskDefaults(
        shared=dict(horizon=32, actor_hidden=(256, 64, 32), critic_hidden=(64, 64), encoder_dim=256),
        algo=dict(
            sdpg=dict(critic_lr=2e-3, critic_lr_schedule="linear", tau=0.2, alpha=0.0, auto_alpha=False),
            ppo={**_LOCOMOTION_PPO, "ppo_epochs": 1},
            distill=dict(num_envs=32, horizon=64, init_logstd=0.0, actor_hidden=(256, 64, 32), encoder_dim=256,
                         epochs=20000),
        ),
        algo_obs=_sdpg_epochs(10000, 20000),
    ),
    "humanoid": TaskDefaults(
        shared=dict(horizon=16, actor_hidden=(256, 128), critic_hidden=(128, 128), encoder_dim=256, logstd_min=-2.2,
                    logstd_max=0.0),
        algo=dict(
            sdpg=dict(critic_lr=5e-4, critic_lr_schedule="linear", tau=0.2, alpha=1e-2, auto_alpha=False),
            ppo=dict(num_envs=4096, horizon=32, ppo_minibatches=16, ppo_epochs=5, actor_hidden=(512, 256, 128),
                     critic_hidden=(512, 256, 128), epochs=2000),
            distill=dict(num_envs=32, horizon=256, init_logstd=-1.0, actor_hidden=(128, 64, 32), encoder_dim=128,
                         epochs=120000),
        ),
        algo_obs=_sdpg_epochs(100000, 200000),
    ),
    "reacher": _SMALL,
    "pointmass": _SMALL,
    # Ego-centric tasks (the authors' genesis_*_vis.yaml; the state variants genesis_<task>.yaml
    # where they differ): the critic MLP stands in for their critic of a proprioception MLP and a
    # height-sample MLP under one value head. PPO: cfgs/agent/ppo/genesis_<task>.yaml (walker_hurdle
    # has none: the walker's); minibatches = worlds * horizon / their minibatch_size, value
    # coefficient = their critic_coef / 2 (rl_games halves it), time-out bootstrapping as their
    # value_bootstrap (unset: off).
    "walker_hurdle": TaskDefaults(
        shared=dict(horizon=32, actor_hidden=(256, 128), proprio_hidden=(256,), encoder_dim=256,
                    critic_hidden=(256, 128)),
        algo=dict(
            sdpg=dict(actor_lr=1e-3, critic_lr=2e-4, tau=0.01, alpha=0.0, auto_alpha=False),
            ppo=dict(num_envs=1024, horizon=32, ppo_minibatches=4, ppo_epochs=5, ppo_lr=3e-4, ppo_desired_kl=0.008,
                     ppo_reward_scale=0.01, ppo_bootstrap_timeouts=False, actor_hidden=(128, 64, 32),
                     critic_hidden=(128, 64, 32), epochs=2000),
            distill=_EGO_DISTILL,
        ),
        algo_obs={("sdpg", "state"): dict(actor_lr=2e-3, epochs=5000), ("sdpg", "pixels"): dict(epochs=10000)},
    ),
    "g1_hurdle": TaskDefaults(
        shared=dict(horizon=16, actor_hidden=(256, 128), proprio_hidden=(256,), encoder_dim=256,
                    critic_hidden=(256, 128)),
        algo=dict(
            sdpg=dict(actor_lr=1e-3, critic_lr=5e-4, critic_lr_schedule="linear", tau=0.2, alpha=1e-2, auto_alpha=True,
                      target_std=0.15),
            ppo=dict(num_envs=4096, horizon=32, ppo_minibatches=16, ppo_epochs=5, ppo_lr=3e-4, ppo_desired_kl=0.008,
                     ppo_reward_scale=1.0, ppo_bootstrap_timeouts=False, actor_hidden=(256, 128, 128),
                     critic_hidden=(256, 128, 128), epochs=10000),
            distill=_EGO_DISTILL,
        ),
        algo_obs={("sdpg", "state"): dict(actor_lr=2e-3, epochs=100000), ("sdpg", "pixels"): dict(epochs=100000)},
    ),
    # genesis_go2_terrain.yaml / genesis_go2_vis.yaml: fixed std (log-std 0, no entropy term), no
    # target critic (target_critic_alpha 0), 5 critic passes; their constant actor rate and reward
    # scale 10 have no counterpart here. The pixel actor sees 20 steps of proprioception, and its
    # depth is the RealSense format of the real robot: one frame rendered at 60 x 106, the last 2
    # rows and 4 columns each side cut off, resampled to 58 x 87, clipped to 2 m and mapped to
    # [-0.5, 0.5], through the small depth encoder with 32 outputs.
    "go2_terrain": TaskDefaults(
        shared=dict(horizon=24, actor_hidden=(512, 256, 128), proprio_hidden=(256, 128), encoder_dim=256,
                    critic_hidden=(512, 256, 128), init_logstd=0.0),
        obs=dict(
            depth=dict(frames=1, render_hw=(60, 106), image_crop=(0, 2, 4, 4), image_hw=(58, 87), depth_far=2.0,
                       encoder="depth_small", encoder_dim=32, proprio_history=20),
            rgb=dict(proprio_history=20),
        ),
        algo=dict(
            sdpg=dict(actor_lr=5e-4, critic_lr=5e-4, critic_lr_schedule="linear", tau=0.0, critic_iterations=5,
                      fixed_std=True, alpha=0.0, auto_alpha=False),
            ppo=dict(num_envs=4096, horizon=24, ppo_minibatches=4, ppo_epochs=5, ppo_lr=1e-3, ppo_desired_kl=0.01,
                     ppo_entropy_coef=0.01, ppo_value_coef=0.5, ppo_reward_scale=1.0, ppo_bootstrap_timeouts=True,
                     actor_hidden=(512, 256, 128), critic_hidden=(512, 256, 128), epochs=2000),
            distill=_EGO_DISTILL,
        ),
        algo_obs=_sdpg_epochs(50000, 50000),
    ),
    # genesis_allegro_hand_vis.yaml / genesis_shadow_hand_vis.yaml (both alike): their proprioception
    # MLP [1024, 256] and actor head [256, 128]; their critic [1024, 512, 256, 128]; no entropy term
    # (their entropy block is commented out; the paper's Table 6: "Ent.: no").
    "allegro_hand": TaskDefaults(
        shared=_IN_HAND_SHARED,
        algo=dict(
            sdpg=_IN_HAND_SDPG,
            ppo=dict(num_envs=4096, horizon=16, ppo_minibatches=2, ppo_epochs=5, ppo_lr=5e-4, ppo_desired_kl=0.016,
                     ppo_reward_scale=0.01, ppo_bootstrap_timeouts=False, actor_hidden=(1024, 512, 256, 128),
                     critic_hidden=(1024, 512, 256, 128), epochs=5000),
            distill=_EGO_DISTILL,
        ),
        algo_obs=_sdpg_epochs(5000, 5000),
    ),
    "shadow_hand": TaskDefaults(
        shared=_IN_HAND_SHARED,
        algo=dict(
            sdpg=_IN_HAND_SDPG,
            ppo=dict(num_envs=4096, horizon=24, ppo_minibatches=4, ppo_epochs=8, ppo_lr=1e-4, ppo_desired_kl=0.016,
                     ppo_reward_scale=0.01, ppo_bootstrap_timeouts=True, actor_hidden=(1024, 512, 256, 128),
                     critic_hidden=(1024, 512, 256, 128), epochs=10000),
            distill=_EGO_DISTILL,
        ),
        algo_obs=_sdpg_epochs(5000, 5000),
    ),
    # genesis_franka_vis.yaml: horizon 64, no entropy term (log-std from 0), target critic 0.2,
    # proprioception MLP 1024-128, heads 1024-512-256-128, one RGB frame; genesis_franka.yaml (state):
    # horizon 32, heads 512-256-128. SDPG's log-std starts at FRANKA_INIT_LOGSTD, not their 0: their
    # action moves the joint targets by 0.04 a per step, ours sets them to default + 1.0 a, so a std
    # of 1 throws the hand into the table (episode over) every few steps.
    "franka_pick_cube": TaskDefaults(
        shared=dict(horizon=64, actor_hidden=(1024, 512, 256, 128), proprio_hidden=(1024, 128), encoder_dim=256,
                    critic_hidden=(1024, 512, 256, 128), init_logstd=0.0, frames=1),
        algo=dict(
            sdpg=dict(actor_lr=2e-3, critic_lr=5e-4, critic_lr_schedule="linear", tau=0.2, alpha=0.0, auto_alpha=False,
                      init_logstd=FRANKA_INIT_LOGSTD),
            ppo=dict(num_envs=4096, horizon=24, ppo_minibatches=4, ppo_epochs=8, ppo_lr=1e-4, ppo_desired_kl=0.01,
                     ppo_entropy_coef=0.001, ppo_reward_scale=0.01, ppo_bootstrap_timeouts=False,
                     actor_hidden=(256, 128, 64), critic_hidden=(256, 128, 64), epochs=2000),
            distill=_EGO_DISTILL,
        ),
        algo_obs={("sdpg", "state"): dict(horizon=32, actor_hidden=(512, 256, 128), critic_hidden=(512, 256, 128),
                                          epochs=5000),
                  ("sdpg", "pixels"): dict(epochs=10000)},
    ),
    # genesis_aloha_insertion_vis.yaml: 48 nominal worlds, horizon 64, no entropy term, target critic
    # 0.2; one encoder per camera (table 256, each wrist 32), 64 x 64 images without frame stacking,
    # proprioception MLP 256, heads 512-256-128; the state variant: 64 worlds, horizon 32.
    "aloha_insertion": TaskDefaults(
        shared=dict(horizon=64, actor_hidden=(512, 256, 128), proprio_hidden=(256,), encoder_dim=256,
                    camera_encoder_dims=(256, 32, 32), image_size=64, frames=1, critic_hidden=(512, 256, 128),
                    init_logstd=0.0),
        algo=dict(
            sdpg=dict(num_nominal=48, actor_lr=2e-3, critic_lr=2e-3, critic_lr_schedule="linear", tau=0.2, alpha=0.0,
                      auto_alpha=False),
            ppo=dict(num_envs=4096, horizon=40, ppo_minibatches=8, ppo_epochs=8, ppo_lr=1e-4, ppo_desired_kl=0.016,
                     ppo_entropy_coef=0.001, ppo_reward_scale=1.0, ppo_bootstrap_timeouts=True,
                     actor_hidden=(256, 256, 256, 256), critic_hidden=(256, 256, 256, 256), epochs=4000),
            distill=_EGO_DISTILL,
        ),
        algo_obs={("sdpg", "state"): dict(num_nominal=64, horizon=32, epochs=20000),
                  ("sdpg", "pixels"): dict(epochs=40000)},
    ),
}
"""Task name -> its defaults (a task without an entry takes the sections' defaults)."""
