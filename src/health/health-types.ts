// The health monitor's public types: a service's health state and what status() and the events report of it.
import type { HealthKind } from '../config/types.js';

export type HealthState = 'unknown' | 'up' | 'down';

export interface ServiceHealth {
  state: HealthState;
  kind: HealthKind;
  /**
   * Where the last check got an answer: '127.0.0.1:8080', '[::1]:8080', 'http://127.0.0.1:8080/healthz';
   * both addresses ('127.0.0.1:8080, [::1]:8080') when neither answered; '' when not checked.
   */
  target: string;
  /** ISO time of the last finished check. */
  lastCheckAt?: string;
  /** Reason of the last failed check; cleared by a success. */
  lastError?: string;
  consecutiveFailures: number;
}

/** Events: 'check' (name, health) after every finished check; 'change' (name, health, previous) on a state change. */
export interface HealthMonitorEvents {
  check: [name: string, health: ServiceHealth];
  change: [name: string, health: ServiceHealth, previous: HealthState];
}
