// What a rendered Beyla config must say about a set of services, read back the way Beyla reads it.
import assert from 'node:assert/strict';
import YAML from 'yaml';
import type { BeylaSettings, Service } from '../../src/config/types.js';
import type { InstancePorts, RenderedBeylaConfig } from '../../src/plan/render-beyla-config.js';
import { BEYLA_OPEN_PORTS, countSpanPorts, normalizeSpans, readOpenPorts, removePorts, type Span } from './fuzz-ranges.js';

export interface RenderCase {
  services: readonly Service[];
  settings: BeylaSettings;
  instancePorts: InstancePorts;
  excludePorts: readonly number[];
}

interface Entry {
  exe_path?: unknown;
  open_ports?: unknown;
}

const ALL_PORTS: Span[] = [{ from: 1, to: 65535 }];

/** Which situation a case is in; the tests count them to show each is reached. */
export type RenderOutcome = 'nothing-to-run' | 'selectors' | 'catch-all' | 'all-excluded-with-when-empty-all';

/**
 * The render contract: null only when no service has a port left after the exclusions and when_empty
 * is stop; otherwise YAML whose ports-only entry holds exactly the services' ports (minus excluded and
 * the instance's own), one entry per exe glob with exactly its services' ports, every open_ports in
 * Beyla's pattern, and portsString/portsCount describing the union.
 */
export function assertRenderContract(c: RenderCase, rendered: RenderedBeylaConfig | null): RenderOutcome {
  const holes = [...c.excludePorts, c.instancePorts.metrics, c.instancePorts.health, c.instancePorts.internal];
  const portsOnly = removePorts(c.services.filter((s) => s.exe === undefined).flatMap((s) => s.ports), holes);
  const byExe = new Map<string, Span[]>();
  for (const s of c.services) if (s.exe !== undefined) byExe.set(s.exe, [...(byExe.get(s.exe) ?? []), ...s.ports]);
  const exeEntries = new Map([...byExe].map(([exe, spans]) => [exe, removePorts(spans, holes)] as const).filter(([, spans]) => spans.length > 0));
  const anySelectorLeft = portsOnly.length > 0 || exeEntries.size > 0;

  // when_empty applies to "no services"; services whose every port is excluded run nothing.
  if (!anySelectorLeft && (c.settings.whenEmpty === 'stop' || c.services.length > 0)) {
    assert.equal(rendered, null, 'no port left to instrument (when_empty stop, or every service port excluded): nothing to run');
    return 'nothing-to-run';
  }
  assert.ok(rendered, c.services.length === 0 ? 'when_empty all with no services still runs Beyla' : 'services with ports left must render a config');
  const doc = YAML.parse(rendered.yaml) as { discovery?: { instrument?: Entry[] }; prometheus_export?: { port?: unknown }; health_check?: { port?: unknown }; internal_metrics?: { prometheus?: { port?: unknown } } };
  assert.equal(doc.prometheus_export?.port, c.instancePorts.metrics);
  assert.equal(doc.health_check?.port, c.instancePorts.health);
  assert.equal(doc.internal_metrics?.prometheus?.port, c.instancePorts.internal);
  const entries = doc.discovery?.instrument;
  assert.ok(Array.isArray(entries) && entries.length > 0, 'discovery.instrument lists at least one selector');
  let union: Span[] = [];
  const seenExe = new Map<string, Span[]>();
  const portsOnlyEntries: Span[][] = [];
  for (const entry of entries) {
    let spans: Span[] = [];
    if (entry.open_ports !== undefined) {
      assert.equal(typeof entry.open_ports, 'string', 'open_ports is written as a string');
      assert.match(entry.open_ports as string, BEYLA_OPEN_PORTS, 'open_ports must match Beyla\'s pattern');
      spans = readOpenPorts(entry.open_ports as string);
      union = normalizeSpans([...union, ...spans]);
    }
    if (entry.exe_path === undefined) portsOnlyEntries.push(spans);
    else {
      assert.equal(typeof entry.exe_path, 'string');
      assert.ok(!seenExe.has(entry.exe_path as string), `exe_path ${JSON.stringify(entry.exe_path)} has two entries`);
      seenExe.set(entry.exe_path as string, spans);
    }
  }
  assert.ok(portsOnlyEntries.length <= 1, 'at most one ports-only entry');
  assert.deepEqual(rendered.portsString === '' ? [] : readOpenPorts(rendered.portsString), union, 'portsString is the union of every open_ports');
  assert.equal(rendered.portsCount, countSpanPorts(union), 'portsCount counts that union');

  if (!anySelectorLeft && c.services.length > 0) {
    // Services exist but every port of theirs is excluded: what when_empty all should mean here is
    // open (see the regression case in fuzz-merge-render.test.ts); only the shape is checked above.
    return 'all-excluded-with-when-empty-all';
  }
  if (!anySelectorLeft) {
    // No services and when_empty all: one catch-all entry, minus the excluded ports.
    assert.equal(seenExe.size, 0);
    assert.deepEqual(portsOnlyEntries[0], removePorts(ALL_PORTS, holes), 'the catch-all is every port but the excluded ones');
    return 'catch-all';
  }
  assert.deepEqual(portsOnlyEntries[0] ?? [], portsOnly, 'the ports-only entry holds exactly the ports-only services\' ports, minus excluded and instance ports');
  assert.deepEqual(new Map([...seenExe].sort()), new Map([...exeEntries].sort()), 'one entry per exe glob, each with exactly its services\' ports minus excluded');
  return 'selectors';
}
