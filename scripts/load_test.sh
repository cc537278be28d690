#!/usr/bin/env bash
# Load test over loopback: 1k-record NDJSON batches from several connections
# for a bounded time, durable acks and live scoring on. Reports end-to-end
# records/s and p50/p99 ack latency (the client shares the machine).
#
#   scripts/load_test.sh [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN="${1:-15}"
CONNECTIONS="${2:-8}"

cargo build -q --release --bin apiwarden -p apiwarden
cargo build -q --release -p apiwarden-server --example loadgen
BIN=target/release/apiwarden
LOADGEN=target/release/examples/loadgen

WORK="$(mktemp -d)"
trap 'kill -9 "${PID:-0}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
export APIWARDEN_ADMIN_KEY="load-test-key"
export APIWARDEN_LOG=warn
"$BIN" serve --listen 127.0.0.1:0 --data "$WORK/data" >"$WORK/out.txt" 2>"$WORK/err.txt" &
PID=$!
for _ in $(seq 1 100); do
    ADDR="$(grep -o 'http://[0-9.:]*' "$WORK/out.txt" 2>/dev/null || true)"
    [[ -n "$ADDR" ]] && break
    sleep 0.1
done
[[ -n "${ADDR:-}" ]] || { echo "server did not start"; cat "$WORK/err.txt"; exit 1; }

# Warm-up traffic, then a model trained on it, so the measured run scores
# with real baselines (not learning mode).
"$LOADGEN" "$ADDR" "$APIWARDEN_ADMIN_KEY" 3 "$CONNECTIONS" 1000 >/dev/null
T0=$(date +%s.%N)
curl -sf -X POST -H "Authorization: Bearer $APIWARDEN_ADMIN_KEY" "$ADDR/v1/train" >"$WORK/train.json" \
    || { echo "training failed"; cat "$WORK/err.txt"; exit 1; }
echo "trained in $(echo "$(date +%s.%N) - $T0" | bc) s: $(cut -c1-200 "$WORK/train.json")"

echo "measured run: ${SECONDS_TO_RUN}s, $CONNECTIONS connections, 1000-record NDJSON batches, durable acks, live scoring"
"$LOADGEN" "$ADDR" "$APIWARDEN_ADMIN_KEY" "$SECONDS_TO_RUN" "$CONNECTIONS" 1000

# Every acknowledged record is also scored live (shards drain their queues).
sleep 1
curl -s "$ADDR/metrics" | grep -E '^apiwarden_(ingest_records_total|scored_records_total|store_size_bytes) ' || true
kill -TERM "$PID"
wait "$PID" 2>/dev/null || true
echo "data dir size: $(du -sh "$WORK/data" | cut -f1)"
