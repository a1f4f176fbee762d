#!/usr/bin/env bash
# `make bench-import`: generated legacy exports of BENCH_IMPORT_SIZES users (default 5000 and
# 20000; plus a room per 10 users and a live token per 10 users, every password a legacy hash)
# imported into DynamoDB Local through the import binary; prints accounts/s, the argon2id
# wrap's share of the CPU and the peak RSS per size (it must stay flat). Prints only.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DDB_PORT="${DDB_PORT:-8000}" MOTO_PORT="${MOTO_PORT:-5000}"
SIZES="${BENCH_IMPORT_SIZES:-5000 20000}"
CONCURRENCY="${BENCH_IMPORT_CONCURRENCY:-16}"
PROFILE="${BENCH_IMPORT_PROFILE:-release}"
scripts/stack.sh install
scripts/stack.sh start
eval "$(scripts/stack.sh env)"
if [ "$PROFILE" = release ]; then
  cargo build --locked --release -p import -p local-api
  BIN="${CARGO_TARGET_DIR:-target}/release"
else
  cargo build --locked -p import -p local-api
  BIN="${CARGO_TARGET_DIR:-target}/debug"
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
printf '%8s %10s %10s %12s %12s %14s\n' users seconds accounts/s wrap-cpu-s wrap-share peak-rss-MiB
for n in $SIZES; do
  dir="$WORK/export-$n"
  mkdir -p "$dir"
  python3 - "$dir" "$n" <<'PY'
import base64, datetime, hashlib, json, sys
out, n = sys.argv[1], int(sys.argv[2])
now = datetime.datetime.now(datetime.timezone.utc)
with open(f"{out}/users.jsonl", "w") as f:
    for pk in range(1, n + 1):
        pw = f"password{pk}".encode()
        if pk % 2:
            h = hashlib.md5(pw).hexdigest()
        else:
            d = hashlib.pbkdf2_hmac("sha256", pw, b"benchsalt", 1000)
            h = "pbkdf2_sha256$1000$benchsalt$" + base64.b64encode(d).decode()
        f.write(json.dumps({"pk": str(pk), "username": f"user{pk}", "password": h, "nickname": f"n{pk}",
                            "sex": "2", "email": f"u{pk}@example.com", "login_type": "0",
                            "date_joined": "2016-10-28T02:27:15.211240Z", "roomid": str(100000 + pk)}) + "\n")
with open(f"{out}/rooms.jsonl", "w") as f:
    for pk in range(1, n // 10 + 1):
        f.write(json.dumps({"pk": str(pk), "roomid": str(900000 + pk), "room_alias": f"room{pk}",
                            "active": "true" if pk % 2 else "false", "owner_pk": str(pk)}) + "\n")
with open(f"{out}/tokens.jsonl", "w") as f:
    for pk in range(1, n // 10 + 1):
        f.write(json.dumps({"token": hashlib.md5(f"t{pk}".encode()).hexdigest(), "pk": str(pk),
                            "created": (now - datetime.timedelta(hours=1)).isoformat()}) + "\n")
PY
  prefix="bench$$x$n"
  export USERS_TABLE="${prefix}UsersTable" TOKENS_TABLE="${prefix}TokensTable" ROOMS_TABLE="${prefix}RoomsTable"
  "$BIN/local-api" --create-tables-only 2>/dev/null
  start=$(date +%s.%N)
  "$BIN/import" --from "$dir" --concurrency "$CONCURRENCY" >"$WORK/out-$n" 2>"$WORK/err-$n" </dev/null
  end=$(date +%s.%N)
  python3 - "$n" "$start" "$end" "$WORK/out-$n" "$WORK/err-$n" "$(nproc)" <<'PY'
import re, sys
n, start, end, cores = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[6])
summary = open(sys.argv[4]).read().strip().splitlines()[-1]
err = open(sys.argv[5]).read()
m = re.search(r"([0-9.]+) s argon2id wrapping \(CPU, all threads\), peak RSS ([0-9]+) KiB", err)
wrap, rss = float(m.group(1)), int(m.group(2))
secs = end - start
print(f"{n:8d} {secs:10.1f} {n / secs:10.1f} {wrap:12.1f} {wrap / secs / cores * 100:11.0f}% {rss / 1024:14.1f}   {summary}")
PY
done
echo "(wrap-share: argon2id CPU seconds over wall seconds x $(nproc) cores; load average: $(cut -d' ' -f1-3 /proc/loadavg))"
