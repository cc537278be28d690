#!/usr/bin/env bash
# Real gateway logs for apiwarden: a real nginx (Debian package) on loopback,
# a front server proxying to a small upstream (scripts/nginx/*.conf.in), and
# bounded curl traffic through it in three phases, each logged by its own
# front port in two formats, the nginx JSON format (`?format=nginx_json`) and
# combined + $request_time (`?format=combined`):
#   access.*   ordinary traffic: accounts, reports, orders, logins, probes, odd
#              methods and paths, Bearer tokens, X-Api-Key, Basic, IPv4 and IPv6;
#   hostile.*  non-UTF-8 header bytes and malformed request lines;
#   attack.*   one fresh token walking 150 account ids (enumeration).
# nginx is stopped before the line counts are printed.
#
# Usage: scripts/nginx_e2e.sh [--out DIR] [--requests N] [--seed N]
#   --out DIR     keep everything in DIR (its logs/, tmp/ and docroot/ are
#                 replaced): logs/*.json and logs/*.log, manifest.tsv (what curl
#                 sent and got for each ordinary request, in order; read by
#                 tests/nginx_logs.rs), hostile_manifest.tsv (the kind of each
#                 hostile request) and attack_manifest.tsv; without it a temp
#                 dir is used and removed.
#   --requests N  ordinary requests to send (default 300, at most 5000).
#   --seed N      seed of the traffic mix (default 7); same seed, same requests.
# Needs nginx (scripts/ci_deps.sh installs it) and curl >= 7.83. Runs unprivileged.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"

OUT=""
REQUESTS=300
SEED=7
while [[ $# -gt 0 ]]; do
    case "$1" in
        --out) OUT="${2:?--out needs a directory}"; shift 2 ;;
        --requests) REQUESTS="${2:?--requests needs a number}"; shift 2 ;;
        --seed) SEED="${2:?--seed needs a number}"; shift 2 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done
[[ "$REQUESTS" =~ ^[0-9]+$ && "$REQUESTS" -ge 1 && "$REQUESTS" -le 5000 ]] ||
    { echo "--requests must be 1..5000" >&2; exit 2; }
[[ "$SEED" =~ ^[0-9]+$ ]] || { echo "--seed must be a number" >&2; exit 2; }

NGINX="${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}"
[[ -x "$NGINX" ]] || { echo "nginx not found (run scripts/ci_deps.sh as root)" >&2; exit 3; }
command -v curl >/dev/null || { echo "curl not found (run scripts/ci_deps.sh as root)" >&2; exit 3; }

if [[ -n "$OUT" ]]; then
    mkdir -p "$OUT"
    WORK="$(cd "$OUT" && pwd)"
    KEEP=1
else
    WORK="$(mktemp -d)"
    KEEP=0
fi
NGINX_PID=""
cleanup() {
    if [[ -n "$NGINX_PID" ]] && kill -0 "$NGINX_PID" 2>/dev/null; then
        kill -TERM "$NGINX_PID" 2>/dev/null || true
        wait "$NGINX_PID" 2>/dev/null || true
    fi
    [[ $KEEP == 1 ]] || rm -rf "$WORK"
}
trap cleanup EXIT

# Workers drop to `nobody` when nginx starts as root: they must read the docroot.
chmod 755 "$WORK"
rm -rf "$WORK/logs" "$WORK/tmp" "$WORK/docroot"
mkdir -p "$WORK/logs" "$WORK/tmp" "$WORK/docroot/v1/accounts"

# Account documents 1000..1039 of varying size (1040..1049 are unknown: 404).
for id in $(seq 1000 1039); do
    entries=$(( (id * 37) % 60 ))
    {
        printf '{"id":%d,"name":"account-%d","history":[' "$id" "$id"
        for n in $(seq 1 "$entries"); do
            [[ $n == 1 ]] || printf ','
            printf '{"n":%d,"amount":%d}' "$n" $(( (id * n) % 997 ))
        done
        printf ']}\n'
    } >"$WORK/docroot/v1/accounts/$id"
