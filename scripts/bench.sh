#!/usr/bin/env bash
# `make bench`: release build of the bench binary against a private in-memory stack.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DDB_PORT="${BENCH_DDB_PORT:-8766}" MOTO_PORT="${BENCH_MOTO_PORT:-5766}" DDB_IN_MEMORY=1
scripts/stack.sh install
trap 'scripts/stack.sh stop' EXIT
scripts/stack.sh start
eval "$(scripts/stack.sh env)"
cargo run --locked --release -p api-tests --bin bench
