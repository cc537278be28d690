#!/usr/bin/env bash
# Load test over loopback: 1k-record NDJSON batches from several connections
# for a bounded time, durable acks and live scoring on. Reports end-to-end
# records/s and p50/p99 ack latency, the CPU the client and the server used
# (they share the machine; nothing is subtracted), and scoring lag: scoring
# runs after the durable ack, so it may trail ingest.
#
#   scripts/load_test.sh [SECONDS] [CONNECTIONS]
#   BIN=... LOADGEN=... scripts/load_test.sh   # measure other builds (no cargo build)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN="${1:-15}"
CONNECTIONS="${2:-8}"

if [[ -z "${BIN:-}" ]]; then
    cargo build -q --release --bin apiwarden -p apiwarden
    cargo build -q --release -p apiwarden-server --example loadgen
fi
BIN="${BIN:-target/release/apiwarden}"
LOADGEN="${LOADGEN:-target/release/examples/loadgen}"

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

metric() { # value of an unlabelled metric sample, 0 when absent
    curl -s "$ADDR/metrics" | awk -v m="$1" '$1 == m { print $2; found=1 } END { if (!found) print 0 }'
}
server_cpu() { # user + system seconds of the server (100 ticks/s)
    awk '{ sub(/.*\) /, ""); split($0, f, " "); print (f[12] + f[13]) / 100 }' "/proc/$PID/stat"
}

# Warm-up traffic, then a model trained on it, so the measured run scores
# with real baselines (not learning mode).
"$LOADGEN" "$ADDR" "$APIWARDEN_ADMIN_KEY" 3 "$CONNECTIONS" 1000 >/dev/null
T0=$(date +%s.%N)
curl -sf -X POST -H "Authorization: Bearer $APIWARDEN_ADMIN_KEY" "$ADDR/v1/train" >"$WORK/train.json" \
    || { echo "training failed"; cat "$WORK/err.txt"; exit 1; }
echo "trained in $(echo "$(date +%s.%N) - $T0" | bc) s: $(cut -c1-200 "$WORK/train.json")"
# Let scoring of the warm-up traffic finish before measuring.
for _ in $(seq 1 100); do
    [[ "$(metric apiwarden_scoring_backlog_records)" == "0" ]] && break
    sleep 0.1
done

echo "measured run: ${SECONDS_TO_RUN}s, $CONNECTIONS connections, 1000-record NDJSON batches, durable acks, live scoring"
LAG_SUM0="$(metric apiwarden_scoring_lag_seconds_sum)"
LAG_N0="$(metric apiwarden_scoring_lag_seconds_count)"
CPU0="$(server_cpu)"
ING0="$(metric apiwarden_ingest_records_total)"
"$LOADGEN" "$ADDR" "$APIWARDEN_ADMIN_KEY" "$SECONDS_TO_RUN" "$CONNECTIONS" 1000
CPU1="$(server_cpu)"
ING1="$(metric apiwarden_ingest_records_total)"
BACKLOG="$(metric apiwarden_scoring_backlog_records)"
# Every acknowledged record is also scored live: time until the shards catch up.
T0=$(date +%s.%N)
for _ in $(seq 1 600); do
    [[ "$(metric apiwarden_scoring_backlog_records)" == "0" ]] && break
    sleep 0.05
done
DRAIN="$(echo "$(date +%s.%N) - $T0" | bc)"
LAG_SUM1="$(metric apiwarden_scoring_lag_seconds_sum)"
LAG_N1="$(metric apiwarden_scoring_lag_seconds_count)"
# CPU per record is the figure least moved by other load on the machine.
echo "server_cpu_s=$(echo "$CPU1 - $CPU0" | bc)" \
    "server_cpu_us_per_record=$(echo "scale=1; 1000000 * ($CPU1 - $CPU0) / ($ING1 - $ING0 + 1)" | bc)" \
    "backlog_at_end_records=$BACKLOG drain_after_end_s=$DRAIN" \
    "mean_scoring_lag_ms=$(echo "scale=1; 1000 * ($LAG_SUM1 - $LAG_SUM0) / ($LAG_N1 - $LAG_N0 + 0.000001)" | bc)"
curl -s "$ADDR/metrics" | grep -E '^apiwarden_(ingest_records_total|scored_records_total|store_size_bytes) ' || true
kill -TERM "$PID"
wait "$PID" 2>/dev/null || true
echo "data dir size: $(du -sh "$WORK/data" | cut -f1)"
