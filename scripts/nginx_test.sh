#!/usr/bin/env bash
# The gateway log presets against logs written by a real nginx: nginx (Debian
# package, installed if missing) in front of a small upstream writes the
# recommended JSON log format and the combined format (with request time);
# both logs are ingested with ?format=nginx_json and ?format=combined and every
# line must be accepted, with the bearer token stored only as a fingerprint.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v nginx >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null
fi
BIN="${APIWARDEN_BIN:-target/debug/apiwarden}"
[[ -n "${APIWARDEN_BIN:-}" ]] || cargo build -q --bin apiwarden

WORK="$(mktemp -d)"
trap 'nginx -p "$WORK" -c "$WORK/nginx.conf" -s stop 2>/dev/null || true; kill "${PID:-0}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
mkdir -p "$WORK/logs"
PORT=$((20000 + RANDOM % 20000))
UPSTREAM=$((PORT + 1))
# The JSON log_format is the one recommended by apiwarden-record (NGINX_LOG_FORMAT).
cat >"$WORK/nginx.conf" <<CONF
daemon on;
pid $WORK/nginx.pid;
error_log $WORK/logs/error.log;
events {}
http {
    access_log off;
    client_body_temp_path $WORK/body;
    proxy_temp_path $WORK/proxy;
    log_format apiwarden escape=json '{"time_iso8601":"\$time_iso8601","remote_addr":"\$remote_addr","request_method":"\$request_method","request_uri":"\$request_uri","status":\$status,"request_time":\$request_time,"request_length":\$request_length,"bytes_sent":\$bytes_sent,"http_host":"\$host","http_user_agent":"\$http_user_agent","remote_user":"\$remote_user","http_authorization":"\$http_authorization","http_x_api_key":"\$http_x_api_key","request_id":"\$request_id","geoip_country_code":""}';
    log_format combined_time '\$remote_addr - \$remote_user [\$time_local] "\$request" \$status \$body_bytes_sent "\$http_referer" "\$http_user_agent" \$request_time';
    server {
        listen 127.0.0.1:$UPSTREAM;
        location / { default_type application/json; return 200 '{"ok":true,"items":[1,2,3]}'; }
        location /missing { return 404; }
    }
    server {
        listen 127.0.0.1:$PORT;
        server_name shop.example.com;
        access_log $WORK/logs/access.json apiwarden;
        access_log $WORK/logs/access.log combined_time;
        location / { proxy_pass http://127.0.0.1:$UPSTREAM; }
    }
}
CONF
nginx -p "$WORK" -c "$WORK/nginx.conf"

REQUESTS=0
for i in $(seq 1 20); do
    curl -s -o /dev/null -H "Host: shop.example.com" -H "Authorization: Bearer tok-secret-$((i % 3))" \
        "http://127.0.0.1:$PORT/v1/accounts/$((1000 + i))?expand=orders"
    REQUESTS=$((REQUESTS + 1))
done
curl -s -o /dev/null -X POST -H "Host: shop.example.com" -d '{"user":"bob"}' "http://127.0.0.1:$PORT/v1/login"
curl -s -o /dev/null -H "Host: shop.example.com" -A 'Mozilla/5.0 "quoted" agent' "http://127.0.0.1:$PORT/missing/x"
REQUESTS=$((REQUESTS + 2))
nginx -p "$WORK" -c "$WORK/nginx.conf" -s reopen  # flush the logs
sleep 0.5

export APIWARDEN_ADMIN_KEY=nginx-test-key APIWARDEN_LOG=warn
"$BIN" serve --listen 127.0.0.1:0 --data "$WORK/data" >"$WORK/out.txt" 2>"$WORK/err.txt" &
PID=$!
for _ in $(seq 1 100); do
    ADDR="$(grep -o 'http://[0-9.:]*' "$WORK/out.txt" 2>/dev/null || true)"
    [[ -n "$ADDR" ]] && break
    sleep 0.1
done
[[ -n "${ADDR:-}" ]] || { echo "server did not start"; cat "$WORK/err.txt"; exit 1; }

fail=0
for preset in nginx_json:access.json combined:access.log; do
    format="${preset%%:*}"; file="${preset#*:}"
    answer="$(curl -s -X POST -H "Authorization: Bearer $APIWARDEN_ADMIN_KEY" --data-binary "@$WORK/logs/$file" \
        "$ADDR/v1/records?format=$format")"
    accepted="$(jq .accepted <<<"$answer")"; rejected="$(jq .rejected <<<"$answer")"
    echo "$format: lines=$(wc -l <"$WORK/logs/$file") accepted=$accepted rejected=$rejected"
    if [[ "$accepted" != "$REQUESTS" || "$rejected" != "0" ]]; then
        echo "FAIL: $answer"; fail=1
    fi
done
first_id="$(head -1 "$WORK/logs/access.json" | jq -r .request_id)"
stored="$(curl -s -H "Authorization: Bearer $APIWARDEN_ADMIN_KEY" "$ADDR/v1/records/$first_id")"
echo "stored: $stored"
if grep -q 'tok-secret' <<<"$stored" || [[ "$(jq -r .token <<<"$stored")" != fp:* ]]; then
    echo "FAIL: token not fingerprinted"; fail=1
fi
[[ "$(jq -r .api <<<"$stored")" == "shop" ]] || { echo "FAIL: api not discovered from the Host"; fail=1; }
[[ $fail == 0 ]] && echo "PASS: nginx_json and combined logs from a real nginx ingested"
exit $fail
