"""Deployment in C MuJoCo (sdpg_warp.deploy): observations assembled from MjData equal the training
simulator's, images match its renderer within a rendering tolerance, a trained policy earns the
same returns in both simulators from the same start states, the control loop counts missed
deadlines, and bad input stops with one line and exit 2."""

import json
import os
import subprocess
import sys

import mujoco
import numpy as np
import pytest
import torch
import warp as wp

from sdpg_warp.deploy import __main__ as deploy_cli
from sdpg_warp.deploy.camera import CameraStack
from sdpg_warp.deploy.mujoco_robot import MuJoCoRobot
from sdpg_warp.deploy.observations import state_observation
from sdpg_warp.deploy.policy import OnnxPolicy
from sdpg_warp.deploy.robot import ControlLoop
from sdpg_warp.deploy.rules import InHandRules
from sdpg_warp.deploy.run import Observer, run_episode
from sdpg_warp.export import CONFIG_KEY
from sdpg_warp.render import NominalRenderer
from sdpg_warp.sim import BatchedSim
from sdpg_warp.tasks import make_task

CLASSIC = ("hopper", "walker", "ant", "humanoid", "reacher", "pointmass")
STATE_ATOL = 1e-4
"""float32 (training) against float64 (C MuJoCo) of the same state."""
RGB_MEAN_ABS = 32.0
"""Mean |difference| in grey levels (of 255) between the BVH ray caster's and OpenGL's RGB frames of
one state: their shading differs (measured 1.6 (reacher) to 25 (ant) at 32 x 32)."""
DEPTH_RTOL, DEPTH_FRACTION = 0.02, 0.02
"""Depth: at most 2% of the pixels may differ by more than 2% (measured: none at 32 x 32)."""


def _stepped_sim(task: str, device: str) -> BatchedSim:
    """Two nominal worlds after a few steps of random actions."""
    sim = BatchedSim(task, 2, 1, device=device, seed=3)
    sim.reset()
    gen = torch.Generator().manual_seed(0)
    for _ in range(4):
        sim.step((torch.rand(sim.num_worlds, sim.num_actions, generator=gen) * 2 - 1).to(sim.action.device))
        sim.reset_done_episodes()
    return sim


def _mj_data(sim: BatchedSim, world: int) -> tuple[mujoco.MjModel, mujoco.MjData]:
    """A C MuJoCo MjData holding world ``world``'s state, kinematics done."""
    mjm = sim.task.mj_model()
    d = mujoco.MjData(mjm)
    d.qpos[:] = sim.qpos[world].cpu().numpy()
    d.qvel[:] = sim.qvel[world].cpu().numpy()
    if mjm.nmocap:
        d.mocap_pos[:] = wp.to_torch(sim.d.mocap_pos)[world].cpu().numpy()
        d.mocap_quat[:] = wp.to_torch(sim.d.mocap_quat)[world].cpu().numpy()
    mujoco.mj_forward(mjm, d)
    return mjm, d


@pytest.mark.parametrize("task", CLASSIC)
def test_state_observation_matches_training(device, task):
    sim = _stepped_sim(task, device)
    for world in (0, sim.group_size):
        mjm, d = _mj_data(sim, world)
        obs = state_observation(sim.task, mjm, d, sim.action[world].cpu().numpy())
        np.testing.assert_allclose(obs, sim.states[world].cpu().numpy(), atol=STATE_ATOL, rtol=0)


@pytest.mark.parametrize("modality", ["rgb", "depth"])
@pytest.mark.parametrize("task", CLASSIC)
def test_images_match_training_renderer(device, task, modality):
    sim = _stepped_sim(task, device)
    frames = NominalRenderer(sim, 32, 32, 2, modality, camera=sim.task.camera).render().cpu().numpy()
    for n in range(sim.num_nominal):
        mjm, d = _mj_data(sim, n * sim.group_size)
        stack = CameraStack(mjm, sim.task.cameras, modality, 2, (32, 32))
        image = stack.observe(d, refill=True)
        stack.close()
        assert image.shape == frames[n].shape and image.dtype == frames[n].dtype
        if modality == "rgb":
            assert np.abs(image.astype(int) - frames[n].astype(int)).mean() <= RGB_MEAN_ABS
        else:
            bad = np.abs(image - frames[n]) > DEPTH_RTOL * frames[n]
            assert bad.mean() <= DEPTH_FRACTION, f"{task}: {bad.sum()} depth pixels differ"


