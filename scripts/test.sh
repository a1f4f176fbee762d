#!/usr/bin/env bash
# `make test`: installs the emulators, starts a private in-memory stack on its own ports, runs
# every test of the workspace against it, and stops it whatever happens.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DDB_PORT="${TEST_DDB_PORT:-8765}" MOTO_PORT="${TEST_MOTO_PORT:-5765}" DDB_IN_MEMORY=1
scripts/stack.sh install
trap 'scripts/stack.sh stop' EXIT
scripts/stack.sh start
eval "$(scripts/stack.sh env)"
cargo test --locked --workspace "$@"
