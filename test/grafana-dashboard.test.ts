// The shipped Grafana dashboard: valid for current Grafana, every panel on the datasource variable, and every panel and annotation query answered by a real Prometheus that scraped a real agent through swaps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer, type Server } from 'node:net';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { createDaemonHarness, waitUntil, type DaemonHarness } from './support/daemon-harness.js';
import { prometheusMissing, startPrometheus, type PrometheusServer, type PromSeries } from './support/prometheus-server.js';

const DASHBOARD = fileURLToPath(new URL('../../packaging/grafana/coral-agent.json', import.meta.url));
const RULES = fileURLToPath(new URL('../../packaging/prometheus/coral-agent.rules.yml', import.meta.url));
const DS_VARIABLE = '${datasource}';

interface Target { refId: string; expr: string; datasource: { type: string; uid: string } }
interface Panel { id: number; type: string; title: string; datasource?: { type: string; uid: string }; gridPos: { h: number; w: number; x: number; y: number }; targets?: Target[] }
interface Annotation { name: string; expr?: string; datasource: { type: string; uid: string } }
interface Variable { name: string; type: string; query: unknown; datasource?: { uid: string }; definition?: string }
interface Dashboard { uid: string; title: string; schemaVersion: number; panels: Panel[]; annotations: { list: Annotation[] }; templating: { list: Variable[] } }

const dashboard = (): Dashboard => JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;

/** Every query of the dashboard: panel targets, then annotations. */
function queriesOf(d: Dashboard): { where: string; expr: string }[] {
  return [
    ...d.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `panel "${p.title}" ${t.refId}`, expr: t.expr }))),
    ...d.annotations.list.map((a) => ({ where: `annotation "${a.name}"`, expr: a.expr ?? '' })),
  ];
}

test('the dashboard is current Grafana JSON: datasource and host variables, every panel and annotation on the datasource variable, no overlapping panels', () => {
  const d = dashboard();
  assert.equal(d.uid, 'coral-agent');
  assert.ok(d.schemaVersion >= 39, `schemaVersion ${d.schemaVersion} is older than Grafana 10.4's`);
  const [dsVar, hostVar] = [d.templating.list.find((v) => v.name === 'datasource'), d.templating.list.find((v) => v.name === 'instance')];
  assert.equal(dsVar?.type, 'datasource');
  assert.equal(dsVar?.query, 'prometheus');
  assert.equal(hostVar?.type, 'query');
  assert.equal(hostVar?.datasource?.uid, DS_VARIABLE);
  assert.ok(d.panels.length >= 15);
  const ids = new Set<number>();
  for (const p of d.panels) {
    assert.ok(!ids.has(p.id), `panel id ${p.id} used twice`);
    ids.add(p.id);
    assert.deepEqual(p.datasource, { type: 'prometheus', uid: DS_VARIABLE }, `panel "${p.title}" datasource`);
    assert.ok((p.targets ?? []).length > 0, `panel "${p.title}" has no query`);
    for (const t of p.targets ?? []) {
      assert.deepEqual(t.datasource, { type: 'prometheus', uid: DS_VARIABLE }, `panel "${p.title}" ${t.refId} datasource`);
      assert.match(t.expr, /instance=~"\$instance"/, `panel "${p.title}" ${t.refId} ignores the host variable`);
    }
    for (const q of d.panels) {
      if (q.id >= p.id) continue;
      const a = p.gridPos, b = q.gridPos;
      const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
      assert.ok(!overlap, `panels "${p.title}" and "${q.title}" overlap`);
    }
    assert.ok(p.gridPos.x + p.gridPos.w <= 24, `panel "${p.title}" is wider than the grid`);
  }
  assert.ok(d.annotations.list.length >= 3);
  for (const a of d.annotations.list) {
    assert.deepEqual(a.datasource, { type: 'prometheus', uid: DS_VARIABLE }, `annotation "${a.name}" datasource`);
    assert.match(a.expr ?? '', /instance=~"\$instance"/, `annotation "${a.name}" ignores the host variable`);
  }
});

const listen = async (): Promise<Server> => {
  const server = createServer((socket) => socket.end());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
};
const portOf = (server: Server): number => (server.address() as { port: number }).port;

/** Polls the agent's own scrape until `pattern` matches. */
const scrapeShows = (h: DaemonHarness, what: string, pattern: RegExp): Promise<boolean> =>
  waitUntil(what, async () => pattern.test(await h.scrape()), 20_000);

/** Waits for `count` more scrapes by Prometheus than it had done when called. */
async function moreScrapes(prom: PrometheusServer, count: number): Promise<void> {
  const done = Number(((await prom.query('count_over_time(up[1h])')).result as PromSeries[])[0]?.value?.[1] ?? 0);
  await prom.waitForScrapes(done + count);
}

