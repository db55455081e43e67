#!/usr/bin/env bash
# install.sh: builds and installs coral-agent from this source tree (as root), idempotently; also uninstalls.
set -euo pipefail

USAGE="Usage: sudo ./install.sh [options]

Builds coral-agent from this source tree and installs it as the Debian package coral-agent:
apt build dependencies (libsystemd-dev, g++, make, python3), npm ci, npm run build,
npm run package, dpkg -i. The package creates group 'coral' and /etc/coral/services.d
(root:coral 2775), keeps an existing /etc/coral/coral.yaml (the default is written only when
there is none), and the service is enabled and started when systemd is PID 1.
Running it again upgrades in place.

Options:
  --deb PATH        install this .deb instead of building one
  --beyla PATH      install the given Beyla binary as /usr/local/bin/beyla
  --foreground      where systemd is not PID 1: run the agent in the foreground on
                    /etc/coral/coral.yaml after installing (Ctrl-C stops it)
  --uninstall       stop and remove coral-agent; /etc/coral is kept
  --purge           with --uninstall: also remove /etc/coral and group coral (if the package made it)
  -h, --help        show this help

Every argument is checked before anything is built or changed: a usage error exits 64.
--uninstall stops the service and its Beyla itself (even where /usr/sbin/policy-rc.d forbids
maintainer scripts to), removes /run/coral-agent, and says so if anything is still running.

Without Beyla, coral-agent still runs: it watches coral.yaml and services.d, health-checks the
services, serves its metrics and the coral CLI; but nothing is instrumented (no eBPF telemetry)
until a beyla binary is installed (--beyla PATH)."

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BEYLA_DEST=/usr/local/bin/beyla
BUILD_DEPS=(libsystemd-dev g++ make python3)

usage_error() { printf 'install.sh: %s\n  see: ./install.sh --help\n' "$*" >&2; exit 64; }

deb="" beyla="" foreground=0 uninstall=0 purge=0
while [ $# -gt 0 ]; do
  case "$1" in
    --deb) [ $# -ge 2 ] || usage_error "--deb needs a path"; deb=$2; shift ;;
    --beyla) [ $# -ge 2 ] || usage_error "--beyla needs a path"; beyla=$2; shift ;;
    --foreground) foreground=1 ;;
    --uninstall) uninstall=1 ;;
    --purge) purge=1 ;;
    -h|--help) echo "$USAGE"; exit 0 ;;
    *) usage_error "unknown argument $1" ;;
  esac
  shift
done

# ------------------------------------------------------------------ arguments, all before any work
[ "$purge" = 0 ] || [ "$uninstall" = 1 ] || usage_error "--purge goes with --uninstall"
if [ "$uninstall" = 1 ]; then
  [ -z "$deb" ] && [ -z "$beyla" ] && [ "$foreground" = 0 ] || usage_error "--uninstall takes no --deb, --beyla or --foreground"
fi
if [ -n "$deb" ]; then
  [ -f "$deb" ] || usage_error "--deb $deb: no such file"
  dpkg-deb -f "$deb" Package 2>/dev/null | grep -qx coral-agent || usage_error "--deb $deb is not a coral-agent package"
fi
if [ -n "$beyla" ]; then
  [ -f "$beyla" ] && [ -x "$beyla" ] || usage_error "--beyla $beyla is not an executable file"
  # It must at least start (a wrong architecture or a missing interpreter fails with 126/127).
  set +e
  timeout 10 "$beyla" -h >/dev/null 2>&1 </dev/null
  beyla_rc=$?
  set -e
  [ "$beyla_rc" -lt 124 ] || usage_error "--beyla $beyla does not run (exit $beyla_rc from '$beyla -h')"
fi

