"""Peak contacts and constraint rows per world of the tasks in C MuJoCo, and blow-ups.

What ``Task.max_contacts`` / ``Task.max_constraints`` must hold: the peaks over random policies
(uniform in [-1, 1] and bang-bang +-1), each with and without early termination, plus settling
with zero action from lying poses (on the side, upside down). Tasks on a terrain start on a drawn
sub-terrain. Tasks with a hurdle track draw one per
episode with its first hurdle 0.3 m ahead of the start, so that hurdle contacts count. A blow-up is an episode that ends
with a non-finite state (C MuJoCo's bad-acceleration reset included) or a joint speed above 100;
the deepest floor penetration and the fastest joint speed are reported too.
``--timestep 0.01 --frame-skip 1`` runs the same protocol with one 10 ms physics step per
environment step, to compare blow-ups against the tasks' 2 x 5 ms.

Prints one line per task, then one JSON object.

  python tools/contact_budget.py --task hopper walker ant humanoid --steps 30000
"""

import argparse
import json
import math

import mujoco
import numpy as np

from sdpg_warp.tasks import aloha_insertion, franka_pick_cube, in_hand, make_task
from sdpg_warp.tasks.base import TaskInputs
from sdpg_warp.tasks.hopper import MAX_SPEED


def _reset(task, mjm, data, rng):
    """The task's reset distribution: its initial qpos + U(-noise, noise), free-joint quaternions renormalized."""
    mujoco.mj_resetData(mjm, data)
    data.qpos[:] = task.initial_qpos(mjm) + rng.uniform(-task.reset_noise_qpos, task.reset_noise_qpos, mjm.nq)
    data.qvel[:] = rng.uniform(-task.reset_noise_qvel, task.reset_noise_qvel, mjm.nv)
    if mjm.jnt_type[0] == mujoco.mjtJoint.mjJNT_FREE:
        data.qpos[3:7] /= np.linalg.norm(data.qpos[3:7])
    _hurdles_in_reach(task, mjm, data, rng)
    _on_terrain(task, data, rng)
    _in_hand_start(task, mjm, data, rng)
    _place_cube(task, mjm, data, rng)
    if task.name == "aloha_insertion":
        data.qpos[:] = aloha_insertion.np_sample_start(mjm, rng)


def _in_hand_start(task, mjm, data, rng):
    """In-hand tasks: joints, cube and goal drawn as the task's reset draws them."""
    if not isinstance(task, in_hand.InHandTask):
        return
    hand = task.hand
    low, high = mjm.actuator_ctrlrange.T
    joints = mjm.jnt_qposadr[mjm.actuator_trnid[:, 0]]
    default = np.clip(hand.default_pose, low, high)
    data.qpos[joints] = np.clip(default + (rng.random(hand.num_joints) - 0.5) * in_hand.JOINT_NOISE * (high - low),
                                low, high)
    nj = hand.num_joints
    data.qpos[nj:nj + 3] = np.array(hand.cube_pos) + (rng.random(3) - 0.5) * in_hand.CUBE_NOISE
    data.qpos[nj + 3:nj + 7] = [1.0, 0.0, 0.0, 0.0]
    axis = [1.0, 0.0, 0.0] if rng.random() < 0.5 else [0.0, 1.0, 0.0]
    mujoco.mju_axisAngle2Quat(data.mocap_quat[in_hand.GOAL_BODY], np.array(axis),
                              rng.uniform(in_hand.GOAL_ANGLE_MIN, in_hand.GOAL_ANGLE_MAX))


def _place_cube(task, mjm, data, rng):
    """franka_pick_cube: the start pose, cube and target drawn as the task's reset draws them."""
    if task.name == "franka_pick_cube":
        data.qpos[:] = franka_pick_cube.start_qpos(mjm)
        cube, target = franka_pick_cube.np_sample_scene(rng)
        data.qpos[franka_pick_cube.CUBE_QPOS:franka_pick_cube.CUBE_QPOS + 3] = cube
        data.mocap_pos[franka_pick_cube.TARGET_BODY] = target


