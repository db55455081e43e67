#!/usr/bin/env bash
# Builds the coral-agent .deb with dpkg-deb (no debhelper): app in /usr/lib/coral-agent, wrappers in /usr/bin.
#
# Usage: bash packaging/build-deb.sh [--no-build] [--dist DIR] [--out DIR] [--npm prune|ci] [--lint]
#   --no-build   use the compiled dist/ as it is (default: `npm run build` first)
#   --dist DIR   ship this compiled tree instead of ./dist (must hold src/cli/coral-agent.js)
#   --out DIR    where the .deb goes (default: build/ in the repo); its path is printed last
#   --npm MODE   production node_modules: `prune` copies ./node_modules into a staging dir and runs
#                `npm prune --omit=dev` there (default when ./node_modules exists; offline), `ci`
#                runs `npm ci --omit=dev` in the staging dir (builds sd-notify; needs libsystemd-dev)
#   --lint       run lintian on the result
# The repo's own node_modules is never modified.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PKG=coral-agent
APPDIR=/usr/lib/coral-agent

build=1 dist="$REPO/dist" out="$REPO/build" npm_mode="" lint=0
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) build=0 ;;
    --dist) dist=$(cd "$2" && pwd); build=0; shift ;;
    --out) out=$2; shift ;;
    --npm) npm_mode=$2; shift ;;
    --lint) lint=1 ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-deb: unknown argument $1 (try --help)" >&2; exit 64 ;;
  esac
  shift
done
if [ -z "$npm_mode" ]; then
  if [ -d "$REPO/node_modules" ]; then npm_mode=prune; else npm_mode=ci; fi
fi

say() { printf 'build-deb: %s\n' "$*" >&2; }
die() { printf 'build-deb: error: %s\n' "$*" >&2; exit 1; }

for tool in dpkg-deb node npm fakeroot; do
  [ "$tool" = fakeroot ] && continue   # --root-owner-group makes fakeroot unnecessary
  command -v "$tool" >/dev/null || die "$tool is required (apt-get install dpkg-dev nodejs)"
done

version=$(node -p "require('$REPO/package.json').version")
arch=$(dpkg --print-architecture)

if [ "$build" = 1 ]; then
  say "compiling TypeScript (npm run build)"
  (cd "$REPO" && npm run --silent build) || die "npm run build failed"
fi
for entry in src/cli/coral-agent.js src/cli/coral.js bundle/cli/coral-agent.js bundle/cli/coral.js bundle/cli/coral.cjs man/coral.1 man/coral-agent.8; do
  [ -f "$dist/$entry" ] || die "$dist/$entry is missing: build the project first (npm install for esbuild, then npm run build)"
done

mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/coral-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root
umask 022

# --------------------------------------------------------------- the application
say "staging $APPDIR"
mkdir -p "$root$APPDIR/dist"
# Everything compiled except the tests, benchmarks and source maps (the .ts sources are not shipped).
tar -C "$dist" --exclude=./test --exclude=./bench --exclude=./man --exclude='*.map' -cf - . | tar -C "$root$APPDIR/dist" -xf -
cp -r "$REPO/schemas" "$root$APPDIR/schemas"
rm -f "$root$APPDIR/schemas/build-validators.mjs"   # a build step (npm run build), not needed at run time
cp "$REPO/package.json" "$root$APPDIR/package.json"

# --------------------------------------------------------------- production node_modules
npmdir=$work/npm
mkdir -p "$npmdir"
cp "$REPO/package.json" "$REPO/package-lock.json" "$npmdir/"
case "$npm_mode" in
  prune)
    say "production node_modules: copy of ./node_modules, npm prune --omit=dev"
    cp -a "$REPO/node_modules" "$npmdir/node_modules"
    (cd "$npmdir" && npm prune --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
    ;;
  ci)
    say "production node_modules: npm ci --omit=dev (builds sd-notify against libsystemd)"
    (cd "$npmdir" && npm ci --omit=dev --no-audit --no-fund --loglevel=error >&2)
    ;;
  *) die "--npm must be prune or ci, not $npm_mode" ;;
