#!/usr/bin/env bash
# apiwarden on the real labeled sets that fit the access-record schema (issue #3, item 5).
#   scripts/real_data_eval.sh [OUT_DIR] [SEED] [SCALE]
# OUT_DIR (default out/real) gets every intermediate file; SEED and SCALE drive the simulated
# benign traffic the scanner logs are mixed into. The datasets are read in place from
# APIWARDEN_DATASETS (default ../shared/datasets); APIWARDEN_BIN skips the release build.
# What each set is and how it is converted: datasets/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-out/real}
seed=${2:-7}
scale=${3:-0.2}
data=${APIWARDEN_DATASETS:-../shared/datasets}
conv=scripts/real_data

if [[ -z "${APIWARDEN_BIN:-}" ]]; then
  cargo build --release --quiet -p apiwarden
  bin=target/release/apiwarden
else
  bin=$APIWARDEN_BIN
fi
for f in fur_api/test.csv.gz scanner_access_logs/acunetix.txt.gz api_access_behaviour/supervised_dataset_v1.csv.gz; do
  [[ -f "$data/$f" ]] || { echo "missing $data/$f (set APIWARDEN_DATASETS)" >&2; exit 2; }
done
command -v python3 >/dev/null || { echo "python3 is needed for the converters" >&2; exit 2; }
mkdir -p "$out"

# train and score write one warning per rejected line: those go to *.log beside the outputs.
# (Their stdout goes to files too: a closed pipe would make them exit with an error.)
echo "== FUR-API: convert, then two splits (held-out first half / transductive) and discovered APIs"
for variant in fur fur_discovered; do
  dir=$out/$variant
  mkdir -p "$dir"
  flag=()
  [[ $variant == fur_discovered ]] && flag=(--discover-api)
  python3 $conv/fur_api.py "${flag[@]}" "$data/fur_api/test.csv.gz" "$dir"
  splits=(half all)
  [[ $variant == fur_discovered ]] && splits=(half)
  for split in "${splits[@]}"; do
    train=$dir/train_first_half.ndjson
    [[ $split == all ]] && train=$dir/train_all_normal.ndjson
    "$bin" train --input "$train" --out "$dir/models_$split" --seed "$seed" 2>"$dir/train_$split.log" >/dev/null
    "$bin" score --models "$dir/models_$split" --input "$dir/records.ndjson" \
      --out "$dir/scores_$split.ndjson" --alerts "$dir/alerts_$split.ndjson" \
      >"$dir/score_$split.txt" 2>"$dir/score_$split.log"
    head -n 1 "$dir/score_$split.txt"
    "$bin" eval --labels "$dir/labels.ndjson" --scores "$dir/scores_$split.ndjson" \
      --alerts "$dir/alerts_$split.ndjson" --json "$dir/eval_$split.json" >"$dir/eval_$split.txt"
  done
done

echo "== scanner access logs: simulate benign traffic (seed $seed, scale $scale), train, mix, score"
sim=$out/sim
"$bin" simulate --out "$sim" --seed "$seed" --scale "$scale" >"$out/simulate.txt"
head -n 2 "$out/simulate.txt"
"$bin" train --input "$sim/train.ndjson" --out "$sim/models" --seed "$seed" >/dev/null
for run in scan:1 scan_sparse:25 scan_sparser:200; do
  dir=$out/${run%%:*}
  mkdir -p "$dir"
  python3 $conv/scanners.py --keep-every "${run##*:}" "$sim" "$dir" shop.example.com \
    "$data"/scanner_access_logs/{acunetix,netsparker,w3af}.txt.gz
  "$bin" score --models "$sim/models" --input "$dir/test.ndjson" --out "$dir/scores.ndjson" \
    --alerts "$dir/alerts.ndjson" >"$dir/score.txt" 2>"$dir/score.log"
  head -n 1 "$dir/score.txt"
  "$bin" eval --labels "$dir/labels.ndjson" --scores "$dir/scores.ndjson" \
    --alerts "$dir/alerts.ndjson" --json "$dir/eval.json" >"$dir/eval.txt"
done

echo "== api_access_behaviour: per-session aggregates, isolation forest only (apiwarden outliers)"
dir=$out/behaviour
mkdir -p "$dir"
for run in supervised_v1:supervised_dataset_v1:supervised supervised_v2:supervised_dataset_v2:supervised \
           remaining_attack:remaining_behavior_ext_v1:attack; do
  IFS=: read -r stem src mode <<<"$run"
  python3 $conv/api_behaviour.py "$data/api_access_behaviour/$src.csv.gz" "$dir/$stem.csv" "$mode"
  "$bin" outliers --input "$dir/$stem.csv" --label label --seed "$seed" --out "$dir/$stem.scores"
done

python3 $conv/report.py "$out" "$data"
