// exe globs: Beyla's gobwas grammar in the config layer (file:line:col), the double's own compiler, and the readiness matcher agree.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import fc from 'fast-check';
import { exeGlobMatcher, parseExeGlob } from '../src/config/exe-glob.js';
import { parseDropIn } from '../src/config/parse-drop-in.js';
import { compileValidators } from '../src/config/schema-validate.js';
import { parseServiceSpec, renderDropIn } from '../src/cli/coral-service-spec.js';
import { checkInstrumented } from '../src/beyla/check-instrumented.js';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beylaDoublePath } from './beyla-double/beyla-double-path.js';

// The double's compiler is plain JavaScript in the source tree, written apart from the agent's parser.
const { compileGlob } = await import(pathToFileURL(join(dirname(beylaDoublePath()), 'glob.mjs')).href) as { compileGlob: (glob: string) => RegExp };

const validators = compileValidators();
const healthDefaults = { intervalMs: 10_000, timeoutMs: 2000, unhealthyThreshold: 3, healthyThreshold: 1 };
const doubleCompile = compileGlob;

function doubleAccepts(glob: string): boolean {
  try {
    doubleCompile(glob);
    return true;
  } catch {
    return false;
  }
}

describe('parseExeGlob', () => {
  test('what Beyla cannot compile is refused, with the character where it breaks', () => {
    for (const [glob, at, reason] of [
      ['*[web2*', 8, /never closed/],
      ['[a-z0-9]*', 5, /expected "]"/],
      ['/usr/bin/[]', 11, /empty character class/],
      ['[!]x', 3, /empty character class/],
      ['[z-a]', 4, /runs backwards/],
      ['[a-', 4, /never closed/],
    ] as const) {
      const parsed = parseExeGlob(glob);
      assert.equal(parsed.ok, false, glob);
      if (parsed.ok) continue;
      assert.equal(parsed.beylaRejects, true, glob);
      assert.equal(parsed.at, at, glob);
      assert.match(parsed.reason, reason, glob);
      assert.equal(doubleAccepts(glob), false, `the double (like Beyla) refuses ${glob}`);
    }
  });

  test('typos Beyla would take with a surprising meaning are refused too', () => {
    for (const [glob, reason] of [
      ['*web\n*', /newline/],
      ['x'.repeat(100_000), /100000 characters/],
      ['*gunicorn\\', /lone backslash/],
      ['/usr/bin/{node,python', /never closed by "}"/],
      ['a\u0000b', /NUL/],
    ] as const) {
      const parsed = parseExeGlob(glob);
      assert.equal(parsed.ok, false, JSON.stringify(glob.slice(0, 30)));
      if (!parsed.ok) {
        assert.equal(parsed.beylaRejects, false);
        assert.match(parsed.reason, reason);
      }
    }
  });

  test('matches whole paths the way gobwas does: * crosses /, {a,b}, classes, escapes', () => {
    const cases: [string, string, boolean][] = [
      ['*gunicorn*', '/opt/app/bin/gunicorn', true],
      ['/usr/*', '/usr/local/bin/node', true],
      ['/usr/bin/{node,python3}', '/usr/bin/python3', true],
      ['/usr/bin/{node,python3}', '/usr/bin/{node,python3}', false],
      ['/usr/bin/{node,{py,pypy}3}', '/usr/bin/pypy3', true],
      ['/srv/app[0-9]', '/srv/app7', true],
      ['/srv/app[!0-9]', '/srv/app7', false],
      ['/srv/app[abc]', '/srv/appb', true],
      ['/srv/app[ab-]', '/srv/app-', true],
      ['/srv/a?c', '/srv/abc', true],
      ['/srv/a?c', '/srv/ac', false],
      ['/srv/\\*', '/srv/*', true],
      ['/srv/\\*', '/srv/x', false],
      ['x}y,z', 'x}y,z', true],
      ['/srv/app', '/srv/app2', false],
    ];
    for (const [glob, path, expected] of cases) {
      assert.equal(exeGlobMatcher(glob)?.test(path), expected, `${glob} on ${path}`);
      assert.equal(doubleCompile(glob).test(path), expected, `the double: ${glob} on ${path}`);
    }
  });

  test('property: anything the config layer accepts, Beyla\'s grammar (the double) accepts, and both match alike', () => {
    const alphabet = fc.constantFrom('*', '?', '[', ']', '{', '}', ',', '!', '-', '\\', 'a', 'b', '/', 'z', '0', '.');
    const glob = fc.array(alphabet, { maxLength: 14 }).map((chars) => chars.join(''));
    const path = fc.array(fc.constantFrom('a', 'b', '/', 'z', '0', '-', ',', '!', '.', '*', '{', ']'), { maxLength: 12 }).map((chars) => chars.join(''));
    fc.assert(fc.property(glob, fc.array(path, { maxLength: 6 }), (pattern, paths) => {
      const parsed = parseExeGlob(pattern);
      const beyla = doubleAccepts(pattern);
      if (parsed.ok) assert.ok(beyla, `check accepts ${JSON.stringify(pattern)} but Beyla's grammar refuses it`);
      else if (parsed.beylaRejects) assert.ok(!beyla, `check says Beyla refuses ${JSON.stringify(pattern)}, the double compiles it`);
      if (!parsed.ok) return;
      const ours = exeGlobMatcher(pattern) as RegExp;
      const theirs = doubleCompile(pattern);
      for (const p of [...paths, pattern]) assert.equal(ours.test(p), theirs.test(p), `${JSON.stringify(pattern)} on ${JSON.stringify(p)}`);
    }), { numRuns: 3000 });
  });
});

