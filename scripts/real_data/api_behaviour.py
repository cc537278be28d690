#!/usr/bin/env python3
"""Kaggle API access behaviour (per user/session pattern) -> numeric CSV for `apiwarden outliers`.

Usage: api_behaviour.py SRC.csv.gz OUT.csv MODE
  MODE supervised: label 1 = `classification` outlier, 0 = normal (supervised_dataset_v1/v2)
  MODE attack:     remaining_behavior_ext: label 1 = `attack`; `normal` and `bot` rows are 0;
                   `outlier` rows (70% of the file, a cluster label, not rare events) are left out

One row is a behaviour pattern, not a request, so this set cannot go through the per-request
engine; it only exercises the isolation forest. Features: the seven numeric columns plus a
one-hot of `ip_type`. Left out: the index, `_id`, `source` (which of two collections the row
came from) and `behavior` (it holds the label). Rows with a missing value are dropped.
"""
import csv
import gzip
import math
import sys

NUMERIC = ["inter_api_access_duration(sec)", "api_access_uniqueness", "sequence_length(count)",
           "vsession_duration(min)", "num_sessions", "num_users", "num_unique_apis"]
IP_TYPES = ["default", "private_ip", "aws_datacenter", "google_bot"]


def label_of(row, mode):
    if mode == "supervised":
        return {"normal": 0, "outlier": 1}.get(row["classification"].strip())
    return {"normal": 0, "bot": 0, "attack": 1}.get(row["behavior_type"].strip().lower())


def main(src, out_path, mode):
    written = dropped_missing = left_out = 0
    with gzip.open(src, "rt", encoding="utf-8", newline="") as f, \
            open(out_path, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow([c.split("(")[0] for c in NUMERIC] + [f"ip_{t}" for t in IP_TYPES]
                        + ["label"])
        for row in csv.DictReader(f):
            label = label_of(row, mode)
            if label is None:
                left_out += 1
                continue
            try:
                values = [float(row[c]) for c in NUMERIC]
            except (KeyError, ValueError):
                values = None
            if values is None or any(math.isnan(v) or math.isinf(v) for v in values):
                dropped_missing += 1
                continue
            ip_type = row.get("ip_type", "").strip()
            writer.writerow(values + [int(ip_type == t) for t in IP_TYPES] + [label])
            written += 1
    print(f"api_behaviour: {src.rsplit('/', 1)[-1]} ({mode}): {written} rows, "
          f"{dropped_missing} with a missing value dropped, {left_out} rows of other classes left out")


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[3] not in ("supervised", "attack"):
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3])
