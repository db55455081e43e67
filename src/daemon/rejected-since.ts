// Since when each file has been invalid: the first reconcile that saw it invalid, forgotten once it is valid again.
import type { Snapshot } from '../config/types.js';

export class RejectedSince {
  private readonly since = new Map<string, string>();

  /** Record the files that are invalid in `snapshot` (now, if newly so) and forget the others. */
  update(snapshot: Snapshot | undefined, now: Date = new Date()): void {
    const invalid = new Set((snapshot?.files ?? []).filter((f) => f.status !== 'valid').map((f) => f.file));
    for (const file of [...this.since.keys()]) if (!invalid.has(file)) this.since.delete(file);
    for (const file of invalid) if (!this.since.has(file)) this.since.set(file, now.toISOString());
  }

  /** ISO time the file turned invalid, if it is. */
  of(file: string): string | undefined {
    return this.since.get(file);
  }
}
