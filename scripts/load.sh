#!/usr/bin/env bash
# `make load`: the load generator (tests/load_main.rs) against a private in-memory stack.
# LOAD_USERS (default 64) virtual users for LOAD_SECONDS (default 30); a debug build, the same
# one the tests use, so it costs no extra compile. Prints figures; exit 1 on a broken invariant.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DDB_PORT="${LOAD_DDB_PORT:-8767}" MOTO_PORT="${LOAD_MOTO_PORT:-5767}" DDB_IN_MEMORY=1
scripts/stack.sh install
trap 'scripts/stack.sh stop' EXIT
scripts/stack.sh start
eval "$(scripts/stack.sh env)"
cargo run --locked -p api-tests --bin load
