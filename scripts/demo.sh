#!/usr/bin/env bash
# End to end on a fresh clone: simulate labeled traffic, train baselines,
# score the test day offline, and report detection quality.
#   scripts/demo.sh [OUT_DIR] [SEED] [SCALE]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-out/demo}
seed=${2:-7}
scale=${3:-0.2}
cargo build --release --quiet
bin=target/release/apiwarden
mkdir -p "$out"
"$bin" simulate --out "$out" --seed "$seed" --scale "$scale"
"$bin" train --input "$out/train.ndjson" --out "$out/models"
"$bin" score --models "$out/models" --input "$out/test.ndjson" --out "$out/scores.ndjson" --alerts "$out/alerts.ndjson"
"$bin" eval --labels "$out/labels.ndjson" --scores "$out/scores.ndjson" --alerts "$out/alerts.ndjson"