class _FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_control_loop_counts_missed_deadlines():
    """A policy that takes 1.5 periods misses every deadline; one that takes half a period none, and
    a real-time loop sleeps the rest of the period."""
    clock, slept = _FakeClock(), []
    loop = ControlLoop(0.01, realtime=True, clock=clock, sleep=slept.append)

    def slow():
        clock.now += 0.015

    def fast():
        clock.now += 0.005

    for _ in range(3):
        loop.tick(slow)
    assert (loop.ticks, loop.missed, slept) == (3, 3, [])
    for _ in range(2):
        loop.tick(fast)
    assert (loop.ticks, loop.missed) == (5, 3)
    np.testing.assert_allclose(slept, [0.005, 0.005])


def test_slow_policy_misses_deadlines_on_the_mujoco_robot():
    """The C MuJoCo robot in the loop: a policy slower than the 10 ms hopper tick misses each one."""
    clock = _FakeClock()
    task = make_task("hopper", episode_length=5)
    robot = MuJoCoRobot(task)

    class SlowPolicy:
        def act(self, inputs):
            clock.now += 2 * robot.control_period
            return np.zeros(robot.model.nu)

    loop = ControlLoop(robot.control_period, clock=clock)
    episode = run_episode(robot, SlowPolicy(), Observer(task, {"obs": "state"}), loop, 0, task.episode_length)
    assert episode.steps == loop.ticks == loop.missed
    assert episode.steps >= 1


@pytest.fixture(scope="module")
def hopper_run(tmp_path_factory):
    """A briefly trained hopper (state), its run folder and exported ONNX file."""
    folder = tmp_path_factory.mktemp("deploy")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run([sys.executable, "-m", "sdpg_warp.train", "--task", "hopper", "--obs", "state", "--num-nominal", "4",
                    "--num-aux", "3", "--horizon", "16", "--epochs", "20", "--critic-minibatch", "64", "--threads",
                    "1", "--device", "cpu", "--logger", "none", "--log-dir", str(folder), "--run-name", "hop"],
                   check=True, env=env, capture_output=True)
    run = str(folder / "hop")
    subprocess.run([sys.executable, "-m", "sdpg_warp.export", run, "--out", os.path.join(run, "policy.onnx")],
                   check=True, env=env, capture_output=True)
    return run


SIM2SIM_RTOL = 0.1
"""Returns of one start state in the two simulators: within 10% of the larger |return| (float32
against float64 physics, solver caps of 10 against 100 iterations; measured: at most 0.3 apart, over
returns from -27 to 168)."""


def test_trained_hopper_earns_the_same_returns_in_both_simulators(hopper_run):
    """From the same start states (the training simulator's resets), the exported policy in C MuJoCo
    and the checkpoint's policy in mujoco_warp earn returns within SIM2SIM_RTOL of each other."""
    from sdpg_warp.checkpoint import load_policy

    cfg, actor = load_policy(hopper_run)
    sim = BatchedSim(make_task("hopper"), 4, 0, device="cpu", seed=11)
    sim.reset()
    starts = [(sim.qpos[n].numpy().copy(), sim.qvel[n].numpy().copy()) for n in range(4)]
    warp_returns, running, open_ = np.zeros(4), np.zeros(4), np.ones(4, dtype=bool)
    with torch.no_grad():
        while open_.any():
            mean, _ = actor(sim.states)
            sim.step(torch.tanh(mean))
            running += sim.reward.numpy() * open_
            done = (sim.terminated | sim.truncated).numpy()
            warp_returns[done & open_] = running[done & open_]
            open_ &= ~done
            sim.reset_done_episodes()

    class FromStart(MuJoCoRobot):
        def reset(self, seed):
            super().reset(0)
            self.data.qpos[:], self.data.qvel[:] = starts[seed]
            mujoco.mj_forward(self.model, self.data)

    task = make_task("hopper")
    robot, policy = FromStart(task), OnnxPolicy(os.path.join(hopper_run, "policy.onnx"))
    loop = ControlLoop(robot.control_period)
    mujoco_returns = [run_episode(robot, policy, Observer(task, {"obs": "state"}), loop, n, task.episode_length).ret
                      for n in range(4)]
    np.testing.assert_allclose(mujoco_returns, warp_returns, rtol=0,
                               atol=SIM2SIM_RTOL * np.maximum(np.abs(warp_returns), np.abs(mujoco_returns)).max())


