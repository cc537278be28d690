#!/usr/bin/env bash
# Detection quality over several simulator seeds: simulate -> train -> score
# -> eval per seed, then one table pooled over the seeds (episodes found and
# typed right per attack type, false alerts per million benign records,
# median time to detect over loud episodes).
#   scripts/seeds_eval.sh [--scale F] [--out DIR] SEED...
#   BIN=... scripts/seeds_eval.sh 404 6060     # measure another build
set -euo pipefail
cd "$(dirname "$0")/.."
scale=1
out=out/seeds
while [[ $# -gt 0 ]]; do
    case $1 in
    --scale) scale=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) break ;;
    esac
done
[[ $# -gt 0 ]] || { echo "usage: $0 [--scale F] [--out DIR] SEED..." >&2; exit 2; }
if [[ -z ${BIN:-} ]]; then
    cargo build --release --quiet --bin apiwarden
fi
bin=${BIN:-target/release/apiwarden}
reports=()
for seed in "$@"; do
    dir=$out/seed-$seed
    mkdir -p "$dir"
    "$bin" simulate --out "$dir" --seed "$seed" --scale "$scale" >/dev/null
    "$bin" train --input "$dir/train.ndjson" --out "$dir/models" >/dev/null 2>&1
    "$bin" score --models "$dir/models" --input "$dir/test.ndjson" \
        --out "$dir/scores.ndjson" --alerts "$dir/alerts.ndjson" >/dev/null 2>&1
    "$bin" eval --labels "$dir/labels.ndjson" --scores "$dir/scores.ndjson" \
        --alerts "$dir/alerts.ndjson" --json "$dir/eval.json" >"$dir/eval.txt"
    reports+=("$seed=$dir/eval.json")
done
python3 - "${reports[@]}" <<'PY'
import json, statistics, sys
runs = [(arg.split("=", 1)[0], json.load(open(arg.split("=", 1)[1]))) for arg in sys.argv[1:]]
print(f"{'seed':>6} {'episodes':>9} {'typed':>6} {'false':>6} {'FA/M':>7} {'ttd_loud':>9}  missed")
for seed, r in runs:
    o = r["overall"]
    loud = o.get("loud_median_time_to_detect")
    print(f"{seed:>6} {o['episodes_detected']:>4}/{o['episodes']:<4} {o['episodes_typed_right']:>6} "
          f"{r['false_alerts']:>6} {r['false_alerts_per_million_benign']:>7.1f} "
          f"{'-' if loud is None else f'{loud / 1000:.1f}s':>9}  {' '.join(o['missed_episodes'])}")
types = sorted({t["attack"] for _, r in runs for t in r["per_type"]})
print(f"\npooled over seeds {' '.join(s for s, _ in runs)}")
print(f"{'attack':<20} {'episodes':>9} {'recall':>7} {'typed':>6} {'ttd_loud_med':>13}")
tot = [0, 0, 0]
loud_all = []
for t in types:
    found = total = typed = 0
    loud = []
    for _, r in runs:
        for e in r["episodes"]:
            if e["attack"] != t:
                continue
            total += 1
            found += e["detected"]
            typed += e["typed_right"]
            if e.get("variant") == "loud" and e["time_to_detect"] is not None:
                loud.append(e["time_to_detect"])
    loud_all += loud
    tot = [tot[0] + found, tot[1] + total, tot[2] + typed]
    med = f"{statistics.median(loud) / 1000:.1f}s" if loud else "-"
    print(f"{t:<20} {found:>4}/{total:<4} {found / total:>7.3f} {typed:>6} {med:>13}")
med = f"{statistics.median(loud_all) / 1000:.1f}s" if loud_all else "-"
print(f"{'all':<20} {tot[0]:>4}/{tot[1]:<4} {tot[0] / tot[1]:>7.3f} {tot[2]:>6} {med:>13}")
benign = sum(r["benign_records"] for _, r in runs)
false = sum(r["false_alerts"] for _, r in runs)
print(f"typed right {tot[2] / max(tot[0], 1):.3f} of detected; "
      f"false alerts {false} over {benign} benign records = {false * 1e6 / benign:.1f} per million")
PY
