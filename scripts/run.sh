#!/usr/bin/env bash
# `make run`: the whole API locally. Emulators keep running after the server stops (Ctrl-C);
# `make stack-stop` ends them. Data lives in .local/dynamodb and survives restarts.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DDB_PORT="${DDB_PORT:-8000}" MOTO_PORT="${MOTO_PORT:-5000}" PORT="${PORT:-3000}"
scripts/stack.sh install
scripts/stack.sh start
eval "$(scripts/stack.sh env)"
echo "[run] DynamoDB Local on :$DDB_PORT, moto (SNS, S3) on :$MOTO_PORT; SMS sent: curl -s $MOTO_URL/moto-api/data.json; avatars: $MOTO_URL/avatarbucket/avatars/..." >&2
exec cargo run --locked -p local-api -- --port "$PORT"
