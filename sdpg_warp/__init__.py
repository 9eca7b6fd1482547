"""sdpg_warp: Stochastic Decoupled Policy Gradient on MuJoCo Warp."""

__version__ = "0.1.0"
