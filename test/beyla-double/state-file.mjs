// The double's state file, <FAKE_BEYLA_STATE_DIR>/<pid>.json, so tests can see each live instance.
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Writes the state atomically (temp file + rename) and returns its path. */
export const writeStateFile = ({ dir, state }) => {
  const path = join(dir, `${state.pid}.json`);
  const temp = `${path}.tmp`;
  writeFileSync(temp, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(temp, path);
  return path;
};

/** Builds the recorded state of this instance from its config, argv and environment. */
export const describeInstance = ({ config, argv, env, faults }) => ({
  pid: process.pid,
  config_path: config.path,
  argv,
  env_keys: Object.keys(env).sort(),
  open_ports: config.selectors.map((selector) => selector.openPortsText).filter((text) => text !== undefined),
  normalized_open_ports: config.normalizedOpenPorts,
  exe_paths: config.selectors.map((selector) => selector.exePath).filter((glob) => glob !== undefined),
  ports: {
    metrics: config.metrics?.port ?? null,
    health: config.health?.port ?? null,
    internal: config.internal?.port ?? null,
  },
  faults,
  started_at: new Date().toISOString(),
});

/** Removes the state file; synchronous so it can run in process.on('exit'). */
export const removeStateFile = (path) => rmSync(path, { force: true });
