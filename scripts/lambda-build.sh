#!/usr/bin/env bash
# `make lambda-build`: `sam build` with the project's own tooling (.venv-sam: SAM CLI,
# cargo-lambda, zig), cross-compiling every function of template.yaml for arm64
# (provided.al2023), then each function's bootstrap size, raw and zipped as `sam deploy` uploads it.
# Extra arguments go to `sam build` (e.g. `make lambda-build ARGS=LoginFunction`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/stack.sh install-sam
export PATH="$PWD/.venv-sam/bin:$PATH" SAM_CLI_TELEMETRY=0
# zig links for aarch64, but the Rust standard library for the target comes from rustup.
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
  rustup target add aarch64-unknown-linux-gnu
fi
start=$SECONDS
sam build "$@"
echo "[lambda-build] sam build took $((SECONDS - start)) s"
.venv-sam/bin/python - <<'PY'
import glob, io, os, zipfile
rows = []
for path in sorted(glob.glob(".aws-sam/build/*/bootstrap")):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:   # as `sam package` zips code
        z.write(path, "bootstrap")
    rows.append((path.split("/")[2], os.path.getsize(path), len(buf.getvalue())))
if not rows:
    raise SystemExit("[lambda-build] no .aws-sam/build/*/bootstrap: did sam build build anything?")
print(f"{'function':<24} {'bootstrap bytes':>16} {'zipped bytes':>14} {'zipped':>10}")
for name, raw, zipped in rows:
    print(f"{name:<24} {raw:>16,} {zipped:>14,} {zipped / 2**20:>6.2f} MiB")
PY
