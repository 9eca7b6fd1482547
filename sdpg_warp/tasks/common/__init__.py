"""Plumbing every task shares, apart from any one task's logic.

- :mod:`~sdpg_warp.tasks.common.streams`: the random streams (one key per (seed, world, reset
  count)) and each scene generator's stream offset, in one table;
- :mod:`~sdpg_warp.tasks.common.guards`: the blow-up guard and the task-metric carry-over;
- :mod:`~sdpg_warp.tasks.common.rewards`: reward sums and the action cost;
- :mod:`~sdpg_warp.tasks.common.rotations`: quaternions read from qpos;
- :mod:`~sdpg_warp.tasks.common.contacts`: per-world contact flags from mujoco_warp's contact list;
- :mod:`~sdpg_warp.tasks.common.actuators`: turning a robot's motors into position servos;
- :mod:`~sdpg_warp.tasks.common.task_memory`: per-world task memory in mocap bodies (its layout,
  reads and writes).
"""
