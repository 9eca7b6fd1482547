"""A robot's motors turned into PD position servos on its ``mujoco.MjSpec``: an action in [-1, 1]
spans each servo's target range linearly (the simulator maps it onto ``ctrlrange``)."""

import mujoco


def actuators_by_joint(spec: mujoco.MjSpec, joints: tuple[str, ...], source: str) -> dict:
    """{joint name: its actuator}; raises ValueError unless the actuated joints are exactly
    ``joints`` (``source`` names the file in the message)."""
    actuators = {actuator.target: actuator for actuator in spec.actuators}
    if sorted(actuators) != sorted(joints):
        raise ValueError(f"{source}: actuated joints {sorted(actuators)} are not the task's {sorted(joints)}")
    return actuators


def target_range(actuator: mujoco.MjsActuator, default: float, scale: float) -> None:
    """A position servo's targets: default +- scale (its control range, which an action in
    [-1, 1] spans)."""
    actuator.ctrlrange = [default - scale, default + scale]
    actuator.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE


def position_servo(actuator: mujoco.MjsActuator, kp: float, kd: float, default: float, scale: float) -> None:
    """``actuator`` becomes a PD servo, force = kp (target - q) - kd qdot, with targets
    default +- scale."""
    actuator.set_to_position(kp=kp, kv=kd)
    target_range(actuator, default, scale)


def set_armature(spec: mujoco.MjSpec, armature: float) -> None:
    """Every actuated joint gets the rotor inertia ``armature``."""
    for actuator in spec.actuators:
        spec.joint(actuator.target).armature = armature