def _cube_in_hand(mjm):
    """franka_pick_cube: the default pose with the cube's centre at the gripper point, and that pose
    with the gripper 2 cm into the table (the hand pressing the cube down): settled with the
    gripper closing and the arm held."""
    data = mujoco.MjData(mjm)
    data.qpos[:] = franka_pick_cube.start_qpos(mjm)
    mujoco.mj_kinematics(mjm, data)
    hand = data.xmat[mjm.body("hand").id].reshape(3, 3)
    fingers = [data.xpos[mjm.body(name).id] for name in franka_pick_cube.FINGERS]
    gripper = 0.5 * (fingers[0] + fingers[1]) + hand @ np.array(franka_pick_cube.GRIPPER_OFFSET)
    poses = []
    for drop in (0.0, gripper[2] - franka_pick_cube.CUBE_HALF + 0.02):
        qpos = franka_pick_cube.start_qpos(mjm)
        qpos[franka_pick_cube.CUBE_QPOS:franka_pick_cube.CUBE_QPOS + 3] = gripper - [0.0, 0.0, drop]
        qpos[franka_pick_cube.CUBE_QPOS + 2] = max(qpos[franka_pick_cube.CUBE_QPOS + 2], franka_pick_cube.CUBE_HALF)
        poses.append(qpos)
    return poses


def _on_terrain(task, data, rng):
    """Tasks on a terrain (go2_terrain): the start moved onto a uniformly drawn sub-terrain, as the
    task's reset does."""
    start_points = getattr(task, "start_points", None)
    if start_points is not None:
        points = start_points()
        data.qpos[:3] += points[rng.integers(len(points))]


def _hurdles_in_reach(task, mjm, data, rng):
    """Tasks with a hurdle track: a track as the task draws it, moved back so that its first hurdle
    stands 0.3 m ahead of the start, where the random policies meet it."""
    track = getattr(task, "track", None)
    if track is None:
        return
    pos = track.sample(rng)
    pos[:, 0] += mjm.qpos0[0] + 0.3 - pos[0, 0]
    data.mocap_pos[: track.num_hurdles] = pos


def _done(task, mjm, data, action) -> bool:
    """The task's early termination in C MuJoCo (its NumPy reference on the world's inputs)."""
    return task.reference(TaskInputs.from_mujoco(task, mjm, data, action))[2]


def _lying_poses(task, mjm):
    """qpos of the robot on its side and upside down, the torso 0.3 m above the floor (none for
    robots fixed to the world)."""
    poses = []
    if mjm.jnt_type[0] != mujoco.mjtJoint.mjJNT_FREE and mujoco.mj_name2id(mjm, mujoco.mjtObj.mjOBJ_JOINT, "rootz") < 0:
        return poses
    for angle in (0.5 * math.pi, math.pi):
        qpos = task.initial_qpos(mjm)
        if mjm.jnt_type[0] == mujoco.mjtJoint.mjJNT_FREE:
            qpos[2] = 0.3
            qpos[3:7] = [math.cos(angle / 2), math.sin(angle / 2), 0.0, 0.0]
        else:  # planar: rootx, rootz, rooty; rootz is the height above the torso's start
            qpos[mjm.joint("rootz").qposadr[0]] = 0.3 - mjm.body("torso").pos[2]
            qpos[mjm.joint("rooty").qposadr[0]] = angle
        poses.append(qpos)
    return poses


class _Peaks:
    def __init__(self):
        self.contacts = 0
        self.rows = 0
        self.blowups = 0
        self.episodes = 0
        self.penetration = 0.0
        self.speed = 0.0

    def step(self, mjm, data, nstep):
        """nstep physics steps; True when the state blew up."""
        for _ in range(nstep):
            mujoco.mj_step(mjm, data)
            self.contacts = max(self.contacts, data.ncon)
            self.rows = max(self.rows, data.nefc)
            if data.ncon:
                self.penetration = max(self.penetration, -float(np.min(data.contact.dist[: data.ncon])))
        bad_acc = data.warning[mujoco.mjtWarning.mjWARN_BADQACC].number > 0
        data.warning[mujoco.mjtWarning.mjWARN_BADQACC].number = 0
        finite = np.all(np.isfinite(data.qpos)) and np.all(np.isfinite(data.qvel))
        speed = float(np.max(np.abs(data.qvel)))
        if finite:
            self.speed = max(self.speed, speed)
        return bad_acc or not finite or speed > MAX_SPEED