done
chmod -R a+rX "$WORK/docroot"

# Deterministic secrets: distinctive strings, so a leak is found by plain search.
# $RANDOM is only read in this shell: a subshell reseeds it.
RANDOM=$SEED
hex() { printf -v HEX '%04x%04x%04x' $RANDOM $RANDOM $RANDOM; }
TOKENS=() KEYS=()
for _ in 1 2 3 4 5 6; do hex; TOKENS+=("tok-e2e-$HEX"); done
for _ in 1 2 3 4; do hex; KEYS+=("key-e2e-$HEX"); done
hex; LOGIN_PASSWORD="pw-e2e-$HEX"
printf 'alice:{PLAIN}%s\n' "$LOGIN_PASSWORD" >"$WORK/htpasswd"
chmod 644 "$WORK/htpasswd"

# Some traffic comes from ::1 when the loopback has IPv6, so both presets see IPv6 clients.
HAVE_V6=0
if grep -qi '^0\{31\}1 .* lo$' /proc/net/if_inet6 2>/dev/null; then HAVE_V6=1; fi
render() {
    local listen_v6=""
    [[ $HAVE_V6 == 1 ]] && listen_v6="listen [::1]:$FRONT_PORT;"
    sed -e "s|@PREFIX@|$WORK|g" -e "s|@FRONT_PORT@|$FRONT_PORT|g" \
        -e "s|@UPSTREAM_PORT@|$UPSTREAM_PORT|g" -e "s|@HOSTILE_PORT@|$HOSTILE_PORT|g" \
        -e "s|@ATTACK_PORT@|$ATTACK_PORT|g" -e "s|@LISTEN_V6@|$listen_v6|g" "$1"
}

# Random ports below the ephemeral range (32768+, where port-0 listeners and
# outgoing connections land); a bind conflict makes nginx exit, then try others.
started=0
for attempt in 1 2 3 4 5; do
    FRONT_PORT=$(shuf -i 20000-32700 -n 1)
    UPSTREAM_PORT=$((FRONT_PORT + 1))
    HOSTILE_PORT=$((FRONT_PORT + 2))
    ATTACK_PORT=$((FRONT_PORT + 3))
    render "$HERE/nginx/nginx.conf.in" >"$WORK/nginx.conf"
    render "$HERE/nginx/upstream.conf.in" >"$WORK/upstream.conf"
    "$NGINX" -t -q -e "$WORK/logs/error.log" -p "$WORK" -c "$WORK/nginx.conf" ||
        { echo "nginx rejects the rendered configuration" >&2; exit 1; }
    "$NGINX" -e "$WORK/logs/error.log" -p "$WORK" -c "$WORK/nginx.conf" &
    NGINX_PID=$!
    for _ in $(seq 1 50); do
        if ! kill -0 "$NGINX_PID" 2>/dev/null; then break; fi
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$FRONT_PORT/__ready" || true)
        if [[ "$code" == 204 ]]; then started=1; break; fi
        sleep 0.1
    done
    [[ $started == 1 ]] && break
    kill -TERM "$NGINX_PID" 2>/dev/null || true
    wait "$NGINX_PID" 2>/dev/null || true
    NGINX_PID=""
    echo "nginx did not start on port $FRONT_PORT (attempt $attempt):" >&2
    tail -n 3 "$WORK/logs/error.log" >&2 || true
done
[[ $started == 1 ]] || { echo "nginx failed to start" >&2; exit 1; }
: >"$WORK/logs/access.json"
: >"$WORK/logs/access.log"
: >"$WORK/logs/hostile.json"
: >"$WORK/logs/hostile.log"
: >"$WORK/logs/attack.json"
: >"$WORK/logs/attack.log"

