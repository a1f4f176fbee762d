#!/usr/bin/env bash
# Property-based test of openapi.yaml against the local server (schemathesis, pinned in
# requirements-dev.txt; settings in tests/schemathesis/schemathesis.toml). Expects the emulator
# stack of `make test` (or `make run`) and its environment; starts its own local server on a free
# port, registers the run's user, runs every phase and check, and fails on any disagreement.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
: "${AWS_ENDPOINT_URL_DYNAMODB:?run under make test (scripts/stack.sh env)}"
SERVER="${CARGO_TARGET_DIR:-target}/debug/local-api"
[[ -x "$SERVER" ]] || cargo build --locked -p local-api
PORT="$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
LOG=.local/logs/schemathesis-server.log
mkdir -p .local/logs
# Third-party login without the providers (local development setting; tests/sns_login.rs covers
# verification against stand-in providers): /snslogin/ is exercised down to the store.
SNS_VERIFY=off \
  USERS_TABLE="st$$UsersTable" TOKENS_TABLE="st$$TokensTable" ROOMS_TABLE="st$$RoomsTable" "$SERVER" --port "$PORT" >"$LOG" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "http://127.0.0.1:$PORT/rooms/" 2>/dev/null && break
  kill -0 "$server" 2>/dev/null || { cat "$LOG" >&2; exit 1; }
  sleep 0.1
done
curl -fsS -o /dev/null -X POST "http://127.0.0.1:$PORT/users/" -H 'content-type: application/json' \
  --data '{"username":"schemathesis_user","password":"schemathesis-password","nickname":"st"}' || true
start=$SECONDS
.venv/bin/schemathesis --config-file tests/schemathesis/schemathesis.toml run openapi.yaml \
  --url "http://127.0.0.1:$PORT" --phases examples,coverage,fuzzing,stateful "$@"
echo "[schemathesis] passed in $((SECONDS - start)) s" >&2
