// Parse `agent.metrics.listen` ('host:port', '[::1]:port' or ':port') into a host and a port.
import { CoralError } from '../errors.js';

export interface ListenAddress {
  /** Undefined for ':port' (every interface). */
  host: string | undefined;
  port: number;
}

export function parseListen(listen: string): ListenAddress {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(listen.trim());
  const port = match ? Number(match[3]) : NaN;
  if (!match || !Number.isInteger(port) || port > 65535) {
    throw new CoralError('INVALID_CONFIG', `invalid listen address '${listen}'`, {
      hint: "agent.metrics.listen takes 'host:port', '[::1]:port' or ':port'",
      details: { listen },
    });
  }
  const host = match[1] ?? (match[2] === '' ? undefined : match[2]);
  return { host, port };
}
