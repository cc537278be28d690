#!/usr/bin/env python3
"""FUR-API test split -> apiwarden access records (CONTRACT §1) and labels (§2).

Usage: fur_api.py [--discover-api] SRC.csv.gz OUT_DIR

--discover-api leaves out the `api` field, so apiwarden derives the API from the record
(the host is a bare IP, so from the first path segment): a dozen small APIs instead of one.

Writes, all sorted by time (stable on the CSV row):
  records.ndjson          every row, as the gateway would have sent it
  labels.ndjson           one line per record: normal -> benign, anomaly -> anomalous_request
  train_first_half.ndjson normal rows of the first half by time (the held-out split)
  train_all_normal.ndjson every normal row (the transductive run)
  meta.json               counts and the index where the second half starts

Values the contract forbids (status 802, a response size of ' auth=bearer123"') are passed
through unchanged so that apiwarden itself rejects them and says why; the converter does not
clean what the detector should be able to refuse.
"""
import csv
import datetime as dt
import gzip
import json
import re
import sys

# The CSV's `timestamp` is local time (UTC+8, minute resolution); the response `Date` header
# is the server's clock in GMT with seconds. Where the two agree on the minute we take the
# seconds from the header, otherwise the record stays at the start of its minute.
LOCAL_OFFSET = dt.timezone(dt.timedelta(hours=8))
DATE_HEADER = re.compile(r"Date:\s*\w+, (\d+) (\w+) (\d+) (\d+):(\d+):(\d+) GMT")
HOST_HEADER = re.compile(r"Host:\s*([^;\s]+)")
MONTHS = {m: i + 1 for i, m in enumerate(
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"])}


def minute_ts(text):
    return dt.datetime.strptime(text.strip(), "%Y/%m/%d %H:%M").replace(tzinfo=LOCAL_OFFSET)


def header_ts(headers):
    m = DATE_HEADER.search(headers or "")
    if not m or m[2] not in MONTHS:
        return None
    return dt.datetime(int(m[3]), MONTHS[m[2]], int(m[1]), int(m[4]), int(m[5]), int(m[6]),
                       tzinfo=dt.timezone.utc)


def epoch_ms(row):
    minute = minute_ts(row["timestamp"])
    precise = header_ts(row["response_headers"])
    if precise is not None and precise.replace(second=0) == minute:
        return int(precise.timestamp() * 1000), True
    return int(minute.timestamp() * 1000), False


def number_or_raw(text):
    """An integer when the field holds one, else the raw text (apiwarden rejects it)."""
    stripped = text.strip()
    try:
        return int(stripped)
    except ValueError:
        try:
            return float(stripped)
        except ValueError:
            return text


def body_bytes(body):
    body = body.strip()
    return 0 if body in ("", "nan") else len(body.encode("utf-8"))


def to_record(index, row, ts_ms, name_api):
    host = HOST_HEADER.search(row["request_headers"] or "")
    record = {
        "id": f"fur-{index:04d}",
        # One application behind one host: name it as its gateway would. Without this,
        # discovery falls back to the first path segment (the host is a bare IP) and
        # splits the app into a dozen APIs too small to train.
        "api": "fur",
        "ts": ts_ms,
        "method": row["method"].strip(),
        "path": row["request_url"].strip(),
        "status": number_or_raw(row["status"]),
        "latency_ms": number_or_raw(row["response_time"]),
        "request_bytes": body_bytes(row["request_body"]),
        "response_bytes": number_or_raw(row["response_size"]),
        "client_ip": row["source_ip"].strip(),
        "user": row["user_identity"].strip(),
        "user_agent": row["agent"].strip(),
    }
    if host:
        record["host"] = host[1]
    if not name_api:
        del record["api"]
    return record


def write_ndjson(path, rows):
    with open(path, "w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, separators=(",", ":")) + "\n")


def main(src, out_dir, name_api):
    with gzip.open(src, "rt", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    stamped = []
    with_seconds = 0
    for index, row in enumerate(rows):
        ts_ms, precise = epoch_ms(row)
        with_seconds += precise
        stamped.append((ts_ms, index, row))
    stamped.sort(key=lambda item: (item[0], item[1]))

    records, labels, anomalous = [], [], []
    for ts_ms, index, row in stamped:
        record = to_record(index, row, ts_ms, name_api)
        is_anomaly = row["type"].strip() == "anomaly"
        records.append(record)
        labels.append({
            "id": record["id"],
            "label": "anomalous_request" if is_anomaly else "benign",
            "episode": f"F{index:04d}" if is_anomaly else None,
            "ts": ts_ms,
        })
        anomalous.append(is_anomaly)

    half = len(records) // 2
    write_ndjson(f"{out_dir}/records.ndjson", records)
    write_ndjson(f"{out_dir}/labels.ndjson", labels)
    write_ndjson(f"{out_dir}/train_first_half.ndjson",
                 [r for r, a in zip(records[:half], anomalous[:half]) if not a])
    write_ndjson(f"{out_dir}/train_all_normal.ndjson",
                 [r for r, a in zip(records, anomalous) if not a])
    meta = {
        "rows": len(records),
        "anomalous": sum(anomalous),
        "second_half_starts_at_line": half + 1,
        "second_half_starts_at_ts": records[half]["ts"] if records else None,
        "rows_with_header_seconds": with_seconds,
    }
    with open(f"{out_dir}/meta.json", "w", encoding="utf-8") as out:
        json.dump(meta, out)
    print(f"fur_api: {meta['rows']} rows ({meta['anomalous']} anomalous), "
          f"{with_seconds} with seconds from the Date header, "
          f"second half from line {half + 1}")


if __name__ == "__main__":
    args = sys.argv[1:]
    discover = args[:1] == ["--discover-api"]
    if discover:
        args = args[1:]
    if len(args) != 2:
        sys.exit(__doc__)
    main(args[0], args[1], name_api=not discover)
