#!/usr/bin/env bash
# `make import FROM=<dir> [ARGS=--dry-run]`: the legacy export in <dir> into the tables `make run`
# serves (DynamoDB Local on DDB_PORT, started if needed; the tables created if missing).
# Against a deployed stack run the binary itself with that stack's table names and ordinary AWS
# credentials: docs/import.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
: "${FROM:?usage: make import FROM=<export dir> [ARGS=--dry-run]}"
export DDB_PORT="${DDB_PORT:-8000}" MOTO_PORT="${MOTO_PORT:-5000}"
scripts/stack.sh install
scripts/stack.sh start
eval "$(scripts/stack.sh env)"
cargo run --locked -q -p local-api -- --create-tables-only
exec cargo run --locked --release -p import -- --from "$FROM" ${ARGS:-}
