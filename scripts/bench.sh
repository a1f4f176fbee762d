#!/usr/bin/env bash
# `make bench`: figures, printed, never asserted.
# 1. argon2id time and endpoint latencies through the local server (release build of tests/bench.rs);
# 2. cold starts: every function of template.yaml built ALONE in release (`cargo build -p <fn>`,
#    as `sam build` does: a workspace build would unify every function's cargo features into
#    each binary), plus a hello-world lambda_http floor and a minimal DynamoDB GetItem function
#    (bench-lambdas/), each run in fresh sandboxes under AWS's Runtime Interface Emulator:
#    Init, first request, warm, peak RSS, size stripped and zipped (tests/cold_start.rs).
#    BENCH_BEFORE=<git rev> also builds that commit's functions (in a git worktree, same target
#    dir and profile) and prints them beside, in the same run.
#    BENCH_SANDBOXES (default 9) fresh sandboxes per binary, BENCH_WARM (30) warm requests each.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
export DDB_PORT="${BENCH_DDB_PORT:-8766}" MOTO_PORT="${BENCH_MOTO_PORT:-5766}" DDB_IN_MEMORY=1
scripts/stack.sh install
scripts/stack.sh install-sam
functions=$(sed -n 's|^ *CodeUri: functions/\([a-z_]*\)/\?$|\1|p' template.yaml)

# build_alone <source dir> <out dir> <package>...: each package in its own cargo invocation.
build_alone() {
  local src=$1 out=$2
  shift 2
  mkdir -p "$out"
  for p in "$@"; do
    (cd "$src" && cargo build --locked --release -q -p "$p")
    for bin in "$CARGO_TARGET_DIR"/release/*; do
      # The package's binaries: for bench-lambdas that is floor and getitem.
      case "$p:$(basename "$bin")" in
        "$p:$p"|bench-lambdas:floor|bench-lambdas:getitem) [[ -f $bin && -x $bin ]] && cp "$bin" "$out/" ;;
      esac
    done
  done
}
sets=()
if [[ -n "${BENCH_BEFORE:-}" ]]; then
  before_src="${BENCH_BEFORE_DIR:-$CARGO_TARGET_DIR/bench/before-src}"
  if [[ ! -d $before_src ]]; then
    git worktree add --detach "$before_src" "$BENCH_BEFORE"
  fi
  git -C "$before_src" checkout -q --detach "$BENCH_BEFORE"
  echo "[bench] building $BENCH_BEFORE's functions, each alone (release)"
  build_alone "$before_src" "$CARGO_TARGET_DIR/bench/before" $functions
  sets+=("before=$CARGO_TARGET_DIR/bench/before")
fi
echo "[bench] building the floor, the GetItem function and every function, each alone (release)"
build_alone "$root" "$CARGO_TARGET_DIR/bench/after" bench-lambdas $functions
sets+=("after=$CARGO_TARGET_DIR/bench/after")

AWS_LAMBDA_RIE="$(scripts/stack.sh rie-path)"
export AWS_LAMBDA_RIE
trap 'scripts/stack.sh stop' EXIT
scripts/stack.sh start
eval "$(scripts/stack.sh env)"
cargo run --locked --release -q -p api-tests --bin bench
cargo run --locked --release -q -p api-tests --bin cold-start -- "${sets[@]}"
