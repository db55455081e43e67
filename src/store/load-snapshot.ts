// Read the whole configuration from disk and merge it with the previous snapshot: the one way a Snapshot is made.
import type { IncrementalMerge, SnapshotDelta } from '../config/merge-incremental.js';
import { mergeSnapshot } from '../config/merge-snapshot.js';
import { parseDropIn } from '../config/parse-drop-in.js';
import { parseMainConfig } from '../config/parse-main.js';
import { loadValidators, type Validators } from '../config/schema-validate.js';
import type { FileResult, Snapshot } from '../config/types.js';
import { CoralError } from '../errors.js';
import type { DropInCache } from './drop-in-cache.js';
import { readNamedDropIns } from './read-named.js';
import { readSourceFile } from './read-source-file.js';
import { readDropIns, type DropInListing } from './read-sources.js';

import { resolveConfigPath } from './resolve-config-path.js';

export { DEFAULT_CONFIG_PATH, resolveConfigPath } from './resolve-config-path.js';

export interface LoadOptions {
  /** --config; else CORAL_CONFIG; else /etc/coral/coral.yaml. */
  configPath?: string | undefined;
  env?: Readonly<Record<string, string | undefined>>;
  flags?: Readonly<Record<string, string | undefined>>;
  previous?: Snapshot | undefined;
  /** Compiled schemas; pass them in when loading repeatedly (compiling is the slow part). */
  validators?: Validators;
  /** Keep parsed drop-ins between loads; only files whose identity changed are read again. */
  cache?: DropInCache | undefined;
  /** Merge in O(changed) when `previous` is what this merge made last (the same result as the full merge). */
  merge?: IncrementalMerge | undefined;
}

export interface LoadResult {
  snapshot: Snapshot;
  /** Whether the main file itself is valid now (settings taken from it). */
  mainValid: boolean;
  /** Files (main and drop-ins) that are invalid now. */
  invalidFiles: string[];
  /** With `merge`: the files whose state may differ from `previous` (describeChange then looks at those alone). */
  delta?: SnapshotDelta;
}

/**
 * Throws CoralError CONFIG_MISSING when there is no main file and no previous snapshot.
 * Everything else (bad files, bad env) is in the snapshot's diagnostics.
 */
export function loadSnapshot(options: LoadOptions = {}): Promise<LoadResult> {
  return options.cache ? options.cache.exclusive(() => load(options)) : load(options);
}

async function load(options: LoadOptions): Promise<LoadResult> {
  const env = options.env ?? process.env;
  const { path: configPath, origin } = resolveConfigPath(options.configPath, env);
  const compiled = options.validators ?? (await loadValidators());
  const main = await readSourceFile(configPath);
  if ('missing' in main && !options.previous) {
    throw new CoralError('CONFIG_MISSING', `${configPath}: no such file`, {
      hint: 'create it (the package installs one), or point --config / CORAL_CONFIG at your file',
      details: { path: configPath },
    });
  }
  const parsedMain = 'bytes' in main
    ? parseMainConfig({ file: configPath, bytes: main.bytes, validators: compiled, env, flags: options.flags ?? {} })
    : undefined;
  const mainResult: FileResult = parsedMain ? parsedMain.result : { file: configPath, ok: false, errors: [(main as { error: import('../config/types.js').Diagnostic }).error] };
  const mainValid = mainResult.ok;
  // An invalid main file keeps the previous settings (its last good content), as drop-ins do.
  const fallback = parsedMain ?? parseMainConfig({ file: configPath, bytes: new TextEncoder().encode('agent: {}\n'), validators: compiled, env, flags: options.flags ?? {} });
  const settings = !mainValid && options.previous ? options.previous.settings : fallback.settings;
  const origins = !mainValid && options.previous ? options.previous.origins : { ...fallback.origins, config: { kind: origin === 'default' ? 'default' : origin, ...(origin === 'env' ? { name: 'CORAL_CONFIG' } : origin === 'flag' ? { name: 'config' } : {}) } } as Snapshot['origins'];

  const { cache } = options;
  const { mode, named } = cache?.begin(JSON.stringify([settings.servicesDir, settings.health]), settings.servicesDir) ?? { mode: 'full' as const, named: new Set<string>() };
  let listing: DropInListing;
  try {
    listing = cache && mode === 'hinted' && cache.listing
      ? await readNamedDropIns({ listing: cache.listing, named, cachedIdentity: (file) => cache.entries.get(file)?.identity })
      : await readDropIns(settings.servicesDir, cache && mode === 'sweep'
        ? { reuse: (file, identity) => cache.entries.get(file)?.identity === identity }
        : cache ? { reuse: () => false } : {});
  } catch (error) {
    cache?.abandon();
    throw error;
  }
  if (cache && mode !== 'hinted' && listing.listed) cache.listing = { dir: settings.servicesDir, ...listing.listed };
  const results: FileResult[] = [mainResult];
  listing.files.forEach((source, i) => {
    if ('reused' in source) {
      results.push(cache!.entries.get(source.file)!.result);
      cache!.last.reused++;
      return;
    }
    const result: FileResult = 'bytes' in source
      ? parseDropIn({ file: source.file, bytes: source.bytes, validators: compiled, healthDefaults: settings.health })
      : { file: source.file, ok: false, errors: [source.error] };
    results.push(result);
    if (!cache) return;
    cache.last.read++;
    const identity = listing.identities?.[i];
    if (identity === undefined) cache.entries.delete(source.file);
    else cache.entries.set(source.file, { identity, result });
  });
  // A hinted load removes what it saw go; a sweep keeps only what it listed (a deleted file must not come back).
  if (cache && mode === 'hinted') {
    for (const file of listing.gone ?? []) cache.entries.delete(file);
  } else {
    cache?.retain(new Set(listing.files.map((f) => f.file)));
  }
  const input = {
    previous: options.previous,
    settings,
    origins,
    results,
    extraDiagnostics: [...(parsedMain?.settingErrors ?? []), ...listing.dirErrors],
  };
  const merged = options.merge ? options.merge.merge(input) : { snapshot: mergeSnapshot(input) };
  const { snapshot } = merged;
  // A file the merge rejects (a port another file holds) is invalid too, not only one that fails to parse.
  const invalidFiles: string[] = [];
  for (const f of snapshot.files) if (f.status !== 'valid') invalidFiles.push(f.file);
  return { snapshot, mainValid, invalidFiles, ...(merged.delta ? { delta: merged.delta } : {}) };
}