say() { printf 'install.sh: %s\n' "$*"; }
die() { printf 'install.sh: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (sudo ./install.sh); see --help"

systemd_is_pid1() { [ -d /run/systemd/system ] && [ "$(ps -p 1 -o comm= 2>/dev/null)" = systemd ]; }
installed() { dpkg-query -W -f='${Status}' coral-agent 2>/dev/null | grep -q 'ok installed'; }

# The agent (coral-agent run, also one started by --foreground) and every process left in the unit's cgroup (Beyla).
agent_pids() {
  { pgrep -f 'coral-agent(\.js)? run( |$)' || true
    grep -l 'coral-agent\.service' /proc/[0-9]*/cgroup 2>/dev/null | cut -d/ -f3 || true
  } | { grep -vx "$$" || true; } | sort -un | paste -sd' '
}

# Stops the service and every process of its cgroup (Beyla too) without the maintainer scripts,
# which a policy-rc.d may forbid to stop anything; then says what, if anything, still runs.
stop_everything() {
  if systemd_is_pid1 && systemctl list-unit-files coral-agent.service >/dev/null 2>&1; then
    systemctl stop coral-agent.service 2>/dev/null || true
    systemctl disable coral-agent.service >/dev/null 2>&1 || true
  fi
  local left
  left=$(agent_pids)
  if [ -n "$left" ]; then
    say "stopping what is still running: $(echo $left)"
    kill -TERM $left 2>/dev/null || true
    for _ in $(seq 50); do left=$(agent_pids); [ -z "$left" ] && break; sleep 0.2; done
  fi
  if [ -n "$left" ]; then
    say "WARNING: still running after SIGTERM: $(ps -o pid=,args= -p "$(echo $left | tr ' ' ,)" 2>/dev/null | paste -sd';')"
  fi
  rm -rf /run/coral-agent
}

# ------------------------------------------------------------------ uninstall
if [ "$uninstall" = 1 ]; then
  stop_everything
  if [ "$purge" = 1 ]; then
    if dpkg-query -W coral-agent >/dev/null 2>&1; then dpkg --purge coral-agent; fi
    say "coral-agent purged: /etc/coral and group coral (when the package created it) removed"
  else
    if installed; then dpkg --remove coral-agent; fi
    say "coral-agent removed; /etc/coral is kept (--uninstall --purge removes it)"
  fi
  [ -e "$BEYLA_DEST" ] && say "$BEYLA_DEST is left in place; remove it yourself if you no longer want it"
  if systemd_is_pid1 && systemctl is-active --quiet coral-agent.service 2>/dev/null; then die "coral-agent.service is still active"; fi
  [ ! -e /run/coral-agent ] || die "/run/coral-agent is still there"
  exit 0
fi

# ------------------------------------------------------------------ Node.js
command -v node >/dev/null || die "Node.js 20 or newer is required and 'node' is not on PATH.
  Debian 12's own nodejs package is version 18, too old: install Node.js 20+ (for example
  NodeSource's nodejs package), then run install.sh again."
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "Node.js $(node -v) is too old: coral-agent needs 20 or newer"
node_path=$(readlink -f "$(command -v node)")
if ! dpkg -S "$node_path" >/dev/null 2>&1; then
  # The package Depends on nodejs (>= 20). A node installed outside dpkg (a tarball in /usr/local)
  # satisfies that in fact but not for dpkg: a small local package Provides it, with the version
  # of the node found, and nothing else.
  node_version=$(node -p 'process.versions.node')
  if ! dpkg-query -W -f='${Version}' coral-nodejs-local 2>/dev/null | grep -qx "$node_version"; then
    say "node $node_version at $node_path is not from a Debian package: registering it with dpkg"
    say "  as 'coral-nodejs-local' (Provides: nodejs (= $node_version)) so the coral-agent package installs"
    standin=$(mktemp -d)
    mkdir -p "$standin/DEBIAN"
    cat > "$standin/DEBIAN/control" <<EOF
Package: coral-nodejs-local
Version: $node_version
Architecture: all
Maintainer: coral-agent install.sh <root@localhost>
Provides: nodejs (= $node_version)
Description: records that Node.js $node_version is installed outside dpkg ($node_path)
 Created by coral-agent's install.sh so that packages depending on nodejs can be installed.
EOF
    dpkg-deb --root-owner-group --build "$standin" "$standin.deb" >/dev/null
    dpkg -i "$standin.deb" >/dev/null
    rm -rf "$standin" "$standin.deb"
  fi
fi

# ------------------------------------------------------------------ build the package
if [ -z "$deb" ]; then
  missing=()
  for pkg in "${BUILD_DEPS[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    say "installing build dependencies: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
  cd "$REPO"
  say "npm ci (downloads and builds the dependencies: a minute or two)"
  started=$SECONDS
  # npm's own messages pass through; its per-request lines (--loglevel=http) become a count of the
  # packages fetched, so a terminal, a pipe or a log all show that it is moving.
  npm ci --no-audit --no-fund --loglevel=http 2>&1 | {
    fetched=0
    while IFS= read -r line; do
      case "$line" in
        'npm http fetch '*.tgz' '*)
          fetched=$((fetched + 1))
          if [ $((fetched % 20)) = 0 ]; then say "npm ci: $fetched packages fetched ($((SECONDS - started)) s)"; fi ;;
        'npm http fetch '*) ;;
        *) printf '%s\n' "$line" ;;
      esac
    done
  }
  say "npm ci done in $((SECONDS - started)) s"
  say "npm run build"
  npm run --silent build
  say "npm run package (from the build above: compiled once)"
  deb=$(npm run --silent package -- --no-build)
  deb=$(printf '%s\n' "$deb" | tail -n 1)
