// Turns the planned OTLP upstreams into the relay's: the TLS files named by OTEL_EXPORTER_OTLP_*CERTIFICATE / *CLIENT_KEY read as PEM.
import { readFile } from 'node:fs/promises';
import { CoralError } from '../errors.js';
import type { PlannedUpstream, RelaySignal } from '../plan/plan-otlp-relay.js';
import type { UpstreamTarget } from './otlp-relay-types.js';

async function pem(path: string, what: string, signal: RelaySignal): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new CoralError('INVALID_CONFIG', `cannot read the ${what} for the OTLP ${signal} export: ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, {
      hint: 'OTEL_EXPORTER_OTLP_CERTIFICATE, _CLIENT_CERTIFICATE and _CLIENT_KEY (or their _TRACES_ / _METRICS_ forms) name PEM files the agent reads', cause: error,
    });
  }
}

/** Rejects with a CoralError naming the file when one cannot be read. */
export async function readUpstream(planned: Partial<Record<RelaySignal, PlannedUpstream>>): Promise<Partial<Record<RelaySignal, UpstreamTarget>>> {
  const out: Partial<Record<RelaySignal, UpstreamTarget>> = {};
  for (const [signal, up] of Object.entries(planned) as Array<[RelaySignal, PlannedUpstream]>) {
    out[signal] = {
      url: up.url,
      ...(up.caFile ? { ca: await pem(up.caFile, 'CA certificate (OTEL_EXPORTER_OTLP_CERTIFICATE)', signal) } : {}),
      ...(up.certFile ? { cert: await pem(up.certFile, 'client certificate (OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE)', signal) } : {}),
      ...(up.keyFile ? { key: await pem(up.keyFile, 'client key (OTEL_EXPORTER_OTLP_CLIENT_KEY)', signal) } : {}),
      ...(up.insecureSkipVerify ? { insecureSkipVerify: true } : {}),
    };
  }
  return out;
}
