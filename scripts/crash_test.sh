#!/usr/bin/env bash
# Crash test: "accepted means durable".
# Ingest continuously from several clients, kill -9 the server mid-stream,
# restart it on the same data directory, and check that every record whose
# batch was acknowledged is stored: zero lost. About 30 s with a built binary.
#
#   scripts/crash_test.sh            # builds the debug binary if needed
#   APIWARDEN_BIN=target/release/apiwarden scripts/crash_test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

BIN="${APIWARDEN_BIN:-target/debug/apiwarden}"
if [[ -z "${APIWARDEN_BIN:-}" ]]; then
    cargo build -q --bin apiwarden
fi
ROUNDS="${CRASH_ROUNDS:-3}"
WORK="$(mktemp -d)"
trap 'kill -9 "${PID:-0}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
export APIWARDEN_ADMIN_KEY="crash-test-key"
export APIWARDEN_LOG=warn

start_server() {
    "$BIN" serve --listen 127.0.0.1:0 --data "$WORK/data" >"$WORK/out.txt" 2>>"$WORK/err.txt" &
    PID=$!
    for _ in $(seq 1 100); do
        ADDR="$(grep -o 'http://[0-9.:]*' "$WORK/out.txt" 2>/dev/null || true)"
        [[ -n "$ADDR" ]] && return 0
        sleep 0.1
    done
    echo "server did not start"; cat "$WORK/err.txt"; exit 1
}

# One client: POSTs 300-record NDJSON batches with known ids and appends the
# ids of every acknowledged batch to its ack file; stops at the first failure.
cat >"$WORK/client.py" <<'PY'
import json, sys, urllib.request
url, key, tag, ack_path = sys.argv[1:5]
n = 0
with open(ack_path, "a") as acks:
    while True:
        ids = [f"{tag}-{n}-{i}" for i in range(300)]
        body = "\n".join(json.dumps({
            "id": rid, "ts": 1790000000000 + n * 300 + i, "api": "crash",
            "method": "GET", "path": f"/v1/items/{i}", "status": 200,
            "latency_ms": 3, "request_bytes": 10, "response_bytes": 100,
            "client_ip": "10.0.0.1"}) for i, rid in enumerate(ids)).encode()
        req = urllib.request.Request(url + "/v1/records", data=body, headers={
            "Authorization": "Bearer " + key, "Content-Type": "application/x-ndjson"})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                answer = json.load(resp)
        except Exception:
            break
        if answer.get("accepted") != 300:
            print("unexpected answer", answer, file=sys.stderr)
            sys.exit(1)
        acks.write("\n".join(ids) + "\n")
        acks.flush()
        n += 1
PY

: >"$WORK/acked.txt"
for round in $(seq 1 "$ROUNDS"); do
    start_server
    for c in 1 2 3 4; do
        python3 "$WORK/client.py" "$ADDR" "$APIWARDEN_ADMIN_KEY" "r$round-c$c" "$WORK/acked.txt" &
    done
    sleep "${CRASH_AFTER_SECS:-3}"
    kill -9 "$PID"
    wait "$PID" 2>/dev/null || true
    wait  # clients stop at their first failed request
    echo "round $round: killed -9 with $(wc -l <"$WORK/acked.txt") acknowledged records so far"
done

start_server
python3 - "$ADDR" "$APIWARDEN_ADMIN_KEY" "$WORK/acked.txt" <<'PY'
import json, sys, urllib.request
url, key, ack_path = sys.argv[1:4]
acked = {l.strip() for l in open(ack_path) if l.strip()}
stored, since = set(), None
while True:
    q = "/v1/records?api=crash&limit=100000" + (f"&since={since}" if since is not None else "")
    req = urllib.request.Request(url + q, headers={"Authorization": "Bearer " + key})
    recs = json.load(urllib.request.urlopen(req, timeout=60))["records"]
    new = {r["id"] for r in recs} - stored
    stored |= new
    if len(recs) < 100000 or not new:
        break
    since = recs[-1]["ts"]
lost = acked - stored
print(f"acknowledged={len(acked)} stored={len(stored)} lost={len(lost)}")
if not acked:
    print("FAIL: nothing was acknowledged; the test proved nothing"); sys.exit(1)
if lost:
    print("FAIL: lost acknowledged records, e.g.", sorted(lost)[:5]); sys.exit(1)
print("PASS: every acknowledged record survived kill -9")
PY
kill -TERM "$PID"; wait "$PID" 2>/dev/null || true
