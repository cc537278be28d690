#!/usr/bin/env bash
# System packages the test suite needs on a clean Debian machine (run as root):
# nginx for tests/nginx_logs.rs and scripts/nginx_e2e.sh, curl for the scripts.
# Idempotent and quiet: nothing is fetched when everything is installed already.
set -euo pipefail

missing=()
if ! command -v nginx >/dev/null && [[ ! -x /usr/sbin/nginx ]]; then
    missing+=(nginx-light)
fi
command -v curl >/dev/null || missing+=(curl)
command -v jq >/dev/null || missing+=(jq)
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ "$(id -u)" != 0 ]]; then
    echo "ci_deps.sh: missing ${missing[*]}; run as root to install" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
    # Newer Debian releases fold nginx-light into the nginx package.
    missing=("${missing[@]/nginx-light/nginx}")
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "ci_deps.sh: installed ${missing[*]}"
