#!/usr/bin/env python3
"""What apiwarden caught on the real labeled sets: details per set and one summary table.

Usage: report.py OUT_DIR DATASETS_DIR

Reads what scripts/real_data_eval.sh left in OUT_DIR (records, labels, scores, alerts and
`apiwarden eval --json` reports) and prints concrete examples: rejected lines and why, the
alerts with their evidence, the top-scored requests, per-kind detection of FUR-API anomalies,
per-scanner outcomes, and false alerts on benign traffic.
"""
import csv
import gzip
import json
import os
import re
import sys

FUR_KINDS = [  # FUR-API gives no per-row subtype; these follow the README's seven kinds
    ("xss", re.compile(r"<script|%3cscript|alert\(|onerror=|javascript:", re.I)),
    ("traversal", re.compile(r"\.\./|\.\.%2f|%2e%2e|/etc/passwd|\.\.\\", re.I)),
    ("sqli", re.compile(r"'\s*or\s|%27|\bor\s+1=1|union\s+select|%20or%20|;\s*drop\s", re.I)),
]
SLOW_MS = 2000


def read_ndjson(path):
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def roc_auc(scores, labels):
    """Mann-Whitney AUC with average ranks for ties; None without both classes."""
    pairs = sorted(zip(scores, labels))
    pos = sum(labels)
    neg = len(labels) - pos
    if pos == 0 or neg == 0:
        return None
    rank_sum, i = 0.0, 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        avg_rank = (i + j + 1) / 2
        rank_sum += avg_rank * sum(label for _, label in pairs[i:j])
        i = j
    return (rank_sum - pos * (pos + 1) / 2) / (pos * neg)


def average_precision(scores, labels):
    """Step-wise AP over tied-score groups (a group counts once, at its end)."""
    pos = sum(labels)
    if pos == 0:
        return None
    pairs = sorted(zip(scores, labels), key=lambda p: -p[0])
    ap, seen, hits, i = 0.0, 0, 0, 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        group_hits = sum(label for _, label in pairs[i:j])
        seen += j - i
        hits += group_hits
        ap += group_hits / pos * hits / seen
        i = j
    return ap


def fmt(value, pattern="{:.3f}"):
    return "-" if value is None else pattern.format(value)


def fmt_ms(ms):
    if ms is None:
        return "-"
    s = ms / 1000
    return f"{s:.1f}s" if s < 120 else f"{s / 60:.1f}m"


def evidence_text(alert, limit=3):
    return ", ".join(f"{e['feature']} {e['observed']:.4g} vs {e['baseline']:.4g}"
                     for e in alert.get("evidence", [])[:limit])


def record_score(line):
    return 0.0 if line.get("score") is None else line["score"]


# ---------------------------------------------------------------- FUR-API

def fur_kind(csv_row, latency):
    text = f"{csv_row['request_url']} {csv_row['request_body']}"
    for name, pattern in FUR_KINDS:
        if pattern.search(text):
            return name
    if isinstance(latency, (int, float)) and latency > SLOW_MS:
        return "slow"
    return "other"


