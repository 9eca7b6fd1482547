"""Batched ray-cast rendering of the N nominal worlds into a zero-copy frame stack.

``NominalRenderer(sim, width, height, frames, modality)`` renders the ``track`` camera of the N
nominal worlds only (world n*(M+1) of the simulator) and keeps the last ``frames`` frames of each,
newest last, in one fixed Warp buffer that Torch reads through ``wp.to_torch``:

  gather (our kernel: qpos, mocap of the nominal worlds -> a private N-world mjw.Data)
  -> mjw.kinematics (+ com_pos for com-tracking cameras/lights) + mjw.camlight
  -> mjw.refit_bvh -> mjw.render (BVH megakernel, one camera, RGB or depth only)
  -> push (our kernel: unpack to uint8 / depth with misses at zfar; one thread owns one pixel of
     one nominal across all slots, so the shift reads slot f+1 before writing it, race-free in
     place; the output address never changes, so a CUDA graph can capture the whole render).

Why the mujoco_warp renderer and not our own ray caster (measured on this machine's CPU, Warp's CPU
device, which runs a launch on one thread; 84x84, N=16, process CPU time):

  mujoco_warp test humanoid (20 geoms), whole batch:
    own brute-force caster, lower bound (one bounding-sphere test per geom per ray, no shading)  19 ms
    mjw.rays brute force (exact primitives, depth only)                                         157 ms
    mjw.render BVH, depth only                                                                   38 ms
    mjw.render BVH, RGB (textures, 1 light + headlight, specular)                               101 ms
  RGB time is mostly shading (textures ~30%, specular/emission/per-light ambient ~15%), which an
  own caster pays too; on traversal it could save at most ~20 ms of 101 on a 20-geom robot, while
  losing meshes, height fields and textures and growing linearly with the geom count (Menagerie
  robots have ~100 mesh geoms). Shadows (``shadows=True``) roughly double the RGB time; off by
  default. Textures stay on: the floor checker is the actor's cue for motion.

  Stage breakdown of ``render()`` (our humanoid task, N=16, per batch):
    RGB   85 ms = 5.3 ms/frame: gather+kinematics 0.9, BVH refit 0.1, ray cast 80, stack push 6.5
    depth 36 ms = 2.3 ms/frame: ray cast 30, stack push 3.3
  The per-frame cost is flat in N (4.9 ms/frame RGB at N=16 and N=64), as the CPU device is serial.
  ``bench/bench_render.py`` (humanoid, 84x84, wall time, machine lightly loaded): RGB 220-300
  frames/s, depth 600-760 frames/s for N in {16, 64, 256}; ``mujoco.Renderer`` on the same poses
  (EGL on Mesa llvmpipe, i.e. software OpenGL here) 35-40 frames/s, so RGB is 6-8x faster.

Depth agrees with ``mujoco.mj_ray`` (tests allow 2% silhouette pixels off 1e-3 + 1e-3*z; seen: none, max error 2e-4 m)
and with ``mujoco.Renderer``'s depth (median relative difference < 1e-4, misses at the far plane).
"""

from sdpg_warp.render.nominal import NominalRenderer as NominalRenderer
