// install.sh from source: npm ci shows its progress, and TypeScript is compiled once (npm run build, then the package from that build), run against stub npm and dpkg on PATH.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { reap } from './support/reap.js';

const INSTALL = fileURLToPath(new URL('../../install.sh', import.meta.url));

/** Stub commands: each logs its arguments; npm ci prints what npm 11 prints at --loglevel=http (45 packages), dpkg -i ends the run. */
const STUBS: Record<string, string> = {
  npm: `#!/bin/sh
echo "npm $*" >> "$STUB_LOG"
case "$1" in
  ci)
    case " $* " in *" --loglevel=http "*) verbose=1 ;; *) verbose=0 ;; esac
    echo "npm warn deprecated old-thing@1.0.0: use new-thing" >&2
    i=1
    while [ $i -le 45 ]; do
      if [ $verbose = 1 ]; then
        echo "npm http fetch GET 200 https://registry.npmjs.org/pkg$i 12ms (cache hit)" >&2
        echo "npm http fetch GET 200 https://registry.npmjs.org/pkg$i/-/pkg$i-1.0.0.tgz 30ms (cache hit)" >&2
      fi
      i=$((i + 1))
    done
    echo; echo "added 45 packages in 3s" ;;
  run)
    shift; [ "$1" = --silent ] && shift
    case "$1" in
      build) echo "tsc" >> "$STUB_LOG" ;;
      package)
        case " $* " in *" --no-build "*) ;; *) echo "tsc" >> "$STUB_LOG" ;; esac
        : > "$STUB_DIR/coral-agent.deb"; echo "$STUB_DIR/coral-agent.deb" ;;
    esac ;;
esac
exit 0
`,
  'dpkg-query': '#!/bin/sh\necho "dpkg-query $*" >> "$STUB_LOG"\nprintf "install ok installed"\n',
  dpkg: '#!/bin/sh\necho "dpkg $*" >> "$STUB_LOG"\ncase "$1" in -i) echo "stub dpkg: stopping before the install" >&2; exit 42 ;; esac\nexit 0\n',
  'dpkg-deb': '#!/bin/sh\necho "dpkg-deb $*" >> "$STUB_LOG"\nprintf "coral-agent\\n0.1.0\\n"\n',
  'apt-get': '#!/bin/sh\necho "apt-get $*" >> "$STUB_LOG"\nexit 1\n',
  id: '#!/bin/sh\necho 0\n',
};

test('install.sh builds once: npm ci with its progress on the output, npm run build, the package from that build (--no-build)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'coral-install-build-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const bin = join(dir, 'bin');
  await mkdir(bin);
  for (const [name, text] of Object.entries(STUBS)) {
    await writeFile(join(bin, name), text);
    await chmod(join(bin, name), 0o755);
  }
  const repo = join(dir, 'repo');
  await mkdir(repo);
  await copyFile(INSTALL, join(repo, 'install.sh'));
  const log = join(dir, 'calls.log');
  const child = spawn('bash', [join(repo, 'install.sh')], {
    env: { PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`, STUB_LOG: log, STUB_DIR: dir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => reap(child));
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { output += d; });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { output += d; });
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  assert.equal(code, 42, `install.sh should run up to dpkg -i (the stub ends it there):\n${output}`);

  const calls = (await readFile(log, 'utf8')).split('\n').filter((l) => l.startsWith('npm ') || l === 'tsc');
  assert.equal(calls.filter((c) => c === 'tsc').length, 1, `TypeScript compiled ${calls.filter((c) => c === 'tsc').length} times:\n${calls.join('\n')}`);
  assert.deepEqual(calls.map((c) => c.split(' ').slice(0, 3).join(' ')), ['npm ci --no-audit', 'npm run --silent', 'tsc', 'npm run --silent']);
  assert.match(calls[3]!, /package -- --no-build/);

  // Progress: a count every 20 packages, npm's own messages kept, its per-request lines not.
  assert.match(output, /install\.sh: npm ci: 20 packages fetched \(\d+ s\)\n/);
  assert.match(output, /install\.sh: npm ci: 40 packages fetched \(\d+ s\)\n/);
  assert.match(output, /npm warn deprecated old-thing/);
  assert.match(output, /added 45 packages in 3s/);
  assert.match(output, /install\.sh: npm ci done in \d+ s/);
  assert.doesNotMatch(output, /npm http fetch/);
});
