// The last good effective configuration (settings and services as last applied), kept in the unit's StateDirectory= so a restart with a broken coral.yaml can run on it.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Snapshot } from '../config/types.js';
import { isErrno } from '../errors.js';

export const LAST_GOOD_FILE = 'last-good.json';

export interface LastGood {
  /** ISO time it was saved (the last reconcile whose coral.yaml was valid). */
  savedAt: string;
  /** The coral.yaml it was read from: a saved state belongs to that file only. */
  configPath: string;
  snapshot: Snapshot;
}

/** The state directory systemd gives the unit ($STATE_DIRECTORY, first entry), or undefined off systemd. */
export function stateDirectory(env: Readonly<Record<string, string | undefined>>): string | undefined {
  const dir = env.STATE_DIRECTORY?.split(':')[0];
  return dir ? dir : undefined;
}

export class LastGoodStore {
  private readonly path: string;
  private lastText = '';

  constructor(dir: string) {
    this.path = join(dir, LAST_GOOD_FILE);
  }

  get file(): string {
    return this.path;
  }

  /** Saves the snapshot when its coral.yaml is valid and it differs from what was saved; atomic (temp file, rename), mode 0600. */
  async save(snapshot: Snapshot, now: Date = new Date()): Promise<boolean> {
    const main = snapshot.files.find((f) => f.file === snapshot.settings.configPath);
    if (main?.status !== 'valid') return false;
    const body = JSON.stringify({ configPath: snapshot.settings.configPath, snapshot });
    if (body === this.lastText) return false;
    const state: LastGood = { savedAt: now.toISOString(), configPath: snapshot.settings.configPath, snapshot };
    const dir = join(this.path, '..');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const temp = `${this.path}.${process.pid}.tmp`;
    await writeFile(temp, `${JSON.stringify(state)}\n`, { mode: 0o600 });
    await rename(temp, this.path);
    this.lastText = body;
    return true;
  }

  /** The saved state for `configPath`, or undefined when there is none (or it is unreadable, or for another file). */
  async load(configPath: string): Promise<LastGood | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return undefined;
      throw error;
    }
    let state: Partial<LastGood>;
    try {
      state = JSON.parse(text) as Partial<LastGood>;
    } catch {
      return undefined;
    }
    const snapshot = state.snapshot;
    if (typeof state.savedAt !== 'string' || state.configPath !== configPath || !snapshot || !Array.isArray(snapshot.services) || !Array.isArray(snapshot.files) || typeof snapshot.settings !== 'object') return undefined;
    this.lastText = JSON.stringify({ configPath: state.configPath, snapshot });
    return state as LastGood;
  }
}
