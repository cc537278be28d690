"""Times scikit-learn's IsolationForest on the shape of benches/forest.rs.

Data: 1M x 8 rows, column j = (sum of 4 uniforms - 2) * (j + 1), like the
Rust bench (different generator, same distribution). Fit 100 trees x 256
samples, then time score_samples on all rows (batch) and on one row per call.
Prints `key value` lines for bench_forest_vs_sklearn.sh.
"""

import sys
import time

import numpy as np
from sklearn.ensemble import IsolationForest

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
FEATURES = 8
SINGLE_CALLS = 300


def main():
    rng = np.random.default_rng(7)
    data = (rng.random((ROWS, FEATURES, 4)).sum(axis=2) - 2.0) * np.arange(1, FEATURES + 1)

    start = time.perf_counter()
    forest = IsolationForest(n_estimators=100, max_samples=256, random_state=1, n_jobs=1).fit(data)
    print(f"sklearn_fit_s {time.perf_counter() - start:.4f}")

    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        forest.score_samples(data)
        best = min(best, time.perf_counter() - start)
    print(f"sklearn_batch_s {best:.4f}")
    print(f"sklearn_batch_rows_per_s {ROWS / best:.0f}")

    probes = data[:SINGLE_CALLS]
    forest.score_samples(probes[:1])
    start = time.perf_counter()
    for i in range(SINGLE_CALLS):
        forest.score_samples(probes[i : i + 1])
    per_call = (time.perf_counter() - start) / SINGLE_CALLS
    print(f"sklearn_single_us {per_call * 1e6:.1f}")


if __name__ == "__main__":
    main()
