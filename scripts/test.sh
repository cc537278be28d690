#!/usr/bin/env bash
# The project's test command: unit, property and end-to-end tests of every crate.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --all-targets
