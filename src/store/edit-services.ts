// What `coral connect` and `coral disconnect` decide under the directory lock, on whatever view of the services the caller holds (the daemon's, or a fresh read).
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { didYouMean } from '../config/did-you-mean.js';
import { parseDropIn } from '../config/parse-drop-in.js';
import type { Validators } from '../config/schema-validate.js';
import type { HealthDefaults, Service } from '../config/types.js';
import { CoralError, isErrno } from '../errors.js';
import { DROP_IN_HEADER } from './drop-in-header.js';
import { storeError } from './lock-services-dir.js';
import { removeDropIn } from './remove-drop-in.js';
import type { ServicesIndex } from './services-index.js';
import { writeDropIn } from './write-drop-in.js';

export { DROP_IN_HEADER };

/** What the decisions read: files, names and ports looked up one at a time (src/store/services-index.ts). */
export type ServicesView = Pick<ServicesIndex, 'settings' | 'file' | 'definitions' | 'claimant' | 'names'>;

export interface ConnectOutcome {
  service: Service;
  path: string;
  changed: boolean;
  /** The service the file defined before (a reconnect with new settings). */
  previous?: Service;
  /** The coral.yaml definition replaced with --replace. */
  overridden?: Service;
  /** Why the old file needed --force (not written by coral connect, or invalid). */
  forced?: string;
}

function where(s: Service): string {
  return `${s.source.file}:${s.source.line}`;
}

/** Name and port conflicts with the view; throws INVALID_CONFIG naming the file and line. */
export function checkConflicts(opts: { snapshot: ServicesView; service: Service; path: string; replace: boolean }): { previous?: Service; overridden?: Service } {
  const { snapshot, service, path } = opts;
  const mainFile = snapshot.settings.configPath;
  let previous: Service | undefined;
  let overridden: Service | undefined;
  const own = snapshot.file(path);
  if (own) {
    const others = own.services.filter((s) => s.name !== service.name).map((s) => s.name);
    if (others.length > 0) {
      throw new CoralError('INVALID_CONFIG', `${path} also defines ${others.map((n) => `"${n}"`).join(', ')}: it was not written by coral connect`, {
        hint: 'edit that file by hand, or move those services to their own files', details: { path },
      });
    }
    previous = own.services.find((s) => s.name === service.name);
  }
  for (const file of snapshot.definitions(service.name)) {
    if (file.file === path) continue;
    const same = file.services.find((s) => s.name === service.name)!;
    if (file.file === mainFile && opts.replace) {
      overridden = same;
      continue;
    }
    throw new CoralError('INVALID_CONFIG', `service "${service.name}" is already defined in ${where(same)}`, {
      hint: file.file === mainFile
        ? 'pass --replace to override it with a drop-in (disconnecting brings the coral.yaml definition back), or edit coral.yaml'
        : `edit or remove ${file.file} first`,
      details: { path: file.file, line: same.source.line },
    });
  }
  const claim = snapshot.claimant(service.ports, service.name);
  if (claim) {
    const other = claim.service;
    throw new CoralError('INVALID_CONFIG', `port ${claim.port} is already claimed by service "${other.name}" (${where(other)})`, {
      hint: `each port belongs to one service: pick another port, or disconnect ${other.name} first`,
      details: { path: other.source.file, line: other.source.line, port: claim.port },
    });
  }
  return { ...(previous ? { previous } : {}), ...(overridden ? { overridden } : {}) };
}

/** Why the file now at `path` must not be replaced without --force ("was not written by ...", "is invalid ..."), or undefined when it may be (absent, or a valid file coral connect wrote). */
export async function foreignFileReason(opts: { path: string; validators: Validators; healthDefaults: HealthDefaults }): Promise<string | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readFile(opts.path);
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return undefined;
    throw storeError(error, 'read', opts.path);
  }
  const parsed = parseDropIn({ file: opts.path, bytes, validators: opts.validators, healthDefaults: opts.healthDefaults });
  if (!parsed.ok) {
    const first = parsed.errors[0];
    return `is invalid${first ? ` (${first.file}:${first.line}:${first.col}: ${first.message})` : ''}`;
  }
  if (!bytes.toString('utf8').startsWith(`${DROP_IN_HEADER}\n`)) return 'was not written by coral connect (its first line is not coral connect\'s header: edited by hand or by another tool)';
  return undefined;
}

