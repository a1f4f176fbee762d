#!/usr/bin/env bash
# `make import FROM=<dir> [ARGS=--dry-run]`: the legacy export in <dir> into the tables `make run`
# serves (DynamoDB Local on DDB_PORT, started if needed; the tables created if missing).
# `STACK=<name> make import FROM=<dir>`: into that deployed stack's tables instead (names from its
# CloudFormation outputs through the AWS CLI; the ordinary AWS credentials and region).
# docs/import.md has the details.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
: "${FROM:?usage: make import FROM=<export dir> [ARGS=--dry-run] [STACK=<deployed stack>]}"
if [ -n "${STACK:-}" ]; then
  out() {
    aws cloudformation describe-stacks --stack-name "$STACK" \
      --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
  }
  export USERS_TABLE="$(out UsersTableName)" TOKENS_TABLE="$(out TokensTableName)" ROOMS_TABLE="$(out RoomsTableName)"
  exec cargo run --locked --release -p import -- --from "$FROM" ${ARGS:-}
fi
export DDB_PORT="${DDB_PORT:-8000}" MOTO_PORT="${MOTO_PORT:-5000}"
scripts/stack.sh install
scripts/stack.sh start
eval "$(scripts/stack.sh env)"
cargo run --locked -q -p local-api -- --create-tables-only
exec cargo run --locked --release -p import -- --from "$FROM" ${ARGS:-}
