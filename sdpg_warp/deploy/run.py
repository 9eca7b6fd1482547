"""Episodes of an exported policy on a :class:`Robot`: observations assembled from its readings,
rewards and termination in NumPy, the control loop's deadline, and the training simulator's
evaluation of the same policy for comparison."""

import dataclasses
import os
from typing import Optional

import numpy as np

from sdpg_warp.deploy.camera import CameraStack
from sdpg_warp.deploy.mujoco_robot import MuJoCoRobot
from sdpg_warp.deploy.observations import proprioception, state_observation
from sdpg_warp.deploy.policy import OnnxPolicy, PolicySpec
from sdpg_warp.deploy.robot import ControlLoop


def _render_hw(config: dict) -> tuple[int, int]:
    """(height, width) the run's camera rendered: ``render_hw``, or ``image_size`` square."""
    return tuple(config.get("render_hw") or ()) or (config["image_size"], config["image_size"])


def task_settings(config: dict) -> dict:
    """The task settings a run overrides (``episode_length``, ``frame_skip``), as ``TrainConfig.task_settings``."""
    return {name: config[name] for name in ("episode_length", "frame_skip") if config.get(name) is not None}


def make_robot(task, config: dict, randomization=None) -> MuJoCoRobot:
    """The C MuJoCo robot of ``task`` with the cameras, resolution and depth format of the run
    ``config``; ``randomization`` (a :class:`~sdpg_warp.randomization.Randomization`) draws its
    physics per episode."""
    if config["obs"] == "state":
        return MuJoCoRobot(task, randomization=randomization)

    def cameras(mjm):
        return CameraStack(mjm, task.cameras, config["obs"], config["frames"], _render_hw(config),
                           config.get("image_crop") or (), config.get("image_hw") or (), config.get("depth_far"))

    return MuJoCoRobot(task, cameras, randomization)


class Observer:
    """The policy's inputs (ONNX input name -> array) from a robot's readings: state rows, camera
    stacks, and for ego-centric tasks the proprioception (its last ``proprio_history`` steps, zeros
    before the episode's first)."""

    def __init__(self, task, config: dict):
        self.task = task
        self.obs = config["obs"]
        self.history = max(1, int(config.get("proprio_history", 1)))
        self._proprio = None

    def reset(self) -> None:
        """Forgets the proprioception history (a new episode)."""
        self._proprio = None

    def __call__(self, robot: MuJoCoRobot, first: bool) -> dict:
        d = robot.read()
        if self.obs == "state":
            return {"obs": state_observation(self.task, robot.model, d, robot.action)}
        images = robot.images(refill=first)
        if not self.task.proprio_dim:
            return {"obs": images}
        current = proprioception(self.task, robot.model, d, robot.rules.observed_action(robot.action))
        if first or self._proprio is None:
            self._proprio = np.zeros((self.history, current.size), dtype=np.float32)
        self._proprio = np.concatenate([self._proprio[1:], current[None]])
        if self.history > 1:
            return {"images": images, "proprio_history": self._proprio}
        return {"images": images, "proprio": self._proprio[0]}


@dataclasses.dataclass
class Episode:
    """One finished episode: its return, length, whether it terminated (else truncated), and the
    task metrics at its end."""

    ret: float
    steps: int
    terminated: bool
    metrics: dict


def run_episode(robot, policy: OnnxPolicy, observer: Observer, loop: ControlLoop, seed, episode_length: int,
                frame=None) -> Episode:
    """One episode from the start pose of ``seed``: each tick reads, observes, acts and writes
    within ``loop``'s deadline, then the robot advances; ``frame(robot)`` is called after every
    tick (a video)."""
    robot.reset(seed)
    observer.reset()
    total, step, terminated, metrics = 0.0, 0, False, {}
    while step < episode_length and not terminated:
        first = step == 0
        loop.tick(lambda: robot.write(policy.act(observer(robot, first))))
        robot.advance()
        reward, terminated, metrics = robot.rules.step(robot.model, robot.data, robot.action)
        total += reward
        step += 1
        if frame is not None:
            frame(robot)
    return Episode(total, step, terminated, metrics)


def deploy(onnx_path: str, spec: PolicySpec, episodes: int, seed: int, video: Optional[str] = None,
           progress=print, randomization=None) -> dict:
    """``episodes`` episodes of the exported policy in C MuJoCo, episode k from seed (seed, k);
    ``randomization`` draws each episode's physics (``deploy --randomize``).

    Returns {"returns", "mean_return", "latency_median_ms", "latency_p99_ms", "missed_deadlines",
    "ticks", "control_period_ms"}."""
    from sdpg_warp.tasks import make_task

    task = make_task(spec.task, **task_settings(spec.config))
    policy = OnnxPolicy(onnx_path)
    robot = make_robot(task, spec.config, randomization)
    observer = Observer(task, spec.config)
    loop = ControlLoop(robot.control_period)
    close_video, frame = _video(video, robot) if video else (None, None)
    returns = []
    try:
        for k in range(episodes):
            episode = run_episode(robot, policy, observer, loop, (seed, k), task.episode_length, frame)
            returns.append(episode.ret)
            end = "terminated" if episode.terminated else "truncated"
            metrics = "".join(f", {name} {value:.3f}" for name, value in episode.metrics.items())
            progress(f"episode {k}: return {episode.ret:.3f} ({episode.steps} steps, {end}{metrics})")
    except BaseException:
        if close_video is not None:
            close_video()
            os.remove(video)  # a partial video is no result
            close_video = None
        raise
    finally:
        robot.close()
        if close_video is not None:
            close_video()
    return {
        "returns": returns, "mean_return": float(np.mean(returns)),
        "latency_median_ms": policy.latency_ms(0.5), "latency_p99_ms": policy.latency_ms(0.99),
        "missed_deadlines": loop.missed, "ticks": loop.ticks, "control_period_ms": robot.control_period * 1e3,
    }


def _video(path: str, robot: MuJoCoRobot, size: int = 256):
    """(close, per-tick callback) writing the ``track`` camera's third-person view of the robot
    (the actor's first camera where a model has no ``track``) to ``path``."""
    import imageio
    import mujoco

    model = robot.model
    model.vis.global_.offwidth = max(model.vis.global_.offwidth, size)
    model.vis.global_.offheight = max(model.vis.global_.offheight, size)
    renderer = mujoco.Renderer(model, size, size)
    renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SKYBOX] = False
    camera = "track" if mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, "track") >= 0 else robot.task.camera
    fps = int(round(1.0 / robot.control_period))
    writer = (imageio.get_writer(path, duration=1000.0 / fps, loop=0) if path.lower().endswith(".gif")
              else imageio.get_writer(path, fps=fps, macro_block_size=1))

    def frame(robot):
        renderer.update_scene(robot.data, camera=camera)
        writer.append_data(renderer.render())

    def close():
        writer.close()
        renderer.close()

    return close, frame


def warp_mean_return(checkpoint: str, episodes: int, seed: int, randomize_set=None) -> float:
    """The same policy's mean return over ``episodes`` episodes in the training simulator
    (``sdpg_warp.play``: deterministic, ``episodes`` worlds, the resets keyed by ``seed``); with
    ``randomize_set`` (a sequence, possibly empty) under the task's ranges with those over them."""
    from sdpg_warp.play import evaluate

    return evaluate(checkpoint, num_worlds=episodes, episodes=episodes, seed=seed, device="auto",
                    randomize=randomize_set is not None, randomize_set=randomize_set or ())["mean_return"]