export interface ConnectUnderLockOptions {
  dir: string;
  fileName: string;
  text: string;
  /** The service as parsed from `text`, its source set to the file. */
  service: Service;
  replace: boolean;
  force: boolean;
  validators: Validators;
  healthDefaults: HealthDefaults;
  /** The current services; called holding the lock. */
  view: () => Promise<ServicesView>;
  lost: AbortSignal;
}

/** Check, then write. Call it holding the directory lock. */
export async function connectUnderLock(opts: ConnectUnderLockOptions): Promise<ConnectOutcome> {
  const path = join(opts.dir, opts.fileName);
  const snapshot = await opts.view();
  const found = checkConflicts({ snapshot, service: opts.service, path, replace: opts.replace });
  let forced: string | undefined;
  // Synchronous: a few-hundred-byte file, and a trip through the thread pool costs more than the read on a loaded machine.
  let current: string | undefined;
  try {
    current = readFileSync(path, 'utf8');
  } catch (error) {
    if (!isErrno(error, 'ENOENT')) throw storeError(error, 'read', path);
  }
  if (current !== undefined && current !== opts.text) {
    const reason = await foreignFileReason({ path, validators: opts.validators, healthDefaults: opts.healthDefaults });
    if (reason !== undefined && !opts.force) {
      throw new CoralError('INVALID_CONFIG', `${path} ${reason}: not replacing it`, {
        hint: `pass --force to replace it with what coral connect writes, or edit ${path} by hand`, details: { path },
      });
    }
    forced = reason;
  }
  const written = await writeDropIn({ dir: opts.dir, fileName: opts.fileName, text: opts.text, signal: opts.lost });
  return { service: opts.service, path: written.path, changed: written.changed, ...found, ...(forced ? { forced } : {}) };
}

export type DisconnectVerdict =
  | { kind: 'remove'; fileName: string; restored?: Service }
  | { kind: 'absent'; guess?: string };

/** What disconnecting `name` means for this view; throws INVALID_CONFIG when it is defined where coral does not write. */
export function planDisconnect(snapshot: ServicesView, name: string): DisconnectVerdict {
  const dir = snapshot.settings.servicesDir;
  const fileName = `${name}.yaml`;
  const own = join(dir, fileName);
  const ownFile = snapshot.file(own);
  const mainFile = snapshot.settings.configPath;
  const inMain = snapshot.file(mainFile)?.services.find((s) => s.name === name);
  if (ownFile) {
    const others = ownFile.services.filter((s) => s.name !== name).map((s) => `"${s.name}"`);
    if (others.length > 0) {
      throw new CoralError('INVALID_CONFIG', `${own} also defines ${others.join(', ')}: it was not written by coral connect`, {
        hint: 'edit that file by hand', details: { path: own },
      });
    }
    return { kind: 'remove', fileName, ...(inMain ? { restored: inMain } : {}) };
  }
  if (inMain) {
    throw new CoralError('INVALID_CONFIG', `service "${name}" is defined in ${where(inMain)}, not by coral connect`, {
      hint: `remove it from ${mainFile}, then: systemctl reload coral-agent`, details: { path: mainFile, line: inMain.source.line },
    });
  }
  for (const file of snapshot.definitions(name)) {
    const found = file.services.find((s) => s.name === name);
    if (found) {
      throw new CoralError('INVALID_CONFIG', `service "${name}" is defined in ${where(found)}, a drop-in not named ${fileName}`, {
        hint: `edit or remove ${file.file} by hand`, details: { path: file.file, line: found.source.line },
      });
    }
  }
  const guess = didYouMean(name, snapshot.names());
  return { kind: 'absent', ...(guess ? { guess } : {}) };
}

/** Decide, then remove. Call it holding the directory lock. */
export async function disconnectUnderLock(opts: { dir: string; name: string; view: () => Promise<ServicesView>; lost: AbortSignal }): Promise<{ verdict: DisconnectVerdict; removed: boolean }> {
  const verdict = planDisconnect(await opts.view(), opts.name);
  if (verdict.kind !== 'remove') return { verdict, removed: false };
  return { verdict, removed: await removeDropIn({ dir: opts.dir, fileName: verdict.fileName, signal: opts.lost }) };
}