AGENTS=(
    "shop-app/3.2 (iOS 17)"
    "python-requests/2.31"
    "Mozilla/5.0 \"quoted\" (X11; Linux x86_64)"
    "curl/8.0 back\\slash"
    "okhttp/4.12"
    $'Mozilla/5.0 (\xc3\x9cn\xc3\xafcode \xe2\x98\x83)\ttab'
)
MANIFEST="$WORK/manifest.tsv"
printf 'client_ip\tmethod\tpath\thost\tauth\tsecret\tsent_request_id\tstatus\ttime_total_s\tsize_download\trequest_id\tsize_request\tsize_header\n' >"$MANIFEST"

started_at=$(date +%s.%N)
for i in $(seq 1 "$REQUESTS"); do
    kind=$((RANDOM % 100))
    account=$((1000 + RANDOM % 50))
    token="${TOKENS[$((RANDOM % ${#TOKENS[@]}))]}"
    key="${KEYS[$((RANDOM % ${#KEYS[@]}))]}"
    agent="${AGENTS[$((RANDOM % ${#AGENTS[@]}))]}"
    method=GET auth=none secret="" args=()
    if ((kind < 40)); then
        path="/v1/accounts/$account"
        auth=bearer secret="$token"
    elif ((kind < 45)); then
        path="/v1/reports/daily?day=$((1 + RANDOM % 28))"
        auth=bearer secret="$token"
    elif ((kind < 55)); then
        path="/v1/accounts/$account?expand=orders&page=$((RANDOM % 5))"
        auth=api_key secret="$key"
    elif ((kind < 65)); then
        method=POST path="/v1/accounts/$account/orders"
        auth=bearer secret="$token"
        args+=(-H "Content-Type: application/json" --data-raw "{\"sku\":\"S-$((RANDOM % 900))\",\"qty\":$((1 + RANDOM % 4))}")
    elif ((kind < 70)); then
        methods=(PUT DELETE PATCH OPTIONS BREW)
        method="${methods[$((RANDOM % ${#methods[@]}))]}"
        path="/v1/accounts/$account"
        auth=bearer secret="$token"
    elif ((kind < 75)); then
        method=HEAD path="/v1/accounts/$account"
        auth=api_key secret="$key"
    elif ((kind < 85)); then
        method=POST path="/login"
        if ((RANDOM % 10 < 4)); then
            secret="alice:$LOGIN_PASSWORD"
        else
            login_user=alice
            ((RANDOM % 2 == 0)) || login_user=mallory
            hex
            secret="$login_user:guess-$HEX"
        fi
        auth=basic
        args+=(--data-raw "remember=1")
    elif ((kind < 95)); then
        probes=("/.env" "/admin" "/wp-login.php" "/v1/internal/debug?q=%27%20or%201%3D1" "/v2/users?id=1%20OR%201"
            "/v1/accounts/$account/../../etc/passwd" '/v1/a"b/%C3%A9t%C3%A9?q="x"&y=%00' '/v1/files/..\..\win.ini')
        path="${probes[$((RANDOM % ${#probes[@]}))]}"
        args+=(--path-as-is)
    else
        path="/v1/accounts/$account/orders"
        auth=bearer_and_key secret="$token $key"
    fi
    case "$auth" in
        bearer) args+=(-H "Authorization: Bearer $token") ;;
        api_key) args+=(-H "X-Api-Key: $key") ;;
        bearer_and_key) args+=(-H "Authorization: Bearer $token" -H "X-Api-Key: $key") ;;
        basic) args+=(-u "$secret") ;;
    esac
    sent_id=""
    if ((RANDOM % 2 == 0)); then
        sent_id="req-$SEED-$i"
        args+=(-H "X-Request-Id: $sent_id")
    fi
    client=127.0.0.1 base="http://127.0.0.1:$FRONT_PORT"
    if [[ $HAVE_V6 == 1 ]] && ((RANDOM % 5 == 0)); then
        client=::1 base="http://[::1]:$FRONT_PORT"
    fi
    if [[ "$method" == HEAD ]]; then
        args+=(--head)
    else
        args+=(-X "$method")
    fi
    result=$(curl -s -o /dev/null --max-time 5 -A "$agent" -H "Host: api.shop.test" "${args[@]}" \
        -w '%{http_code}\t%{time_total}\t%{size_download}\t%header{x-request-id}\t%{size_request}\t%{size_header}' \
        "$base$path") || { echo "curl failed for $method $path" >&2; exit 1; }
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$client" "$method" "$path" "api.shop.test" "$auth" "$secret" "$sent_id" "$result" >>"$MANIFEST"
done
finished_at=$(date +%s.%N)

