// recordCheck: folds one check's verdict into a service's health (thresholds of consecutive failures and successes).
import type { HealthDefaults } from '../config/types.js';
import type { HealthState, ServiceHealth } from './health-types.js';

/** The part of a watched service a verdict changes. */
export interface CheckRecord {
  health: ServiceHealth;
  consecutiveSuccesses: number;
}

/**
 * 'unknown' until the first verdict; the first success from 'unknown' is 'up' at once;
 * `unhealthyThreshold` consecutive failures make it 'down' (from 'unknown' or 'up');
 * `healthyThreshold` consecutive successes bring a 'down' service back 'up'.
 * Updates `record` in place (failure: the reason, undefined for a pass); returns the state before.
 */
export function recordCheck(record: CheckRecord, failure: string | undefined, thresholds: HealthDefaults): HealthState {
  const health = record.health;
  const previous = health.state;
  health.lastCheckAt = new Date().toISOString();
  if (failure === undefined) {
    health.consecutiveFailures = 0;
    delete health.lastError;
    record.consecutiveSuccesses++;
    const threshold = Math.max(1, thresholds.healthyThreshold);
    if (previous === 'unknown' || (previous === 'down' && record.consecutiveSuccesses >= threshold)) health.state = 'up';
  } else {
    health.consecutiveFailures++;
    health.lastError = failure;
    record.consecutiveSuccesses = 0;
    if (previous !== 'down' && health.consecutiveFailures >= Math.max(1, thresholds.unhealthyThreshold)) health.state = 'down';
  }
  return previous;
}
