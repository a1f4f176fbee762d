#!/usr/bin/env bash
# `make admin ARGS='disable --pk 7'`: the operator tool (docs/operator.md). Without `--stack NAME`
# it works on the local stack `make run` serves (its DynamoDB Local, started if need be, and
# the same table names); with it, on that deployed stack, with your ordinary AWS credentials
# (AWS_PROFILE, AWS_REGION...). One JSON object on stdout.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ " $* " != *" --stack "* ]]; then
  export DDB_PORT="${DDB_PORT:-8000}" MOTO_PORT="${MOTO_PORT:-5000}"
  scripts/stack.sh start >&2
  eval "$(scripts/stack.sh env)"
fi
exec cargo run --locked --quiet -p admin -- "$@"