# Hostile clients, one request each, in this order (hostile_manifest.tsv):
# header bytes that are not UTF-8, and request lines nginx answers with 400
# or takes in a form other than origin-form.
HOSTILE="$WORK/hostile_manifest.tsv"
printf 'kind\n' >"$HOSTILE"
hostile_curl() {
    curl -s -o /dev/null --max-time 5 -H "Host: api.shop.test" "$@" || true
}
raw_request() {
    # bash's /dev/tcp: bytes no HTTP client sends. Bounded by timeout.
    timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"; printf "$2" >&3; cat <&3 >/dev/null' _ \
        "$HOSTILE_PORT" "$1" || true
}
hostile_base="http://127.0.0.1:$HOSTILE_PORT"
hostile_curl -A $'scanner\xff\xfe/1.0' -H "Authorization: Bearer ${TOKENS[0]}" "$hostile_base/v1/accounts/1001"
echo non_utf8_user_agent >>"$HOSTILE"
hostile_curl -A $'x\xc0\xaf\xc0\xaf' -u "mallory:guess-hostile" --data-raw "remember=1" "$hostile_base/login"
echo non_utf8_user_agent >>"$HOSTILE"
hostile_curl --request-target "http://evil.example/x" "$hostile_base/"
echo absolute_form >>"$HOSTILE"
hostile_curl -X OPTIONS --request-target "*" "$hostile_base/"
echo asterisk_form >>"$HOSTILE"
raw_request 'GET /v1/accounts/1001\r\n'
echo http_0_9 >>"$HOSTILE"
raw_request '\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03'
echo tls_on_plain_port >>"$HOSTILE"

# Enumeration: a fresh token walks 150 consecutive account ids as fast as curl goes.
ATTACK="$WORK/attack_manifest.tsv"
hex; ATTACK_TOKEN="tok-e2e-attacker-$HEX"
printf 'method\tpath\tsecret\tstatus\trequest_id\n' >"$ATTACK"
for account in $(seq 1000 1149); do
    result=$(curl -s -o /dev/null --max-time 5 -A "python-requests/2.31" -H "Host: api.shop.test" \
        -H "Authorization: Bearer $ATTACK_TOKEN" -w '%{http_code}\t%header{x-request-id}' \
        "http://127.0.0.1:$ATTACK_PORT/v1/accounts/$account") || { echo "curl failed (attack)" >&2; exit 1; }
    printf 'GET\t%s\t%s\t%s\n' "/v1/accounts/$account" "$ATTACK_TOKEN" "$result" >>"$ATTACK"
done

# QUIT: finish in-flight requests and close the logs cleanly.
kill -QUIT "$NGINX_PID"
for _ in $(seq 1 100); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.1; done
wait "$NGINX_PID" 2>/dev/null || true
NGINX_PID=""

echo "requests: $REQUESTS in $(awk -v a="$started_at" -v b="$finished_at" 'BEGIN { printf "%.2f", b - a }') s"
echo "access.json lines: $(wc -l <"$WORK/logs/access.json")"
echo "access.log lines: $(wc -l <"$WORK/logs/access.log")"
echo "hostile.json lines: $(wc -l <"$WORK/logs/hostile.json"), hostile.log lines: $(wc -l <"$WORK/logs/hostile.log")"
echo "attack.json lines: $(wc -l <"$WORK/logs/attack.json"), attack.log lines: $(wc -l <"$WORK/logs/attack.log")"
echo "statuses: $(tail -n +2 "$MANIFEST" | cut -f8 | sort | uniq -c | awk '{ printf "%s:%s ", $2, $1 }')"
[[ $KEEP == 1 ]] && echo "output: $WORK"
exit 0
