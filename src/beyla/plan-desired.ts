// A desired state as a lifecycle plan: disabled, the binary looked up (missing?), the config keyed (empty? invalid?).
import type { BeylaSettings } from '../config/types.js';
import { CoralError } from '../errors.js';
import { keyTarget } from '../lifecycle/key-target.js';
import type { Plan } from '../lifecycle/types.js';
import type { DesiredState } from '../plan/types.js';
import { findBeylaBinary } from './find-beyla-binary.js';

export interface PlanDesiredOptions {
  desired: DesiredState;
  settings: BeylaSettings;
  seq: number;
  env: NodeJS.ProcessEnv;
  excludePorts: readonly number[];
}

/** The plan, and the binary to report in status (resolved path, or the configured name when not found). Never throws. */
export async function planDesired(opts: PlanDesiredOptions): Promise<{ plan: Plan; binary: string }> {
  const { desired, settings } = opts;
  if (!settings.enabled) return { plan: { kind: 'disabled' }, binary: settings.binary };
  let binary: string;
  try {
    binary = await findBeylaBinary(settings.binary, opts.env);
  } catch (error) {
    if (error instanceof CoralError && error.code === 'BEYLA_UNAVAILABLE') {
      return { plan: { kind: 'missing-binary', binary: settings.binary, message: error.format(), ...(error.hint ? { hint: error.hint } : {}) }, binary: settings.binary };
    }
    return { plan: { kind: 'invalid', message: error instanceof CoralError ? error.format() : String(error) }, binary: settings.binary };
  }
  try {
    const target = keyTarget({ seq: opts.seq, desired, settings, binary, excludePorts: opts.excludePorts });
    return { plan: target ? { kind: 'run', target } : { kind: 'empty' }, binary };
  } catch (error) {
    return { plan: { kind: 'invalid', message: error instanceof CoralError ? error.format() : String(error) }, binary };
  }
}