describe('exe in services and at the CLI', () => {
  const dropIn = (text: string) => parseDropIn({ file: '/etc/coral/services.d/web.yaml', bytes: new TextEncoder().encode(text), validators, healthDefaults });

  test('a drop-in whose exe glob Beyla cannot compile is rejected at the exe value', () => {
    const result = dropIn('name: web\nport: 9000\nexe: "*[web2*"\n');
    assert.equal(result.ok, false);
    if (result.ok) return;
    assert.equal(result.errors.length, 1);
    assert.deepEqual([result.errors[0]?.line, result.errors[0]?.col], [3, 6]);
    assert.match(result.errors[0]?.message ?? '', /^exe glob Beyla cannot compile it: at character 8, unexpected end of input/);
  });

  test('coral connect --exe with a newline or 100 KB, and --health with a space, are refused', () => {
    for (const [flags, message] of [
      [{ exe: '*web\n*' }, /exe glob refused: at character 5, contains a newline/],
      [{ exe: `*${'a'.repeat(100_000)}*` }, /exe glob refused: .*characters long/],
      [{ health: 'http:/a b' }, /health path "\/a b" has a space at character 3/],
    ] as const) {
      const spec = parseServiceSpec('web:9000', flags);
      const result = dropIn(renderDropIn(spec));
      assert.equal(result.ok, false, JSON.stringify(flags).slice(0, 40));
      if (!result.ok) assert.match(result.errors.map((e) => e.message).join('\n'), message);
    }
    assert.equal(dropIn(renderDropIn(parseServiceSpec('web:9000', { exe: '/usr/bin/{node,python3}', health: 'http:/healthz%20x' }))).ok, true);
  });
});

describe('readiness matcher', () => {
  test('a listener whose exe matches an {a,b} glob is expected to be instrumented', async (t) => {
    const server: Server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const port = (server.address() as { port: number }).port;
    // The listener is this node process; selfPid -1 so that it is not skipped as the agent's own.
    const selector = (exePath: string) => [{ services: ['web'], openPorts: [{ from: port, to: port }], exePath }];
    const run = (exePath: string) => checkInstrumented({ selectors: selector(exePath), excludePorts: [], internalMetricsText: '', selfPid: -1 });
    const both = await run(`{/nonexistent/x,${process.execPath}}`);
    assert.equal(both.covered, false, 'the alternation selects this node process, which is not instrumented');
    assert.match(both.missing.join('\n'), new RegExp(`port ${port}`));
    const none = await run('{/nonexistent/x,/nonexistent/y}');
    assert.equal(none.covered, true, 'no listener matches');
  });
});
