// The relay to an https:// collector with the standard TLS variables: a CA and certificates made here with the openssl CLI, a real https server that requires a client certificate.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import client from 'prom-client';
import { readUpstream } from '../src/otlp/read-upstream.js';
import { startOtlpRelay } from '../src/otlp/start-otlp-relay.js';
import { planOtlpRelay } from '../src/plan/plan-otlp-relay.js';
import { captureLogger } from './support/capture-logger.js';

const openssl = (dir: string, args: string[]): void => {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
};

/** A CA, a server certificate for 127.0.0.1 and a client certificate, both signed by it; and a second CA that signed nothing here. */
async function makePki(dir: string): Promise<void> {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  for (const ca of ['ca', 'other-ca']) openssl(dir, ['req', '-x509', ...ec, '-keyout', `${ca}.key`, '-out', `${ca}.pem`, '-days', '2', '-subj', `/CN=${ca}`]);
  await writeFile(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\n');
  await writeFile(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const [name, cn] of [['server', '127.0.0.1'], ['client', 'coral-agent-test']] as const) {
    openssl(dir, ['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
    openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`]);
  }
}

/** The user's collector over https, requiring a client certificate signed by the CA; records who sent what. */
async function startCollector(t: TestContext, dir: string) {
  const received: Array<{ path: string; clientCn: string; body: string }> = [];
  const server = https.createServer({
    key: await readFile(join(dir, 'server.key')), cert: await readFile(join(dir, 'server.pem')),
    ca: await readFile(join(dir, 'ca.pem')), requestCert: true, rejectUnauthorized: true,
  }, (req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (c: string) => { body += c; }).on('end', () => {
      received.push({ path: req.url ?? '', clientCn: String((req.socket as TLSSocket).getPeerCertificate().subject?.CN), body });
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); }));
  return { received, url: `https://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

function post(url: string, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => { text += c; }).on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The relay as the daemon builds it: planned from agent.beyla.env, the TLS files read. */
async function relayFor(t: TestContext, env: Record<string, string>) {
  const plan = planOtlpRelay({ env, config: {} });
  assert.equal(plan.kind, 'relay', JSON.stringify(plan));
  if (plan.kind !== 'relay') throw new Error('no relay');
  const relay = await startOtlpRelay({ upstream: await readUpstream(plan.upstream), registry: new client.Registry(), logger: captureLogger().logger });
  t.after(() => relay.close());
  relay.observe(1, [1]);
  return relay;
}

test('https upstream: the CA of OTEL_EXPORTER_OTLP_CERTIFICATE verifies the collector, the client certificate and key are presented; per-signal variables win', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'coral-otlp-tls-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await makePki(dir);
  const collector = await startCollector(t, dir);
  const file = (name: string): string => join(dir, name);

  const relay = await relayFor(t, {
    OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
    OTEL_EXPORTER_OTLP_CERTIFICATE: file('ca.pem'),
    OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: file('client.pem'),
    OTEL_EXPORTER_OTLP_CLIENT_KEY: file('client.key'),
    OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE: file('other-ca.pem'), // the metrics export trusts another CA only
  });
  assert.equal((await post(`${relay.endpointFor(1)}/v1/traces`, 'spans')).status, 200);
  assert.deepEqual(collector.received, [{ path: '/v1/traces', clientCn: 'coral-agent-test', body: 'spans' }]);
  const metrics = await post(`${relay.endpointFor(1)}/v1/metrics`, 'points');
  assert.equal(metrics.status, 502, 'the collector is not signed by OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE');
  assert.match(metrics.text, /certificate/i);

  const noClientCert = await relayFor(t, { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${collector.url}/v1/traces`, OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE: file('ca.pem') });
  assert.equal((await post(`${noClientCert.endpointFor(1)}/v1/traces`, 'x')).status, 502, 'the collector requires a client certificate');
  const noCa = await relayFor(t, { OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: file('client.pem'), OTEL_EXPORTER_OTLP_CLIENT_KEY: file('client.key') });
  assert.match((await post(`${noCa.endpointFor(1)}/v1/traces`, 'x')).text, /certificate/i, 'without the CA the collector is not trusted');
  assert.equal(collector.received.length, 1);

  await assert.rejects(readUpstream({ traces: { url: collector.url, caFile: file('missing.pem') } }), /cannot read the CA certificate .*missing\.pem: ENOENT/);
  assert.equal(planOtlpRelay({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: file('client.pem') }, config: {} }).kind, 'refused', 'a certificate without its key');
});
