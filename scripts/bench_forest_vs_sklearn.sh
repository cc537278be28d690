#!/usr/bin/env bash
# Isolation forest speed, apiwarden vs scikit-learn, one core each:
# batch scoring of 1M x 8 rows and one row per call (issue #2 targets:
# batch >= 5x scikit-learn per core, single record < 5 us).
# Usage: scripts/bench_forest_vs_sklearn.sh   (from anywhere in the repo)
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ ! -x .venv/bin/python ]]; then
    python3 -m venv .venv
fi
if ! .venv/bin/python -c "import sklearn" 2>/dev/null; then
    .venv/bin/pip install --quiet scikit-learn numpy
fi

echo "== scikit-learn (1 thread)" >&2
sk_out=$(env -u OPENBLAS_CORETYPE OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \
    .venv/bin/python scripts/bench_forest_sklearn.py)
echo "$sk_out" >&2

echo "== apiwarden (criterion, benches/forest.rs)" >&2
cargo bench --bench forest >&2

estimate_ns() { # criterion's mean point estimate, in ns
    .venv/bin/python -c 'import json,sys; print(json.load(open(sys.argv[1]))["mean"]["point_estimate"])' \
        "target/criterion/$1/new/estimates.json"
}
batch_ns=$(estimate_ns forest_1m_x8/score_batch_1thread)
single_ns=$(estimate_ns forest_single/score_one)
fit_ns=$(estimate_ns forest_1m_x8/fit_100x256)

SK="$sk_out" BATCH_NS="$batch_ns" SINGLE_NS="$single_ns" FIT_NS="$fit_ns" .venv/bin/python - <<'PY'
import os
sk = dict(line.split() for line in os.environ["SK"].splitlines())
rows = 1_000_000
ours_batch = rows / (float(os.environ["BATCH_NS"]) / 1e9)
ours_single_us = float(os.environ["SINGLE_NS"]) / 1e3
ours_fit_s = float(os.environ["FIT_NS"]) / 1e9
sk_batch = float(sk["sklearn_batch_rows_per_s"])
sk_single = float(sk["sklearn_single_us"])
print(f"{'measure (1 core, 100 trees x 256, 1M x 8)':<44} {'apiwarden':>14} {'scikit-learn':>14} {'ratio':>8}")
print(f"{'batch scoring, rows/s':<44} {ours_batch:>14,.0f} {sk_batch:>14,.0f} {ours_batch / sk_batch:>7.1f}x")
print(f"{'one row per call, us':<44} {ours_single_us:>14.2f} {sk_single:>14.1f} {sk_single / ours_single_us:>7.0f}x")
print(f"{'fit, s':<44} {ours_fit_s:>14.4f} {float(sk['sklearn_fit_s']):>14.4f} {float(sk['sklearn_fit_s']) / ours_fit_s:>7.1f}x")
print(f"targets: batch >= 5x scikit-learn: {'yes' if ours_batch >= 5 * sk_batch else 'NO'}; "
      f"single < 5 us: {'yes' if ours_single_us < 5 else 'NO'}")
PY