test('every panel and annotation query returns data from a real Prometheus that scraped a running agent through swaps', async (t) => {
  const missing = prometheusMissing();
  if (missing) return t.skip(missing);
  const servers = [await listen(), await listen(), await listen()];
  t.after(() => servers.forEach((s) => s.close()));
  const [web, api, db] = servers.map(portOf) as [number, number, number];
  const sortedPorts = (...ports: number[]): string => ports.sort((a, b) => a - b).join(',');

  const faultDir = await mkdtemp(join(tmpdir(), 'coral-fault-'));
  t.after(() => rm(faultDir, { recursive: true, force: true }));
  const faultFile = join(faultDir, 'fault');
  const h = await createDaemonHarness(t, {
    env: { FAKE_BEYLA_FAULT_FILE: faultFile },
    dropIns: { 'web.yaml': `name: web\nport: ${web}\nhealth: { check: tcp, timeout: 500ms }\n` },
  });
  await h.start();
  await h.waitForLivePorts(String(web));
  const instance = `127.0.0.1:${h.metrics!.port}`;
  const prom = await startPrometheus(t, { targets: [instance], ruleFiles: [RULES] });
  const startSec = Date.now() / 1000;
  await prom.waitForScrapes(3);

  // A swap that adds a port.
  await h.writeDropIn('api.yaml', `name: api\nport: ${api}\nhealth: none\n`);
  await h.waitForLivePorts(sortedPorts(web, api));
  await moreScrapes(prom, 3);
  // A swap whose new Beyla fails to start: the old one keeps serving, then the retry succeeds.
  await writeFile(faultFile, 'exit-at-start=3\n');
  await h.writeDropIn('db.yaml', `name: db\nport: ${db}\nhealth: none\n`);
  await scrapeShows(h, 'a readiness failure', /^coral_agent_beyla_readiness_failures_total\{reason="[a-z_]+"\} [1-9]/m);
  await h.waitForLivePorts(sortedPorts(web, api, db), 30_000);
  await moreScrapes(prom, 3);
  // A rejected drop-in, then fixed by removing it.
  await h.writeDropIn('bad.yaml', 'name: bad\nport: 0\n');
  await scrapeShows(h, 'the rejected drop-in', /^coral_agent_rejected_dropins 1$/m);
  await moreScrapes(prom, 3);
  // The shipped rules, loaded by the real Prometheus, see it: the warning is pending (it fires after 15 min).
  await waitUntil('CoralAgentDropInRejected pending', async () => (await prom.alerts()).some((a) => a.labels.alertname === 'CoralAgentDropInRejected' && a.state === 'pending' && a.labels.instance === instance));
  await unlink(join(h.servicesDir, 'bad.yaml'));
  await scrapeShows(h, 'no rejected drop-in', /^coral_agent_rejected_dropins 0$/m);
  // A swap that removes a port.
  await unlink(join(h.servicesDir, 'db.yaml'));
  await h.waitForLivePorts(sortedPorts(web, api));
  await scrapeShows(h, 'requests Beyla saw', /^http_server_request_duration_seconds_count\{.*\} [1-9]/m);
  await moreScrapes(prom, 5);
  const endSec = Date.now() / 1000;
  const exported = await h.scrape();

  const hosts = await (await fetch(`${prom.url}/api/v1/label/instance/values?match[]=coral_agent_beyla_up`)).json() as { data: string[] };
  assert.deepEqual(hosts.data, [instance], 'the host variable\'s query lists the agent');

  const d = dashboard();
  const empty: string[] = [];
  for (const { where, expr } of queriesOf(d)) {
    // What Grafana substitutes: the host (a regex), and $__rate_interval = 4 scrape intervals here.
    const query = expr.replaceAll('$instance', instance.replaceAll('.', '\\\\.')).replaceAll('$__rate_interval', '4s');
    assert.doesNotMatch(query, /\$/, `${where}: a variable the test does not know: ${query}`);
    const result = await prom.queryRange(query, startSec, endSec, 1); // rejects with Prometheus' parse error
    assert.equal(result.resultType, 'matrix');
    const finite = (result.result as PromSeries[]).some((s) => (s.values ?? []).some(([, v]) => Number.isFinite(Number(v))));
    if (!finite) empty.push(`${where}: ${query}`);
  }
  assert.deepEqual(empty, [], 'queries that returned no data');
  // The service gauges tell the truth: every configured service has a listener (this test's servers) and the
  // active Beyla instruments it: 3 services while db was configured, web and api at the end, none uninstrumented.
  const sel = `{instance="${instance}"}`;
  const maxOf = async (expr: string): Promise<number> => Number(((await prom.query(expr)).result as PromSeries[])[0]?.value?.[1] ?? NaN);
  assert.equal(await maxOf(`max_over_time(coral_agent_services_instrumented${sel}[1h])`), 3, 'web, api and db instrumented while all three were configured');
  assert.match(exported, /^coral_agent_services_instrumented 2$/m);
  assert.match(exported, /^coral_agent_services_uninstrumented 0$/m);
  // A healthy agent raises no alert. Only the two whose input a loaded machine can move (a health
  // check timing out, the event loop delayed) may be pending; none may fire.
  const LOAD_SENSITIVE = ['CoralAgentServiceUnhealthy', 'CoralAgentEventLoopLagging'];
  const active = await prom.alerts();
  assert.deepEqual(active.filter((a) => a.state === 'firing' || !LOAD_SENSITIVE.includes(a.labels.alertname!)).map((a) => `${a.labels.alertname} ${a.state}`), [], 'a healthy agent raises no alert');
  for (const a of active) t.diagnostic(`pending under load: ${a.labels.alertname}`);
  // The rules name only series the agent exports (or awaits).
  const exprs = (parse(readFileSync(RULES, 'utf8')) as { groups: { rules: { expr: string }[] }[] }).groups.flatMap((g) => g.rules.map((r) => r.expr)).join('\n');
  const ruleNames = new Set([...exprs.matchAll(/\b(coral_agent_[a-z0-9_]+|beyla_[a-z0-9_]+)\b/g)].map((m) => m[1]!));
  const unknown = [...ruleNames].filter((name) => !new RegExp(`^${name}[ {]`, 'm').test(exported));
  assert.deepEqual(unknown, [], 'series the rules use that the agent does not export');
  await prom.stop();
  await h.stop();
});