def fur_run(run_dir, split, rows_csv, summary, title, show_references=False):
    records = read_ndjson(os.path.join(run_dir, "records.ndjson"))
    labels = read_ndjson(os.path.join(run_dir, "labels.ndjson"))
    scores = read_ndjson(os.path.join(run_dir, f"scores_{split}.ndjson"))
    alerts = read_ndjson(os.path.join(run_dir, f"alerts_{split}.ndjson"))
    with open(os.path.join(run_dir, f"eval_{split}.json"), encoding="utf-8") as f:
        report = json.load(f)
    with open(os.path.join(run_dir, "meta.json"), encoding="utf-8") as f:
        meta = json.load(f)
    if not (len(records) == len(labels) == len(scores)):
        sys.exit(f"{run_dir}: records, labels and scores differ in length")
    y = [int(l["label"] != "benign") for l in labels]
    s = [record_score(line) for line in scores]
    half = meta["second_half_starts_at_line"] - 1
    overall = report["overall"]
    row = {
        "set": "fur_api", "run": title, "records": len(records), "attacks": sum(y),
        "auc": overall["roc_auc"], "ap": overall["average_precision"],
        "auc2": roc_auc(s[half:], y[half:]), "ap2": average_precision(s[half:], y[half:]),
        "recall": f"{overall['episodes_detected']}/{overall['episodes']}",
        "ttd": overall.get("median_time_to_detect"),
        "flagged": f"{overall['flagged']}/{sum(y)}",
        "false": f"{report['false_alerts']} ({report['benign_flagged']} benign marked)",
        "rejected": report.get("rejected_records", 0),
    }
    summary.append(row)
    print(f"\n--- fur_api, {title}")
    print(f"ROC AUC {fmt(row['auc'])} / AP {fmt(row['ap'])} over all {len(records)} records; "
          f"second half only (never trained on): ROC AUC {fmt(row['auc2'])} / AP {fmt(row['ap2'])}")
    print(f"anomalous rows marked with an attack: {overall['flagged']}/{sum(y)}; benign rows marked: "
          f"{report['benign_flagged']}/{report['benign_records']}; alerts {report['alerts']['total']} "
          f"({report['alerts']['true_alerts']} true, {report['false_alerts']} false)")

    if show_references:  # what one raw field alone achieves on the same rows
        refs = []
        for name, value in (("latency_ms", lambda r: r.get("latency_ms")),
                            ("path length", lambda r: len(str(r.get("path", "")))),
                            ("response_bytes", lambda r: r.get("response_bytes"))):
            vals = [value(r) if isinstance(value(r), (int, float)) else 0 for r in records]
            refs.append(f"{name} {fmt(roc_auc(vals, y))}")
        print("for comparison, one raw field as the score, ROC AUC: " + ", ".join(refs))

    # Per kind: how the anomalies of each kind rank against the benign rows.
    by_kind = {}
    for rec, lab, line in zip(records, labels, scores):
        if lab["label"] == "benign":
            continue
        row_csv = rows_csv[int(rec["id"].split("-")[1])]
        by_kind.setdefault(fur_kind(row_csv, rec.get("latency_ms")), []).append(line)
    benign_scores = [record_score(line) for line, yy in zip(scores, y) if not yy]
    print(f"{'anomaly kind':<12}{'rows':>6}{'marked':>8}{'roc_auc':>9}  (kind vs all benign rows)")
    for kind, lines in sorted(by_kind.items()):
        ks = [record_score(line) for line in lines]
        auc = roc_auc(ks + benign_scores, [1] * len(ks) + [0] * len(benign_scores))
        marked = sum(line.get("attack") is not None for line in lines)
        print(f"{kind:<12}{len(lines):>6}{marked:>8}{fmt(auc):>9}")

    label_of = {l["id"]: l["label"] for l in labels}
    for alert in alerts:
        ids = alert.get("request_ids", [])
        hits = sum(label_of.get(i) not in (None, "benign") for i in ids)
        print(f"alert {alert['attack']} ({alert['severity']}) on {alert['entity']['kind']} "
              f"{alert['entity']['value']}: score {alert['score']:.3f} (threshold {alert['threshold']:.3f}), "
              f"requests {','.join(ids[:3])} ({hits}/{len(ids)} labelled anomalous); "
              f"evidence: {evidence_text(alert)}")

    ranked = sorted(range(len(records)), key=lambda i: -s[i])
    print("top-scored records:")
    for i in ranked[:8]:
        rec = records[i]
        print(f"  {s[i]:.3f} {labels[i]['label']:<17} {rec['method']:<6} "
              f"{str(rec['path'])[:60]:<60} status {rec['status']} {rec['latency_ms']} ms "
              f"{rec['response_bytes']} B")
    return records, scores


def fur_rejections(records, scores):
    print("\nrecords apiwarden rejected (input line: id, reason):")
    for rec, line in zip(records, scores):
        if line.get("error"):
            print(f"  line {line['line']} ({rec['id']}): {line['error']}")


# ---------------------------------------------------------------- scanners

def scan_run(run_dir, title, summary):
    labels = read_ndjson(os.path.join(run_dir, "labels.ndjson"))
    scores = read_ndjson(os.path.join(run_dir, "scores.ndjson"))
    alerts = read_ndjson(os.path.join(run_dir, "alerts.ndjson"))
    with open(os.path.join(run_dir, "eval.json"), encoding="utf-8") as f:
        report = json.load(f)
    with open(os.path.join(run_dir, "meta.json"), encoding="utf-8") as f:
        meta = json.load(f)
    overall = report["overall"]
    label_of = {l["id"]: l for l in labels}
    summary.append({
        "set": "scanner_logs", "run": title, "records": report["records"],
        "attacks": report["attack_records"], "auc": overall["roc_auc"],
        "ap": overall["average_precision"], "auc2": None, "ap2": None,
        "recall": f"{overall['episodes_detected']}/{overall['episodes']}",
        "ttd": overall.get("median_time_to_detect"),
        "flagged": f"{overall['flagged']}/{report['attack_records']}",
        "false": f"{report['false_alerts']} ({report['false_alerts_per_million_benign']:.1f}/M)",
        "rejected": report.get("rejected_records", 0),
    })
    print(f"\n--- scanner_access_logs, {title}: mixed into {meta['benign_records']} benign "
          f"simulated records of {meta['host']}")
    episodes = {e["episode"]: e for e in report["episodes"]}
    marked = {}
    for lab, line in zip(labels, scores):
        if lab["episode"]:
            marked[lab["episode"]] = marked.get(lab["episode"], 0) + (line.get("attack") is not None)
    print(f"{'scanner':<12}{'ip':<15}{'records':>8}{'span':>8}{'marked':>8}  detected as   "
          f"time to detect  first alert evidence")
    for scan in meta["scans"]:
        ep = episodes.get(scan["episode"], {})
        first = next((a for a in sorted(alerts, key=lambda a: a.get("first_seen_ms", 0))
                      if any(label_of.get(i, {}).get("episode") == scan["episode"]
                             for i in a.get("request_ids", []))), None)
        print(f"{scan['scanner']:<12}{scan['ip']:<15}{scan['records']:>8}"
              f"{scan['span_s'] / 60:>7.0f}m{marked.get(scan['episode'], 0):>8}  "
              f"{','.join(ep.get('detected_as', [])) or 'MISSED':<13} "
              f"{fmt_ms(ep.get('time_to_detect')):>14}  "
              f"{evidence_text(first) if first else '-'}")
    for alert in alerts:
        ids = alert.get("request_ids", [])
        if any(label_of.get(i, {}).get("label") != "benign" for i in ids):
            continue
        print(f"false alert: {alert['attack']} ({alert['severity']}) on {alert['api']} "
              f"{alert['entity']['kind']} {alert['entity']['value']}, {len(ids)} requests from "
              f"{alert['first_seen']}; evidence: {evidence_text(alert)}")