def test_cli_runs_episodes_and_compares_with_training(hopper_run, capsys):
    assert deploy_cli.main([os.path.join(hopper_run, "policy.onnx"), "--task", "hopper", "--episodes", "2",
                            "--seed", "5"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert sum(line.startswith("episode ") for line in lines) == 2
    assert any(line.startswith("latency: median ") for line in lines)
    words = lines[-1].split()
    assert words[0] == "sim2sim:" and words[1] == "mujoco" and words[3] == "warp"
    assert np.isfinite(float(words[2])) and np.isfinite(float(words[4]))


def test_cli_exports_a_run_folder_first(hopper_run, capsys):
    os.remove(os.path.join(hopper_run, "policy.onnx"))
    assert deploy_cli.main([hopper_run, "--episodes", "1", "--no-warp"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == f"exported {os.path.join(hopper_run, 'policy.onnx')}"
    assert lines[-1].startswith("sim2sim: mujoco ") and lines[-1].endswith(" warp skipped")
    assert os.path.isfile(os.path.join(hopper_run, "policy.onnx"))


def _onnx_with_metadata(path, metadata: dict) -> str:
    """A one-node ONNX file (identity) carrying ``metadata``."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["obs"], ["action"])], "g",
                              [helper.make_tensor_value_info("obs", TensorProto.FLOAT, [1, 3])],
                              [helper.make_tensor_value_info("action", TensorProto.FLOAT, [1, 3])])
    model = helper.make_model(graph)
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))
    return str(path)


def _bad_input_cases(tmp_path):
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a protobuf at all \xff\xfe")
    foreign = _onnx_with_metadata(tmp_path / "foreign.onnx", {})
    go2 = _onnx_with_metadata(tmp_path / "go2.onnx", {CONFIG_KEY: json.dumps({"task": "go2_terrain", "obs": "depth"})})
    go2_state = json.dumps({"task": "go2_terrain", "obs": "state"})
    hopper = _onnx_with_metadata(tmp_path / "hopper.onnx", {CONFIG_KEY: json.dumps({"task": "hopper", "obs": "state"})})
    return [
        ([str(tmp_path / "missing.onnx")], {}, "no run folder, checkpoint or ONNX file"),
        ([str(garbage)], {}, "is not an ONNX file"),
        ([foreign], {}, "was not written by python -m sdpg_warp.export"),
        ([hopper, "--task", "walker"], {}, "--task walker but"),
        ([go2], {"MENAGERIE_ROOT": str(tmp_path / "no_menagerie")}, "unitree_go2"),
        ([str(tmp_path)], {}, "no run folder or checkpoint with a config.json"),
        ([hopper, "--episodes", "0"], {}, "--episodes must be >= 1"),
        ([hopper, "--seed", "-1"], {}, "--seed must be in"),
        ([hopper, "--best"], {}, "--epoch and --best pick a checkpoint of a run folder"),
        ([hopper, "--video", str(tmp_path / "out.txt")], {}, "unknown video extension"),
        ([_onnx_with_metadata(tmp_path / "go2_state.onnx", {CONFIG_KEY: go2_state})], {},
         "deploy does not cover task go2_terrain with obs state"),
    ]


def test_bad_input_exits_2_with_one_line_before_torch_loads(tmp_path):
    """Each case in a fresh interpreter: exit 2, one stderr line naming the problem, Torch and Warp
    never imported."""
    probe = ("import sys; from sdpg_warp.deploy.__main__ import main; rc = main(sys.argv[1:]); "
             "assert 'torch' not in sys.modules and 'warp' not in sys.modules, 'heavy import'; sys.exit(rc)")
    for argv, env, message in _bad_input_cases(tmp_path):
        done = subprocess.run([sys.executable, "-c", probe, *argv], env=dict(os.environ, **env), capture_output=True,
                              text=True)
        err = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(err) == 1, (argv, done.stderr)
        assert err[0].startswith("error: ") and message in err[0], (argv, err)


EGO = {
    "go2_terrain": dict(obs="depth", frames=1, render_hw=(60, 106), image_crop=(0, 2, 4, 4), image_hw=(58, 87),
                        depth_far=2.0, proprio_history=4),
    "walker_hurdle": dict(obs="rgb", frames=2, image_size=32, proprio_history=1),
    "g1_hurdle": dict(obs="depth", frames=2, image_size=32, proprio_history=2),
    "franka_pick_cube": dict(obs="rgb", frames=1, image_size=32, proprio_history=1),
    "allegro_hand": dict(obs="rgb", frames=1, image_size=32, proprio_history=1),
    "shadow_hand": dict(obs="depth", frames=1, image_size=32, proprio_history=1),
    "aloha_insertion": dict(obs="rgb", frames=1, image_size=32, proprio_history=1),
}
"""Each covered ego-centric task's observation format in these tests: go2_terrain's own depth format
(docs/ego_tasks.md) with a shorter history, the others small."""
FAR_DEPTH_ATOL, FAR_DEPTH_FRACTION = 0.01, 0.02
"""Depth mapped to [-0.5, 0.5] (go2_terrain, 2 m far): at most 2% of the pixels may differ by more
than 0.01 (2 cm)."""


def _images_agree(config: dict, deployed: np.ndarray, training: np.ndarray) -> None:
    assert deployed.shape == training.shape and deployed.dtype == training.dtype
    if config["obs"] == "rgb":
        assert np.abs(deployed.astype(int) - training.astype(int)).mean() <= RGB_MEAN_ABS
    elif config.get("depth_far"):
        bad = np.abs(deployed - training) > FAR_DEPTH_ATOL
        assert bad.mean() <= FAR_DEPTH_FRACTION, f"{bad.sum()} depth pixels differ"
    else:
        bad = np.abs(deployed - training) > DEPTH_RTOL * training
        assert bad.mean() <= DEPTH_FRACTION, f"{bad.sum()} depth pixels differ"


@pytest.mark.parametrize("task", sorted(EGO))
def test_ego_proprio_history_and_images_match_training(device, task):
    """Step by step, the proprioception (and its history) and the camera stack that deploy assembles
    from MjData equal the training simulator's packed observation of the same state (images within
    the rendering tolerances above)."""
    from sdpg_warp.deploy.run import make_robot
    from sdpg_warp.render.ego import image_observation, unpack

    cfg = EGO[task]
    sim = BatchedSim(task, 2, 1, device=device, seed=5)
    sim.reset()
    training = image_observation(sim, cfg["obs"], cfg.get("image_size", 0), cfg["frames"], False,
                                 cfg.get("render_hw", ()), cfg.get("image_crop", ()), cfg.get("image_hw", ()),
                                 cfg.get("depth_far"), cfg["proprio_history"])
    robot = make_robot(sim.task, cfg)
    observer = Observer(sim.task, cfg)
    history = cfg["proprio_history"]
    gen = torch.Generator().manual_seed(1)
    for step in range(3):
        if step:
            sim.step((torch.rand(sim.num_worlds, sim.num_actions, generator=gen) * 2 - 1).to(sim.action.device))
            assert not sim.fresh.any() and not (sim.terminated | sim.truncated).any()
        images, proprio = unpack(training.render_step(), training.image_shape, sim.task.proprio_dim * history)
        mocap = wp.to_torch(sim.d.mocap_pos)[0].cpu().numpy().copy()
        if isinstance(robot.rules, InHandRules):  # the rules keep what the memory shows after the step
            robot.rules.seen = mocap[1:].reshape(-1)[robot.rules.module.MEM_ACTION:][:robot.model.nu]
        robot.data.qpos[:] = sim.qpos[0].cpu().numpy()
        robot.data.qvel[:] = sim.qvel[0].cpu().numpy()
        robot.data.mocap_pos[:] = mocap
        robot.data.mocap_quat[:] = wp.to_torch(sim.d.mocap_quat)[0].cpu().numpy()
        robot.action[:] = sim.action[0].cpu().numpy()
        mujoco.mj_forward(robot.model, robot.data)
        inputs = observer(robot, first=step == 0)
        deployed = inputs["proprio_history"] if history > 1 else inputs["proprio"][None]
        np.testing.assert_allclose(deployed, proprio[0].reshape(history, -1).cpu(), atol=STATE_ATOL, rtol=0)
        _images_agree(cfg, inputs["images"], images[0].cpu().numpy())
    robot.close()


class _ZeroPolicy:
    def __init__(self, nu: int):
        self.nu = nu

    def act(self, inputs):
        return np.zeros(self.nu)


@pytest.mark.parametrize("task", sorted(EGO))
def test_ego_rules_draw_the_scene_and_score_steps(task):
    """A short C MuJoCo episode of each covered ego-centric task: the reset draws the scene (hurdles
    placed, go2 on a sub-terrain with a command), every step gives a finite reward and the task's
    metrics."""
    from sdpg_warp.deploy.run import make_robot

    cfg = EGO[task]
    t = make_task(task, episode_length=3)
    robot = make_robot(t, cfg)
    episode = run_episode(robot, _ZeroPolicy(robot.model.nu), Observer(t, cfg), ControlLoop(robot.control_period),
                          (2, 0), t.episode_length)
    assert episode.steps == 3 and np.isfinite(episode.ret)
    assert tuple(episode.metrics) == t.metric_names
    starts = []
    for k in range(2):
        robot.reset((2, k))
        starts.append(np.concatenate([robot.data.qpos, robot.data.mocap_pos.ravel()]))
    assert not np.allclose(*starts), "each episode draws its own scene"
    robot.close()


@pytest.mark.parametrize("task", ("allegro_hand", "shadow_hand"))
def test_in_hand_rules_show_the_last_action_sent(task):
    """As training's observation: the joints as an action after a reset, then the action of the step
    just scored (no lag of a step)."""
    from sdpg_warp.deploy.run import make_robot

    robot = make_robot(make_task(task), EGO[task])
    robot.reset((2, 0))
    mjm, nu = robot.model, robot.model.nu
    lo, hi = mjm.actuator_ctrlrange.T
    q = robot.data.qpos[mjm.jnt_qposadr[mjm.actuator_trnid[:, 0]]]
    np.testing.assert_allclose(robot.rules.observed_action(np.zeros(nu)), (q - lo) / (hi - lo) * 2 - 1, atol=1e-12)
    for value in (0.5, -0.25):
        action = np.full(nu, value)
        mujoco.mj_forward(mjm, robot.data)
        robot.rules.step(mjm, robot.data, action)
        np.testing.assert_array_equal(robot.rules.observed_action(action), action)
    robot.close()


def test_model_randomizer_writes_what_the_training_draw_writes(device):
    """With every range one value wide, C MuJoCo's per-episode draw (deploy --randomize) leaves the
    model fields exactly as the training simulator's draw leaves each of its worlds; the nominal
    values come back at the next draw."""
    from sdpg_warp.deploy.randomize import ModelRandomizer
    from sdpg_warp.randomization import Randomization

    spec = Randomization(friction=(0.7, 0.7), added_mass=(0.5, 0.5), com_offset=(0.01, 0.01), kp_scale=(1.2, 1.2),
                         kd_scale=(0.9, 0.9), motor_offset=(0.02, 0.02), damping_scale=(1.5, 1.5),
                         armature_scale=(2.0, 2.0))
    task = make_task("hopper")
    sim = BatchedSim(task, 2, 1, device=device, seed=3, randomize=spec)
    sim.reset()
    model = task.mj_model()
    nominal = model.body_mass.copy()
    randomizer = ModelRandomizer(model, spec)
    randomizer.draw(np.random.default_rng(0))
    fields = ("geom_friction", "body_mass", "body_subtreemass", "body_inertia", "body_ipos", "actuator_gainprm",
              "actuator_biasprm", "dof_damping", "dof_armature")
    for field in fields:
        trained = sim.world_values(field).cpu().numpy()
        for world in range(sim.num_worlds):
            np.testing.assert_allclose(getattr(model, field), trained[world].reshape(getattr(model, field).shape),
                                       rtol=1e-6, atol=1e-7, err_msg=field)
    randomizer.spec = spec
    randomizer.ranges = {}
    randomizer.draw(np.random.default_rng(0))
    np.testing.assert_array_equal(model.body_mass, nominal)


def test_cli_randomize_draws_the_physics_of_both_simulators(hopper_run, capsys):
    """--randomize with ranges at the nominal values changes nothing; weak motors change the
    returns; bad choices stop with one line."""
    onnx = os.path.join(hopper_run, "policy.onnx")
    if not os.path.isfile(onnx):
        assert deploy_cli.main([hopper_run, "--episodes", "1", "--no-warp"]) == 0
    common = [onnx, "--episodes", "2", "--seed", "4"]
    assert deploy_cli.main(common) == 0
    plain = capsys.readouterr().out.strip().splitlines()[-1]
    assert deploy_cli.main([*common, "--randomize", "--randomize-set", "kp_scale=1,1"]) == 0
    neutral = capsys.readouterr().out.strip().splitlines()[-1]
    assert deploy_cli.main([*common, "--randomize", "--randomize-set", "kp_scale=0.3,0.4"]) == 0
    heavy = capsys.readouterr().out.strip().splitlines()[-1]
    assert neutral == plain and heavy.split()[2] != plain.split()[2] and heavy.split()[4] != plain.split()[4]
    assert deploy_cli.main([onnx, "--randomize"]) == 2  # the hopper has no ranges of its own
    assert deploy_cli.main([onnx, "--randomize-set", "damping_scale=1,2"]) == 2
    assert deploy_cli.main([onnx, "--randomize", "--randomize-set", "damping_scale=2,1"]) == 2
    assert capsys.readouterr().err.count("\n") == 3
