#!/usr/bin/env bash
# scripts/scan-logs.sh FILE: fails when the captured output of the test suite (scripts/test.sh
# tees it into FILE) holds a secret or a personal number, or a request's log line without its
# request id. The suite's local servers log exactly like the functions (shared::context::
# init_tracing, RUST_LOG=trace so that the caps on the runtime's and the SDK's crates are
# exercised), so what passes here is what CloudWatch would receive.
set -euo pipefail
log="${1:?usage: scripts/scan-logs.sh FILE}"

# Some log lines must be there, or the scan proves nothing.
lines="$(grep -c '"level":' "$log" || true)"
if (( lines < 50 )); then
  echo "scan-logs: only $lines log lines in $log: was logging on?" >&2
  exit 1
fi

# Seeded with what the suite sends: its passwords, the phone numbers it uses (unique_phone:
# mainland mobiles, national and E.164), tokens (32 lowercase hex), captcha codes as fields.
patterns=(
  'password12[0-9]|password456|password-[0-9]{1,2}([^0-9a-f]|$)|wrong-password|brand-new-1|nope-nope|bad-old-pw'
  # (not inside a hex word: request ids are UUIDs, whose hex runs can hold 11 digits)
  '(^|[^0-9a-f])1[3-9][0-9]{9}([^0-9a-f]|$)'
  '\+86[0-9]{11}'
  '(^|[^0-9a-f])[0-9a-f]{32}([^0-9a-f]|$)'
  '(captcha|code)(\\?"|=|:)+ *[0-9]{6}([^0-9]|$)'
)
failed=0
for p in "${patterns[@]}"; do
  if hits="$(grep -nE -- "$p" "$log")"; then
    echo "scan-logs: the test output holds /$p/:" >&2
    printf '%s\n' "$hits" | head -n 5 | cut -c1-400 >&2
    failed=1
  fi
done

# Every line written while a request is answered carries its request id.
if hits="$(grep -n '"message":"request \(failed\|refused\)' "$log" | grep -v '"requestId"')"; then
  echo "scan-logs: request log lines without a requestId:" >&2
  printf '%s\n' "$hits" | head -n 5 | cut -c1-400 >&2
  failed=1
fi

if (( failed )); then
  exit 1
fi
echo "scan-logs: $lines log lines, no password, phone number, token or code, every request line with its id"