esac
addon=$npmdir/node_modules/sd-notify/build/Release/notify.node
[ -f "$addon" ] || die "sd-notify's native module is not built ($addon); try --npm ci (needs libsystemd-dev, g++, make, python3)"
# Ship only the built addon of sd-notify, stripped; drop npm's bookkeeping, bin links and docs
# (licence files stay with their packages).
find "$npmdir/node_modules/sd-notify/build" -mindepth 1 \
  ! -path '*/build/Release' ! -path '*/build/Release/notify.node' -prune -exec rm -rf {} +
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$addon"
rm -rf "$npmdir/node_modules/.bin" "$npmdir/node_modules/.package-lock.json"
find "$npmdir/node_modules" -type f \( -iname 'README*' -o -iname 'CHANGELOG*' -o -iname 'HISTORY*' \
  -o -iname '*.md' -o -iname '*.markdown' -o -name '.*' -o -iname '*.ts.map' -o -iname '*.js.map' \) \
  ! -iname 'LICEN[CS]E*' ! -iname 'COPYING*' -delete
# Each package's tests, examples, benchmarks, docs sites and images are not needed at run time.
find "$npmdir/node_modules" -mindepth 1 -maxdepth 3 -type d \
  \( -name test -o -name tests -o -name __tests__ -o -name example -o -name examples \
  -o -name benchmark -o -name benchmarks -o -name docs \) -path '*/node_modules/*' -prune -exec rm -rf {} +
find "$npmdir/node_modules" -type f \( -name '*.html' -o -name '*.gif' -o -name '*.png' -o -name '*.svg' \) -delete
node -e "require('$npmdir/node_modules/sd-notify')" || die "sd-notify does not load from the staged node_modules"
mv "$npmdir/node_modules" "$root$APPDIR/node_modules"

# --------------------------------------------------------------- commands, unit, config, docs
mkdir -p "$root/usr/bin"
for cmd in coral coral-agent; do
  # coral starts from its CommonJS launcher (connect with the agent running loads no ES module loader).
  entry=$cmd.js
  [ "$cmd" = coral ] && entry=coral.cjs
  cat > "$root/usr/bin/$cmd" <<EOF
#!/bin/sh
# $cmd: runs coral-agent's $cmd entry point on the system Node.js (the native sd-notify module is built for it).
NODE=/usr/bin/node
[ -x "\$NODE" ] || NODE=node
exec "\$NODE" $APPDIR/dist/bundle/cli/$entry "\$@"
EOF
  chmod 0755 "$root/usr/bin/$cmd"
done

install -D -m 0644 "$REPO/systemd/coral-agent.service" "$root/lib/systemd/system/coral-agent.service"
install -D -m 0644 "$REPO/systemd/coral-agent.sysusers" "$root/usr/lib/sysusers.d/coral-agent.conf"
install -D -m 0644 "$REPO/systemd/coral-agent.tmpfiles" "$root/usr/lib/tmpfiles.d/coral-agent.conf"
install -D -m 0644 "$REPO/packaging/coral.yaml" "$root/etc/coral/coral.yaml"
for cmd in coral coral-agent; do
  install -D -m 0644 "$REPO/packaging/$cmd.bash-completion" "$root/usr/share/bash-completion/completions/$cmd"
done

# The manual pages are rendered from the --help texts by the build (scripts/build-man.mjs).
install -D -m 0644 "$dist/man/coral.1" "$root/usr/share/man/man1/coral.1"
install -D -m 0644 "$dist/man/coral-agent.8" "$root/usr/share/man/man8/coral-agent.8"
gzip -9n "$root/usr/share/man/man1/coral.1" "$root/usr/share/man/man8/coral-agent.8"
install -D -m 0644 "$REPO/packaging/lintian-overrides" "$root/usr/share/lintian/overrides/$PKG"
# Monitoring: Prometheus rules and the Grafana dashboard (docs/monitoring.md).
install -D -m 0644 "$REPO/packaging/prometheus/coral-agent.rules.yml" "$root/usr/share/$PKG/prometheus/coral-agent.rules.yml"
install -D -m 0644 "$REPO/packaging/grafana/coral-agent.json" "$root/usr/share/$PKG/grafana/coral-agent.json"