def measure(name: str, steps: int, timestep: float | None, frame_skip: int | None, seed: int = 0) -> dict:
    task = make_task(name)
    mjm = task.mj_model()
    if timestep is not None:
        mjm.opt.timestep = timestep
    nstep = task.frame_skip if frame_skip is None else frame_skip
    data = mujoco.MjData(mjm)
    rng = np.random.default_rng(seed)
    low, high = mjm.actuator_ctrlrange.T.copy()
    low[~mjm.actuator_ctrllimited.astype(bool)], high[~mjm.actuator_ctrllimited.astype(bool)] = -1.0, 1.0
    peaks = _Peaks()
    for policy in ("uniform", "bang_bang"):
        for terminate in (True, False):
            _reset(task, mjm, data, rng)
            length = 0
            for _ in range(steps):
                action = rng.uniform(-1.0, 1.0, mjm.nu)
                if policy == "bang_bang":
                    action = np.sign(action)
                data.ctrl[:] = low + 0.5 * (action + 1.0) * (high - low)  # as the simulator maps actions
                blew_up = peaks.step(mjm, data, nstep)
                length += 1
                done = blew_up or length >= task.episode_length
                if terminate and not blew_up:
                    done = done or _done(task, mjm, data, action)
                if done:
                    peaks.blowups += int(blew_up)
                    peaks.episodes += 1
                    _reset(task, mjm, data, rng)
                    length = 0
    if name == "franka_pick_cube":
        # The arm's targets 0.6 rad down at the shoulder (the hand driven into the table); the
        # gripper closing on the cube.
        hold = 0.5 * (low + high)
        hold[1] += 0.6
        hold[-1] = low[-1]
        for qpos in _cube_in_hand(mjm):
            mujoco.mj_resetData(mjm, data)
            data.qpos[:] = qpos
            data.ctrl[:] = hold
            for _ in range(300):
                peaks.blowups += int(peaks.step(mjm, data, nstep))
    if name == "aloha_insertion":
        # Both grippers driven down onto the table (shoulders 0.6 rad forward), closing.
        hold = 0.5 * (low + high)
        hold[[1, 8]] += 0.6
        hold[[6, 13]] = low[[6, 13]]
        mujoco.mj_resetData(mjm, data)
        data.qpos[:] = aloha_insertion.start_qpos(mjm)
        data.ctrl[:] = hold
        for _ in range(300):
            peaks.blowups += int(peaks.step(mjm, data, nstep))
    for qpos in _lying_poses(task, mjm):
        mujoco.mj_resetData(mjm, data)
        data.qpos[:] = qpos
        _hurdles_in_reach(task, mjm, data, rng)
        _on_terrain(task, data, rng)
        for _ in range(300):
            peaks.blowups += int(peaks.step(mjm, data, nstep))
    return {
        "max_contacts": int(peaks.contacts),
        "max_constraint_rows": int(peaks.rows),
        "budget_contacts": task.max_contacts,
        "budget_constraints": task.max_constraints,
        "blowup_episodes": peaks.blowups,
        "max_penetration_m": round(peaks.penetration, 4),
        "max_joint_speed": round(peaks.speed, 1),
        "episodes": peaks.episodes,
        "timestep": float(mjm.opt.timestep),
        "frame_skip": nstep,
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", nargs="+", default=["hopper", "walker", "ant", "humanoid"])
    parser.add_argument("--steps", type=int, default=30000, help="environment steps per policy and setting")
    parser.add_argument("--timestep", type=float, default=None, help="physics dt (default: the MJCF's)")
    parser.add_argument("--frame-skip", type=int, default=None, help="physics steps per env step")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    results = {}
    for name in args.task:
        row = measure(name, args.steps, args.timestep, args.frame_skip, args.seed)
        results[name] = row
        print(f"{name}: " + ", ".join(f"{k} {v}" for k, v in row.items()), flush=True)
    print(json.dumps(results))
    return results


if __name__ == "__main__":
    main()
