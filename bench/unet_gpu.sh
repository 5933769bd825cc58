#!/usr/bin/env bash
# Issue 17's one GPU command: the published width-32 U-Net (gpu preset: CUDA, mixed precision,
# batch 16) with the distance-transform input, an ensemble of K members on different subsets, in
# under 10 minutes on an H200 (K * MINUTES of training plus a minute of evaluation), then its score
# on the CV split with and without TTA. Resumable: run it again with the same OUT to continue.
#   bench/unet_gpu.sh                       # K=4, MINUTES=2
#   K=8 MINUTES=1 OUT=runs/unet_gpu8 bench/unet_gpu.sh
# On a machine without CUDA the gpu preset stops with a clear error; CONFIG=cpu with tiny
# MINUTES checks the script itself.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data/skelneton/train}
OUT=${OUT:-runs/unet_gpu}
K=${K:-4}
MINUTES=${MINUTES:-2}
CONFIG=${CONFIG:-gpu}
.venv/bin/skelkit train unet --data "$DATA" --out "$OUT" --config "$CONFIG" --inputs shape,edt \
    --loss wfocal+dice --ensemble "$K" --max-minutes "$MINUTES" --val-every 1 --seed 0 --resume
.venv/bin/python bench/eval_unet.py --data "$DATA" --weights "$OUT/unet.pt" --sets cv --tta \
    --label "unet w32 x$K (gpu)" --out "$OUT/eval.json"