# ---------------------------------------------------------------- api_access_behaviour

def outliers_run(csv_path, scores_path, title, summary):
    with open(csv_path, encoding="utf-8", newline="") as f:
        y = [int(row["label"]) for row in csv.DictReader(f)]
    with open(scores_path, encoding="utf-8") as f:
        s = [float(line) for line in f if line.strip()]
    if len(s) != len(y):
        sys.exit(f"{scores_path}: {len(s)} scores for {len(y)} rows")
    summary.append({"set": "api_access_behaviour", "run": title, "records": len(y),
                    "attacks": sum(y), "auc": roc_auc(s, y), "ap": average_precision(s, y),
                    "auc2": None, "ap2": None, "recall": "n/a", "ttd": None, "flagged": "n/a",
                    "false": "n/a", "rejected": 0})


def main(out, datasets):
    summary = []
    with gzip.open(os.path.join(datasets, "fur_api", "test.csv.gz"), "rt", encoding="utf-8",
                   newline="") as f:
        rows_csv = list(csv.DictReader(f))
    print("\n================ FUR-API (1,150 requests of one app; 150 labelled anomalies)")
    records, scores = fur_run(os.path.join(out, "fur"), "half", rows_csv, summary,
                              "train: normal rows of 1st half; score all",
                              show_references=True)
    fur_run(os.path.join(out, "fur"), "all", rows_csv, summary,
            "transductive: train all normal rows")
    fur_run(os.path.join(out, "fur_discovered"), "half", rows_csv, summary,
            "as held-out, API discovered per path")
    fur_rejections(records, scores)

    print("\n================ scanner access logs (probing) in simulated benign traffic")
    for name, title in (("scan", "every line"), ("scan_sparse", "1 line in 25"),
                        ("scan_sparser", "1 line in 200")):
        if os.path.exists(os.path.join(out, name, "eval.json")):
            scan_run(os.path.join(out, name), title, summary)

    behaviour = os.path.join(out, "behaviour")
    for stem, title in (("supervised_v1", "outliers: supervised v1, outlier vs normal"),
                        ("supervised_v2", "outliers: supervised v2, outlier vs normal"),
                        ("remaining_attack", "outliers: remaining, attack vs normal+bot")):
        if os.path.exists(os.path.join(behaviour, f"{stem}.scores")):
            outliers_run(os.path.join(behaviour, f"{stem}.csv"),
                         os.path.join(behaviour, f"{stem}.scores"), title, summary)

    print("\n================ summary")
    print("csic2010: skipped: raw requests only, no status, latency, response size or client "
          "address (all required by the record schema); filling them in would be invented data")
    header = (f"{'set':<21}{'run':<44}{'records':>8}{'attack':>7}{'roc_auc':>8}{'avg_pr':>7}"
              f"{'auc_2nd':>8}  {'episodes':>9}{'ttd_med':>8}  {'marked':>10}  false alerts")
    print(header)
    print("-" * len(header))
    for r in summary:
        print(f"{r['set']:<21}{r['run']:<44}{r['records']:>8}{r['attacks']:>7}"
              f"{fmt(r['auc']):>8}{fmt(r['ap']):>7}{fmt(r['auc2']):>8}  {r['recall']:>9}"
              f"{fmt_ms(r['ttd']):>8}  {r['flagged']:>10}  {r['false']}")
    print("auc_2nd: FUR-API rows of the second half by time only. marked: attack rows whose "
          "score line carries an attack type. api_access_behaviour rows are per-session "
          "aggregates: only the isolation forest (`apiwarden outliers`) applies.")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
