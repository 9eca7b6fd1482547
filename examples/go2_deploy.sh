#!/usr/bin/env bash
# go2_terrain from training to deployment, small enough for a CPU (minutes; the policy learns little):
# train (depth camera + 20 steps of proprioception), export to ONNX, run the ONNX file in C MuJoCo
# and in the training simulator (docs/deploy.md). Needs the Unitree Go2 from MuJoCo Menagerie
# (internet, or MENAGERIE_ROOT=<folder holding unitree_go2/>).
set -euo pipefail
runs=${1:-runs}
python -m sdpg_warp.train --task go2_terrain --obs depth --num-nominal 2 --num-aux 3 --horizon 8 --epochs 2 \
  --critic-minibatch 16 --device cpu --threads 1 --logger none --log-dir "$runs" --run-name go2_deploy_example
python -m sdpg_warp.export "$runs/go2_deploy_example" --out "$runs/go2_deploy_example/policy.onnx"
python -m sdpg_warp.deploy "$runs/go2_deploy_example/policy.onnx" --task go2_terrain --episodes 2 \
  --video "$runs/go2_deploy_example/deploy.mp4"
