// install.sh checks every argument before it builds or changes anything: usage errors exit 64 (run from a copy, so nothing can be built).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFile, mkdtemp, readdir, rm, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const INSTALL = fileURLToPath(new URL('../../install.sh', import.meta.url));

test('install.sh: --purge alone, a missing or non-running --beyla, a missing --deb, unknown options: exit 64 and nothing done', async (t) => {
  // A copy in an empty directory: if a check were missing, the build would fail at once instead of running npm ci here.
  const dir = await mkdtemp(join(tmpdir(), 'coral-install-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const script = join(dir, 'install.sh');
  await copyFile(INSTALL, script);
  const notRunning = join(dir, 'beyla-wrong-interpreter');
  await writeFile(notRunning, '#!/nonexistent/interpreter\n');
  await chmod(notRunning, 0o755);
  const cases: [string[], RegExp][] = [
    [['--purge'], /--purge goes with --uninstall/],
    [['--beyla', join(dir, 'no-such-beyla')], /is not an executable file/],
    [['--beyla', notRunning], /does not run/],
    [['--beyla'], /--beyla needs a path/],
    [['--deb', join(dir, 'none.deb')], /no such file/],
    [['--uninstall', '--beyla', notRunning], /--uninstall takes no/],
    [['--bogus'], /unknown argument --bogus/],
  ];
  for (const [args, message] of cases) {
    const r = spawnSync('bash', [script, ...args], { encoding: 'utf8', timeout: 30_000, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
    assert.equal(r.status, 64, `install.sh ${args.join(' ')}: exit ${r.status}\n${r.stdout}${r.stderr}`);
    assert.match(r.stderr, message, args.join(' '));
    assert.match(r.stderr, /see: \.\/install\.sh --help/);
    assert.equal(r.stdout, '', `install.sh ${args.join(' ')} did something: ${r.stdout}`);
  }
  assert.deepEqual((await readdir(dir)).sort(), ['beyla-wrong-interpreter', 'install.sh']);
});
