// Coverage and handover checks with thousands of services in one selector: right owner per listener, and each service read O(1) times, not once per name and listener.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { PortRange } from '../src/config/types.js';
import { checkHandover } from '../src/beyla/check-handover.js';
import { InstrumentedProcesses } from '../src/beyla/instrumented-processes.js';
import { serviceCoverage } from '../src/beyla/service-coverage.js';
import { indexPortOwners } from '../src/plan/port-owners.js';
import type { DesiredState } from '../src/plan/types.js';

const range = (from: number, to = from): PortRange => ({ from, to });

test('indexPortOwners: the names whose own ports hold the port, in the order given; names without a service are unknown', () => {
  const services = [
    { name: 'a', ports: [range(80), range(8080, 8089)] },
    { name: 'b', ports: [range(8085)] },
    { name: 'c', ports: [range(1, 65535)] },
    { name: 'd', ports: [range(9000, 9001)] },
    { name: 'a', ports: [range(7)] }, // a second entry of a name: the first one counts
  ];
  const owners = indexPortOwners(['d', 'a', 'b', 'ghost'], services);
  const cases: Array<[number, string[]]> = [[80, ['a']], [8085, ['a', 'b']], [8089, ['a']], [8090, []], [9001, ['d']], [7, []], [0, []], [65535, []]];
  for (const [port, expected] of cases) assert.deepEqual(owners.at(port), expected, `port ${port}`);
  assert.deepEqual(owners.unknown, ['ghost']);
  const wide = indexPortOwners(['c', 'a'], services);
  assert.deepEqual(wide.at(8081), ['c', 'a']);
  assert.deepEqual(wide.at(65535), ['c']);
  assert.deepEqual(indexPortOwners([], services).at(80), []);
});

/** The services array behind a Proxy that counts element reads. */
function counted<T>(items: T[]): { items: T[]; reads: () => number } {
  let reads = 0;
  const proxy = new Proxy(items, {
    get(target, key, receiver) {
      if (typeof key === 'string' && /^\d+$/.test(key)) reads++;
      return Reflect.get(target, key, receiver) as unknown;
    },
  });
  return { items: proxy, reads: () => reads };
}

/** A real listener on 127.0.0.1 (closed after the test) and SERVICES one-port services around its port, in one ports-only selector. */
async function manyServices(t: TestContext): Promise<{ port: number; owner: string; desired: DesiredState; reads: () => number }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as { port: number }).port;
  const first = Math.max(1, Math.min(port - SERVICES / 2, 65536 - SERVICES));
  const all = Array.from({ length: SERVICES }, (_, i) => ({ name: `svc-${String(i).padStart(5, '0')}`, ports: [range(first + i)] }));
  const owner = all[port - first]!.name;
  const { items, reads } = counted(all);
  const selector = { services: all.map((s) => s.name), openPorts: [range(first, first + SERVICES - 1)] };
  return { port, owner, desired: { services: items as DesiredState['services'], ports: selector.openPorts, selectors: [selector] }, reads };
}

const SERVICES = 3000;

test(`serviceCoverage with ${SERVICES} services in one selector: the listener belongs to the service on its port, and each service is read O(1) times`, async (t) => {
  const { port, owner, desired, reads } = await manyServices(t);
  const coverage = await serviceCoverage({ selectors: desired.selectors, services: desired.services, instrumented: null, generation: 1, excludePorts: [], selfPid: 0 });
  assert.equal(coverage.length, SERVICES);
  const mine = coverage.find((c) => c.service === owner);
  assert.deepEqual(mine?.listeners.find((l) => l.pid === process.pid), { pid: process.pid, ports: [port] });
  assert.equal(coverage.filter((c) => c.pids.includes(process.pid)).length, 1, 'only the owner of the port lists this process');
  // Before: one search of every service per name of the selector and per listener (4.5 million reads
  // here with this one listener; 20,000 services made each status, scrape and promotion block the
  // agent's event loop for minutes, and a SIGTERM with it).
  assert.ok(reads() <= 2 * SERVICES, `${reads()} reads of ${SERVICES} services`);
});

test(`checkHandover with ${SERVICES} services in one selector: a listener is expected under the service on its port, and each service is read O(1) times`, async (t) => {
  const { port, owner, desired, reads } = await manyServices(t);
  const check = await checkHandover({ candidate: new InstrumentedProcesses(), active: null, desired, excludePorts: [], selfPid: 0 });
  assert.deepEqual(check.expected.find((e) => e.pid === process.pid), { pid: process.pid, name: owner, port, why: 'listener' });
  assert.equal(check.covered, false);
  assert.ok(reads() <= 2 * SERVICES, `${reads()} reads of ${SERVICES} services`);
});
