#!/usr/bin/env python3
"""Mix the scanner Apache logs into benign simulated traffic of one API host.

Usage: scanners.py [--keep-every N] SIM_DIR OUT_DIR HOST SCANNER_LOG.txt.gz...

SIM_DIR holds `apiwarden simulate` output. Its benign test records are kept as they are
(the simulated attack episodes are dropped, so every alert outside a scanner is false).
Each scanner log becomes one `probing` episode against HOST:
  - only the lines of the scanner's own IP (the most frequent one) are kept; w3af.txt
    also holds browser page loads from other machines, which are not the scan;
  - timestamps keep their offsets from the scan's first line and are shifted into the
    simulated test day, one scanner every few hours so the episodes do not overlap;
    the log has second resolution, so requests within one second are spaced evenly in
    log order;
  - status, response size, method, path, client IP and User-Agent come from the log;
  - the log has no latency and no request size: both are drawn from the benign records
    of the same host (same method for the size), seeded, so they carry no signal.
--keep-every N keeps every Nth scan line (at its original time): the same scan N times
slower and sparser, to see where recall ends.
Writes OUT_DIR/test.ndjson (merged by time), OUT_DIR/labels.ndjson and OUT_DIR/meta.json.
"""
import bisect
import datetime as dt
import gzip
import json
import os
import random
import re
import sys
from collections import Counter, defaultdict

COMBINED = re.compile(
    r'^"?(?P<ip>\S+) \S+ \S+ \[(?P<ts>[^\]]+)\] "(?P<method>[A-Z]+) (?P<path>\S+)(?: [^"]*)?" '
    r'(?P<status>\d{3}) (?P<size>\d+|-)(?: "(?P<referer>[^"]*)" "(?P<agent>[^"]*)")?')
FIRST_SCAN_AT = dt.timedelta(hours=2)
SCAN_SPACING = dt.timedelta(hours=7)
SEED = 2016


def parse_log(path):
    lines, unparsed = [], 0
    with gzip.open(path, "rt", encoding="latin-1") as f:
        for number, line in enumerate(f):
            m = COMBINED.match(line.strip())
            if not m:
                unparsed += 1
                continue
            when = dt.datetime.strptime(m["ts"], "%d/%b/%Y:%H:%M:%S %z")
            lines.append((when, number, m))
    return lines, unparsed


def ts_ms(value):
    if isinstance(value, int):
        return value
    return int(dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


def read_ndjson(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def scan_records(name, lines, start_ms, host, latencies, sizes_by_method, rng, keep_every):
    """The scanner's lines as access records starting at `start_ms`."""
    ip = Counter(m["ip"] for _, _, m in lines).most_common(1)[0][0]
    kept = sorted((when, n, m) for when, n, m in lines if m["ip"] == ip)
    dropped = len(lines) - len(kept)
    kept = kept[::keep_every]
    per_second = Counter(when for when, _, _ in kept)
    seen_in_second = Counter()
    first = kept[0][0]
    records = []
    for index, (when, _, m) in enumerate(kept):
        slot = seen_in_second[when]
        seen_in_second[when] += 1
        offset_ms = int((when - first).total_seconds() * 1000) + slot * 1000 // per_second[when]
        method = m["method"]
        sizes = sizes_by_method.get(method) or [0]
        record = {
            "id": f"scan-{name}-{index:05d}",
            "ts": start_ms + offset_ms,
            "host": host,
            "method": method,
            "path": m["path"],
            "status": int(m["status"]),
            "latency_ms": rng.choice(latencies),
            "request_bytes": rng.choice(sizes),
            "response_bytes": 0 if m["size"] == "-" else int(m["size"]),
            "client_ip": ip,
        }
        if m["agent"] and m["agent"] != "-":
            record["user_agent"] = m["agent"]
        records.append(record)
    return records, ip, dropped


def main(sim_dir, out_dir, host, logs, keep_every):
    rng = random.Random(SEED)
    test = read_ndjson(os.path.join(sim_dir, "test.ndjson"))
    labels = read_ndjson(os.path.join(sim_dir, "labels.ndjson"))
    benign = [(r, l) for r, l in zip(test, labels) if l["label"] == "benign"]
    day_start = ts_ms(test[0]["ts"]) // 86_400_000 * 86_400_000
    same_host = [r for r, _ in benign if r.get("host") == host]
    if not same_host:
        sys.exit(f"no benign records of host {host} in {sim_dir}")
    latencies = [r["latency_ms"] for r in same_host]
    sizes_by_method = defaultdict(list)
    for r in same_host:
        sizes_by_method[r["method"]].append(r["request_bytes"])

    merged = [(ts_ms(r["ts"]), 0, i, r, {**l, "ts": ts_ms(r["ts"])})
              for i, (r, l) in enumerate(benign)]
    scans = []
    for k, path in enumerate(logs):
        name = os.path.basename(path).split(".")[0]
        lines, unparsed = parse_log(path)
        start = day_start + int((FIRST_SCAN_AT + k * SCAN_SPACING).total_seconds() * 1000)
        records, ip, dropped = scan_records(name, lines, start, host, latencies,
                                            sizes_by_method, rng, keep_every)
        episode = f"SCAN-{name}"
        for i, r in enumerate(records):
            merged.append((r["ts"], 1 + k, i, r,
                           {"id": r["id"], "label": "probing", "episode": episode, "ts": r["ts"]}))
        span_s = (records[-1]["ts"] - records[0]["ts"]) / 1000 if records else 0
        scans.append({"scanner": name, "episode": episode, "ip": ip, "records": len(records),
                      "dropped_other_ips": dropped, "unparsed": unparsed,
                      "start_ms": start, "span_s": span_s,
                      "status_404": sum(r["status"] == 404 for r in records)})
    merged.sort(key=lambda item: item[:3])

    with open(os.path.join(out_dir, "test.ndjson"), "w", encoding="utf-8") as rec_out, \
            open(os.path.join(out_dir, "labels.ndjson"), "w", encoding="utf-8") as lab_out:
        for _, _, _, record, label in merged:
            rec_out.write(json.dumps(record, separators=(",", ":")) + "\n")
            lab_out.write(json.dumps(label, separators=(",", ":")) + "\n")
    meta = {"host": host, "benign_records": len(benign), "scans": scans}
    with open(os.path.join(out_dir, "meta.json"), "w", encoding="utf-8") as out:
        json.dump(meta, out)
    for s in scans:
        print(f"scanners: {s['scanner']}: {s['records']} lines from {s['ip']} over "
              f"{s['span_s'] / 60:.1f} min ({s['dropped_other_ips']} lines of other IPs dropped, "
              f"{s['unparsed']} unparsed)")
    print(f"scanners: mixed into {len(benign)} benign simulated records")


if __name__ == "__main__":
    args = sys.argv[1:]
    keep = 1
    if args[:1] == ["--keep-every"] and len(args) > 1 and args[1].isdigit():
        keep, args = max(1, int(args[1])), args[2:]
    if len(args) < 4:
        sys.exit(__doc__)
    main(args[0], args[1], args[2], args[3:], keep)