doc=$root/usr/share/doc/$PKG
mkdir -p "$doc"
gzip -9nc "$REPO/packaging/debian/changelog" > "$doc/changelog.gz"
[ -f "$REPO/docs/packaging.md" ] && install -m 0644 "$REPO/docs/packaging.md" "$doc/packaging.md"
[ -f "$REPO/docs/monitoring.md" ] && install -m 0644 "$REPO/docs/monitoring.md" "$doc/monitoring.md"
[ -f "$REPO/docs/configuration.md" ] && install -m 0644 "$REPO/docs/configuration.md" "$doc/configuration.md"
{
  cat "$REPO/packaging/debian/copyright.in"
  # One paragraph for the bundled npm packages, then a stand-alone paragraph per licence name.
  node - "$root$APPDIR/node_modules" <<'EOF'
const fs = require('node:fs'); const path = require('node:path');
const top = process.argv[2]; const found = [];
const visit = (dir) => {
  for (const name of fs.readdirSync(dir).sort()) {
    if (name.startsWith('.')) continue;
    const full = path.join(dir, name);
    if (name.startsWith('@')) { visit(full); continue; }
    const manifest = path.join(full, 'package.json');
    if (!fs.existsSync(manifest)) continue;
    const pkg = JSON.parse(fs.readFileSync(manifest, 'utf8'));
    const license = typeof pkg.license === 'string' ? pkg.license : (pkg.license?.type ?? 'unknown');
    found.push({ rel: path.relative(top, full), name: pkg.name, version: pkg.version, license });
    if (fs.existsSync(path.join(full, 'node_modules'))) visit(path.join(full, 'node_modules'));
  }
};
visit(top);
const names = [...new Set(found.map((p) => p.license.replace(/[()]/g, '').split(/\s+OR\s+/)[0]))].sort();
const out = ['', 'Files: usr/lib/coral-agent/node_modules/*',
  'Copyright: the authors of each npm package, as named in its own licence file',
  `License: ${names.join(' and ')}`,
  ' Bundled npm packages (name version licence):'];
for (const p of found) out.push(` ${p.name} ${p.version} ${p.license}`);
for (const name of names) {
  out.push('', `License: ${name}`,
    ` The full text is in the LICENSE file of each package under this licence in`,
    ` /usr/lib/coral-agent/node_modules.`);
}
console.log(out.join('\n'));
EOF
} > "$doc/copyright"

# --------------------------------------------------------------- permissions
find "$root" -type d -exec chmod 0755 {} +
find "$root" -type f -perm /111 -exec chmod 0755 {} +
find "$root" -type f ! -perm /111 -exec chmod 0644 {} +
# Only real scripts keep an execute bit inside node_modules (lintian: executable-not-elf-or-script).
find "$root$APPDIR/node_modules" -type f -perm /111 -exec sh -c \
  'for f; do head -c2 "$f" | grep -q "#!" || chmod 0644 "$f"; done' sh {} +

# The CLI entry points open with `#!/usr/bin/env node`: scripts with a shebang are executable.
find "$root$APPDIR/dist" -type f -name '*.js' -exec sh -c \
  'for f; do head -c2 "$f" | grep -q "#!" && chmod 0755 "$f"; done; true' sh {} +

# --------------------------------------------------------------- DEBIAN/
mkdir -p "$root/DEBIAN"
for script in postinst prerm postrm; do
  install -m 0755 "$REPO/packaging/debian/$script" "$root/DEBIAN/$script"
done
echo /etc/coral/coral.yaml > "$root/DEBIAN/conffiles"

shlibs="libc6, libsystemd0"
if command -v dpkg-shlibdeps >/dev/null; then
  # dpkg-shlibdeps wants a debian/control next to it; a throwaway one will do.
  mkdir -p "$work/shlibs/debian"
  printf 'Source: %s\n\nPackage: %s\nArchitecture: any\n' "$PKG" "$PKG" > "$work/shlibs/debian/control"
  if computed=$(cd "$work/shlibs" && dpkg-shlibdeps -O "$root$APPDIR/node_modules/sd-notify/build/Release/notify.node" 2>/dev/null); then
    shlibs=${computed#shlibs:Depends=}
  fi
fi
installed_kb=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@INSTALLED_SIZE@/$installed_kb/" \
  -e "s/@SHLIBS@/$shlibs/" "$REPO/packaging/debian/control.in" > "$root/DEBIAN/control"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -print0 | sort -z | sed -z 's|^\./||' |
  xargs -0 md5sum) > "$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"

deb=$out/${PKG}_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >&2
say "built $(du -h "$deb" | cut -f1) package"

if [ "$lint" = 1 ]; then
  command -v lintian >/dev/null || die "lintian is not installed (apt-get install lintian)"
  say "lintian:"
  lintian --info --display-info --pedantic "$deb" >&2 || say "lintian reported errors (see above)"
fi
echo "$deb"
