#!/usr/bin/env bash
# The whole test suite from a fresh clone: system packages, npm ci, build, lint, unit +
# integration + end-to-end tests (the systemd e2e needs root; it skips with a reason otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests use: libsystemd-dev (sd-notify's native build), python3 (the
# NOTIFY_SOCKET capture), systemd-container (the real-systemd e2e), dpkg-dev + fakeroot (the .deb),
# prometheus (the real Prometheus and promtool the metrics, rules and dashboard tests run against),
# iproute2 + util-linux (network namespaces for the port-picking test), procps, openssl (the CA and
# certificates of the OTLP relay's TLS test), man-db (the manual pages test renders them with man).
PKGS=(libsystemd-dev python3 systemd-container dpkg-dev fakeroot g++ make prometheus iproute2 util-linux procps openssl man-db)
missing=()
for p in "${PKGS[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "== installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi

echo "== npm ci"
npm ci --no-fund --no-audit
echo "== build"
npm run build
echo "== lint"
npm run lint
echo "== tests"
npm test
