// The daemon's OTLP relay across configuration changes: planned from Beyla's settings at start and at each apply, started when first needed.
import type { BeylaSettings } from '../config/types.js';
import { CoralError } from '../errors.js';
import type { Logger } from '../log.js';
import { planOtlpRelay, relayInstanceEnv, type OtlpRelayPlan } from '../plan/plan-otlp-relay.js';
import type { Registry } from 'prom-client';
import { readUpstream } from './read-upstream.js';
import type { OtlpRelay } from './otlp-relay-types.js';

export interface OtlpRelayHolderOptions {
  /** The environment Beyla would get with these settings (agent.beyla.env and what CORAL_BEYLA_PASS_ENV hands on). */
  beylaEnv: (beyla: BeylaSettings) => Record<string, string>;
  registry: Registry;
  logger: Logger;
}

/** Which generation is active (0: none) and which run, as the supervisor reports it. */
export type SupervisorView = () => { active: number; running: number[] };

export class OtlpRelayHolder {
  private readonly opts: OtlpRelayHolderOptions;
  private plan: OtlpRelayPlan = { kind: 'none' };
  private relay: OtlpRelay | null = null;
  private upstreamKey = '';

  private constructor(opts: OtlpRelayHolderOptions) {
    this.opts = opts;
  }

  /** Rejects with INVALID_CONFIG when the export cannot be relayed (gRPC) or a TLS file cannot be read. */
  static async start(beyla: BeylaSettings, opts: OtlpRelayHolderOptions): Promise<OtlpRelayHolder> {
    const holder = new OtlpRelayHolder(opts);
    const plan = planOtlpRelay({ env: opts.beylaEnv(beyla), config: beyla.config });
    if (plan.kind === 'refused') throw new CoralError('INVALID_CONFIG', plan.message, { hint: plan.hint });
    await holder.use(plan, () => ({ active: 0, running: [] }));
    return holder;
  }

  /** A valid coral.yaml was applied: its endpoints (and certificate files) are used from now on; a refused plan keeps the previous ones. */
  async apply(beyla: BeylaSettings, logger: Logger, view: SupervisorView): Promise<void> {
    const plan = planOtlpRelay({ env: this.opts.beylaEnv(beyla), config: beyla.config });
    if (plan.kind === 'refused') {
      logger.error({ hint: plan.hint }, `${plan.message}: the OTLP relay keeps its previous endpoints`);
      return;
    }
    try {
      await this.use(plan, view);
    } catch (error) {
      logger.error({ err: error }, 'OTLP endpoints not changed');
    }
  }

  /** The environment that points one generation at its relay endpoint ({} with no export configured). */
  instanceEnv(generation: number): Record<string, string> {
    return this.relay ? relayInstanceEnv(this.plan, this.relay.endpointFor(generation)) : {};
  }

  cut(from: number, to: number): void {
    this.relay?.cut(from, to);
  }

  observe(active: number, running: readonly number[]): void {
    this.relay?.observe(active, running);
  }

  async close(): Promise<void> {
    await this.relay?.close();
  }

  private async use(plan: OtlpRelayPlan, view: SupervisorView): Promise<void> {
    if (plan.kind === 'relay') {
      const upstream = await readUpstream(plan.upstream); // certificate files too: a renewed one is used from here on
      const key = JSON.stringify(upstream);
      if (!this.relay) {
        // Loaded only when an export is configured: the relay and node:https, node:tls and node:zlib under it cost an idle agent without one ~1 MB.
        const { startOtlpRelay } = await import('./start-otlp-relay.js');
        this.relay = await startOtlpRelay({ upstream, registry: this.opts.registry, logger: this.opts.logger });
        const { active, running } = view();
        this.relay.observe(active, running);
      } else if (key !== this.upstreamKey) {
        this.relay.setUpstream(upstream);
      }
      this.upstreamKey = key;
    }
    // With no export configured the relay keeps its endpoints for the generations still pointed at it.
    this.plan = plan;
  }
}
