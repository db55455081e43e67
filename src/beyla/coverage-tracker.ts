// CoverageTracker: the last service coverage read, and a version bumped only when it changes (the status signature carries that).
import { serviceCoverage, type ServiceCoverage } from './service-coverage.js';

export class CoverageTracker {
  /** The last coverage read ([] before the first). */
  last: ServiceCoverage[] = [];
  /** Bumped when the coverage changes: the state signature carries it instead of every service's entry. */
  version = 0;
  private lastText = '[]';

  /** Reads the coverage now and records it. */
  async read(opts: Parameters<typeof serviceCoverage>[0]): Promise<ServiceCoverage[]> {
    const result = await serviceCoverage(opts);
    const text = JSON.stringify(result);
    if (text !== this.lastText) {
      this.lastText = text;
      this.version += 1;
    }
    this.last = result;
    return result;
  }
}
