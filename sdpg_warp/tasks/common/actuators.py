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


def position_servo(actuator: mujoco.MjsActuator, kp: float, kd: float, default: float, scale: float) -> None:
    """``actuator`` becomes a PD servo, force = kp (target - q) - kd qdot, with targets
    default +- scale."""
    actuator.set_to_position(kp=kp, kv=kd)
    actuator.ctrlrange = [default - scale, default + scale]
    actuator.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
