// Child of test/harness-reaping.test.ts: a daemon harness with its agent and one Beyla double running, then it waits to be killed.
import { createDaemonHarness, dropIn } from './daemon-harness.js';

const port = Number(process.argv[2]);
const h = await createDaemonHarness({ after: () => undefined }, { dropIns: { 'a.yaml': dropIn('a', port) } });
await h.start();
const live = await h.waitForLivePorts(String(port));
process.stdout.write(`${JSON.stringify({ agent: h.pid, beyla: live?.pid, dir: h.dir })}\n`);
setInterval(() => undefined, 2 ** 30);
