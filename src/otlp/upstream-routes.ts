// UpstreamRoutes: the relay's upstream per signal with its keep-alive agent; replaced agents are closed once their requests are done.
import http from 'node:http';
import https from 'node:https';
import type { OtlpSignal, UpstreamTarget } from './otlp-relay-types.js';

export interface Route { target: UpstreamTarget; url: URL; agent: http.Agent }

/** One https.Agent per upstream's TLS material; plain http shares one. */
function agentFor(target: UpstreamTarget): http.Agent {
  if (!target.url.toLowerCase().startsWith('https:')) return new http.Agent({ keepAlive: true, maxSockets: 64 });
  return new https.Agent({ keepAlive: true, maxSockets: 64, ...(target.ca ? { ca: target.ca } : {}), ...(target.cert ? { cert: target.cert } : {}), ...(target.key ? { key: target.key } : {}), ...(target.insecureSkipVerify ? { rejectUnauthorized: false } : {}) });
}

export class UpstreamRoutes {
  private routes = new Map<OtlpSignal, Route>();
  private readonly retired = new Set<http.Agent>();

  /** `timeoutMs`: the upstream deadline, after which a replaced agent has no request left. */
  constructor(private readonly timeoutMs: number) {}

  get(signal: OtlpSignal): Route | undefined {
    return this.routes.get(signal);
  }

  set(upstream: Partial<Record<OtlpSignal, UpstreamTarget>>): void {
    const next = new Map<OtlpSignal, Route>();
    for (const [signal, target] of Object.entries(upstream) as Array<[OtlpSignal, UpstreamTarget | undefined]>) {
      if (target) next.set(signal, { target, url: new URL(target.url), agent: agentFor(target) });
    }
    for (const route of this.routes.values()) {
      // Requests on the old agent end within the upstream deadline; its sockets are closed after that.
      this.retired.add(route.agent);
      setTimeout(() => {
        route.agent.destroy();
        this.retired.delete(route.agent);
      }, this.timeoutMs + 1000).unref();
    }
    this.routes = next;
  }

  /** The URL per signal, for the log. */
  urls(): Record<string, string> {
    return Object.fromEntries([...this.routes].map(([signal, r]) => [signal, r.target.url]));
  }

  /** Closes every agent, current and replaced. */
  destroy(): void {
    for (const route of this.routes.values()) route.agent.destroy();
    for (const agent of this.retired) agent.destroy();
  }
}