fi
[ -f "$deb" ] || die "no package at $deb"

# ------------------------------------------------------------------ install
say "installing $(dpkg-deb -f "$deb" Package Version | paste -sd' ')"
# --force-confold: an existing /etc/coral/coral.yaml is always kept.
DEBIAN_FRONTEND=noninteractive dpkg -i --force-confold --force-confdef "$deb"
getent group coral >/dev/null || die "group coral is missing after the install"
[ -d /etc/coral/services.d ] || die "/etc/coral/services.d is missing after the install"

if [ -n "$beyla" ]; then
  [ -f "$beyla" ] && [ -x "$beyla" ] || die "--beyla $beyla is not an executable file"
  if [ "$(readlink -f "$beyla")" != "$(readlink -f "$BEYLA_DEST" 2>/dev/null || true)" ]; then
    install -D -m 0755 "$beyla" "$BEYLA_DEST"
  fi
  say "Beyla installed as $BEYLA_DEST"
fi

if command -v beyla >/dev/null || [ -x "$BEYLA_DEST" ]; then
  say "Beyla: $(command -v beyla || echo "$BEYLA_DEST")"
else
  say "no Beyla binary found (looked for 'beyla' on PATH and $BEYLA_DEST)."
  say "  What works: the agent runs, watches /etc/coral, health-checks services, serves its"
  say "  metrics, and 'coral' commands work. What does not: nothing is instrumented (no eBPF"
  say "  telemetry) until you run install.sh --beyla /path/to/beyla."
fi

# ------------------------------------------------------------------ start
if systemd_is_pid1; then
  systemctl daemon-reload
  systemctl enable coral-agent.service >/dev/null 2>&1
  # postinst started (or restarted) it, unless a policy-rc.d forbade it: make sure it runs the new build.
  if [ -n "$beyla" ]; then systemctl restart coral-agent.service; else systemctl start coral-agent.service; fi
  say "coral-agent.service is $(systemctl is-active coral-agent.service): $(systemctl show -P StatusText coral-agent.service)"
  say "members of group coral may run 'coral connect' (add one: usermod -aG coral USER)"
  [ "$foreground" = 0 ] || say "--foreground ignored: systemd is PID 1 and runs the service"
else
  say "systemd is not PID 1 here (PID 1 is $(ps -p 1 -o comm= 2>/dev/null || echo unknown)): the service is installed but not started."
  if [ "$foreground" = 1 ]; then
    install -d -m 0755 /run/coral-agent
    say "running the agent in the foreground on /etc/coral/coral.yaml (Ctrl-C stops it)"
    export RUNTIME_DIRECTORY=/run/coral-agent
    exec /usr/bin/coral-agent run
  fi
  say "run it in the foreground with: sudo ./install.sh --foreground (or: sudo coral-agent run)"
fi
