// The shipped Prometheus rules: promtool accepts them, every alert has a firing and a quiet unit test, and each test can fail.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, closeSync, constants, openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const RULES = join(repo, 'packaging/prometheus/coral-agent.rules.yml');
const TESTS = join(repo, 'test/prometheus/coral-agent.rules.test.yml');
const PROMTOOL = process.env.PROMTOOL_BIN ?? '/usr/bin/promtool';

interface Rule { alert?: string; record?: string; expr: string; for?: string; labels?: Record<string, string> }
interface RulesFile { groups: { name: string; rules: Rule[] }[] }
interface AlertTest { alertname: string; eval_time: string; exp_alerts: unknown[] }
interface TestGroup { name: string; alert_rule_test?: AlertTest[]; promql_expr_test?: unknown[] }
interface TestsFile { rule_files: string[]; evaluation_interval?: string; tests: TestGroup[] }

function promtoolMissing(): string | undefined {
  try {
    accessSync(PROMTOOL, constants.X_OK);
    return undefined;
  } catch {
    return `${PROMTOOL} not found: install Debian's prometheus package (test/run-all.sh does)`;
  }
}

/** Runs promtool with stdout and stderr into one file, so its per-file results stay in order. */
async function promtool(...args: string[]): Promise<{ code: number; out: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'coral-promtool-'));
  const outPath = join(dir, 'out');
  const fd = openSync(outPath, 'w');
  try {
    const child = spawn(PROMTOOL, args, { stdio: ['ignore', fd, fd] });
    const deadline = setTimeout(() => child.kill('SIGKILL'), 60_000).unref(); // a hung child is SIGKILLed, so the awaited exit still comes and nothing outlives the test
    const [code] = (await once(child, 'exit')) as [number | null];
    clearTimeout(deadline);
    return { code: code ?? -1, out: readFileSync(outPath, 'utf8') };
  } finally {
    closeSync(fd);
    await rm(dir, { recursive: true, force: true });
  }
}

const rulesFile = (): RulesFile => parse(readFileSync(RULES, 'utf8')) as RulesFile;
const testsFile = (): TestsFile => parse(readFileSync(TESTS, 'utf8')) as TestsFile;
const alertRules = (rules: RulesFile): Rule[] => rules.groups.flatMap((g) => g.rules).filter((r) => r.alert);
const checksOf = (group: TestGroup, alert: string): AlertTest[] => (group.alert_rule_test ?? []).filter((c) => c.alertname === alert);

test('promtool check rules accepts the shipped rules', async (t) => {
  const missing = promtoolMissing();
  if (missing) return t.skip(missing);
  const { code, out } = await promtool('check', 'rules', RULES);
  assert.equal(code, 0, out);
  assert.match(out, new RegExp(`SUCCESS: ${rulesFile().groups.flatMap((g) => g.rules).length} rules found`));
});

test('every alert has a severity, a summary and a description that says what to run', () => {
  for (const rule of alertRules(rulesFile())) {
    const r = rule as Rule & { annotations?: Record<string, string> };
    assert.ok(['critical', 'warning'].includes(r.labels?.severity ?? ''), `${r.alert}: severity critical or warning`);
    assert.ok(r.annotations?.summary, `${r.alert}: summary`);
    assert.match(r.annotations?.description ?? '', /`(coral status|coral services|coral-agent check|coral-agent doctor|journalctl -u coral-agent[^`]*|systemctl status coral-agent)`/, `${r.alert}: a command to run`);
  }
});

test('each alert has a unit test where it fires and one where it stays quiet, and no test names an unknown alert', () => {
  const alerts = alertRules(rulesFile()).map((r) => r.alert!);
  const groups = testsFile().tests;
  for (const alert of alerts) {
    assert.ok(groups.some((g) => checksOf(g, alert).some((c) => c.exp_alerts.length > 0)), `${alert}: no test where it fires`);
    assert.ok(groups.some((g) => checksOf(g, alert).length > 0 && checksOf(g, alert).every((c) => c.exp_alerts.length === 0)), `${alert}: no test where it stays quiet`);
  }
  for (const g of groups) {
    for (const c of g.alert_rule_test ?? []) assert.ok(alerts.includes(c.alertname), `test "${g.name}" checks unknown alert ${c.alertname}`);
  }
});

test('promtool test rules passes on the shipped rules', async (t) => {
  const missing = promtoolMissing();
  if (missing) return t.skip(missing);
  const { code, out } = await promtool('test', 'rules', TESTS);
  assert.equal(code, 0, out);
  assert.match(out, /SUCCESS/);
});

test('the unit tests catch a broken alert: one that never fires fails its firing test, one that always fires fails its quiet test', async (t) => {
  const missing = promtoolMissing();
  if (missing) return t.skip(missing);
  const dir = await mkdtemp(join(tmpdir(), 'coral-rules-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const tests = testsFile();
  const cases: { file: string; what: string }[] = [];
  for (const rule of alertRules(rulesFile())) {
    const alert = rule.alert!;
    for (const mutation of ['never', 'always'] as const) {
      const rules = rulesFile();
      const target = alertRules(rules).find((r) => r.alert === alert)!;
      // 'never': a query that selects nothing; 'always': one sample with no labels, at once.
      target.expr = mutation === 'never' ? 'vector(0) > 1' : 'vector(1)';
      if (mutation === 'always') delete target.for;
      const wanted = (g: TestGroup): boolean => checksOf(g, alert).length > 0
        && (mutation === 'never' ? checksOf(g, alert).some((c) => c.exp_alerts.length > 0) : checksOf(g, alert).every((c) => c.exp_alerts.length === 0));
      const groups = tests.tests.filter(wanted).map((g) => ({ ...g, alert_rule_test: checksOf(g, alert), promql_expr_test: undefined }));
      const base = join(dir, `${alert}-${mutation}`);
      await writeFile(`${base}.rules.yml`, stringify(rules));
      await writeFile(`${base}.test.yml`, stringify({ ...tests, rule_files: [`${base}.rules.yml`], tests: groups }));
      cases.push({ file: `${base}.test.yml`, what: `${alert} made to fire ${mutation}` });
    }
  }
  // One promtool run for all of them; it reports each file on its own.
  const { code, out } = await promtool('test', 'rules', ...cases.map((c) => c.file));
  assert.notEqual(code, 0);
  const sections = out.split(/^Unit Testing:\s+/m).slice(1);
  assert.equal(sections.length, cases.length, out);
  for (const c of cases) {
    const section = sections.find((s) => s.startsWith(c.file));
    assert.ok(section, `no promtool result for ${c.file}`);
    assert.match(section, /FAILED/, `${c.what}: its unit tests still pass, so they cannot catch it:\n${section}`);
  }
});
