#!/usr/bin/env bash
# `make check-roots`: does each host the functions call out to still chain to a root compiled
# into them (shared/certs, shared/src/tls.rs)? Run it from a machine on the internet before a
# deploy and whenever a provider announces a certificate change: a host that no longer chains
# to one of them fails every call from the deployed functions (502 provider_error).
# The project's own machines reach no such host; there it reports them unreachable and exits 2.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# host -> the roots its client trusts (tls.rs: PROVIDER_ROOTS for the login providers and Apple).
# CHECK_ROOTS_HOSTS="host[:port] ..." checks other hosts against the same roots.
read -r -a PROVIDER_HOSTS <<<"${CHECK_ROOTS_HOSTS:-appleid.apple.com api.weixin.qq.com graph.qq.com api.weibo.com dysmsapi.aliyuncs.com}"
PROVIDER_PEMS=$(sed -n 's/.*"\([a-z0-9-]*\.pem\)".*/\1/p' shared/src/tls.rs | grep -v -e '^amazon-' -e '^starfield-')

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for pem in $PROVIDER_PEMS; do cat "shared/certs/$pem"; done >"$work/providers.pem"

failed=0 unreachable=0
for target in "${PROVIDER_HOSTS[@]}"; do
  host="${target%%:*}" port=443
  [[ "$target" == *:* ]] && port="${target##*:}"
  if ! timeout 10 openssl s_client -connect "$host:$port" -servername "$host" -showcerts </dev/null \
    >"$work/$host.txt" 2>/dev/null; then
    echo "UNREACHABLE $host"
    unreachable=$((unreachable + 1))
    continue
  fi
  # The leaf and the intermediates the server sends; the root must come from our bundle only.
  awk -v out="$work/$host" '/BEGIN CERTIFICATE/{n++; on=1} on{print > (out "-" n ".pem")} /END CERTIFICATE/{on=0}' "$work/$host.txt"
  cat "$work/$host"-[2-9].pem >"$work/$host-chain.pem" 2>/dev/null || : >"$work/$host-chain.pem"
  if openssl verify -CAfile "$work/providers.pem" -untrusted "$work/$host-chain.pem" \
    -verify_hostname "$host" "$work/$host-1.pem" >/dev/null 2>&1; then
    echo "OK          $host ($(openssl x509 -in "$work/$host-1.pem" -noout -issuer | sed 's/^issuer=//'))"
  else
    echo "FAIL        $host: no chain to the compiled-in roots; its chain:"
    grep -E '^ *[0-9]+ s:|^ +i:' "$work/$host.txt" | sed 's/^/              /'
    failed=$((failed + 1))
  fi
done
if ((failed)); then exit 1; fi
if ((unreachable)); then echo "(no internet here: run it from a machine that reaches these hosts)"; exit 2; fi
