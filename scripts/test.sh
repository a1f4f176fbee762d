#!/usr/bin/env bash
# `make test`: installs the emulators and the SAM tooling, lints template.yaml and openapi.yaml,
# builds every function binary (the Lambda runtime test runs them under AWS's Runtime Interface
# Emulator), starts a private in-memory stack on its own ports, runs every test of the workspace
# against it, and stops it whatever happens.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DDB_PORT="${TEST_DDB_PORT:-8765}" MOTO_PORT="${TEST_MOTO_PORT:-5765}" DDB_IN_MEMORY=1
export SAM_CLI_TELEMETRY=0
scripts/stack.sh install
scripts/stack.sh install-sam

# The template must lint clean: cfn-lint warnings fail `sam validate --lint` too. openapi.yaml
# must be valid OpenAPI (tests/deploy_files.rs keeps its routes equal to the template's).
.venv-sam/bin/sam validate --lint --template-file template.yaml
.venv-sam/bin/openapi-spec-validator openapi.yaml

# The local server and the reference binaries, then every function crate built alone, as `sam
# build` builds it (CodeUri: functions/<name>): its own features only, so a handler that needs a
# feature its crate lacks, or a future too deep for rustc built alone, fails here and not at
# deploy time. These alone-built binaries are what tests/lambda_rie.rs runs (cargo test does not
# build other crates' bins).
cargo build --locked --workspace --bins
for manifest in functions/*/Cargo.toml; do
  cargo build --locked --manifest-path "$manifest"
done
AWS_LAMBDA_RIE="$(scripts/stack.sh rie-path)"
export AWS_LAMBDA_RIE

trap 'scripts/stack.sh stop' EXIT
scripts/stack.sh start
eval "$(scripts/stack.sh env)"
# Everything the suite prints is kept and scanned (scripts/scan-logs.sh): no phone number,
# token, code or password in any log line. RUST_LOG=trace: the runtime's and the SDK's crates
# must stay at info whatever it says.
LOG="${CARGO_TARGET_DIR:-target}/test-output.log"
RUST_LOG=trace cargo test --locked --workspace "$@" 2>&1 | tee "$LOG"
scripts/scan-logs.sh "$LOG"

# openapi.yaml against the running server: every phase and check, fixed seed (about a minute).
scripts/schemathesis.sh
