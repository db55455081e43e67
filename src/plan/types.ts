// The desired state: what Beyla should instrument, derived from a config snapshot.
import type { PortRange, Service } from '../config/types.js';

/** One Beyla discovery selector: fields inside one selector are ANDed, selectors are ORed. */
export interface Selector {
  /** Service names this selector stands for (sorted). */
  services: string[];
  openPorts: PortRange[];
  exePath?: string;
}

export interface DesiredState {
  /** Effective services, sorted by name. */
  services: Service[];
  /** Union of every service's ports: sorted, merged, non-overlapping. */
  ports: PortRange[];
  /** Discovery selectors, in a stable order. */
  selectors: Selector[];
}
