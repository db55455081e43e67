// Beyla's version, read the only way v3.31 tells it: the first log line it prints before refusing an unknown flag.
import { execa } from 'execa';
import { parseBeylaLog } from './parse-beyla-log.js';
import { scrubEnv } from './scrub-env.js';

export interface BeylaVersion {
  /** e.g. "v3.31.0". */
  version: string;
  revision?: string;
}

/** The version in Beyla's first log line (`msg="Grafana Beyla" Version=v3.31.0 Revision=...`), or undefined. */
export function versionFromLogLine(line: string): BeylaVersion | undefined {
  const record = parseBeylaLog(line);
  if (!record.structured || record.msg !== 'Grafana Beyla' || !record.fields.version) return undefined;
  return { version: record.fields.version, ...(record.fields.revision ? { revision: record.fields.revision } : {}) };
}

const PROBE_TIMEOUT_MS = 5000;

/**
 * Runs `BINARY -version`: Beyla has no such flag, so it prints its first log line (which holds
 * the version) and exits 2. Resolves with the version, or rejects with what went wrong.
 */
export async function readBeylaVersion(binary: string, env: NodeJS.ProcessEnv = process.env): Promise<BeylaVersion> {
  const result = await execa(binary, ['-version'], {
    env: scrubEnv(env), extendEnv: false, reject: false, stdin: 'ignore', timeout: PROBE_TIMEOUT_MS, maxBuffer: 1 << 20, lines: true,
  });
  const stdout = Array.isArray(result.stdout) ? result.stdout : [];
  for (const line of stdout) {
    const found = versionFromLogLine(line);
    if (found) return found;
  }
  if (result.timedOut) throw new Error(`${binary} -version did not exit within ${PROBE_TIMEOUT_MS} ms`);
  if (result.failed && result.exitCode === undefined) throw new Error(`${binary} could not be run: ${result.shortMessage}`);
  throw new Error(`${binary} printed no "Grafana Beyla" version line (exit ${result.exitCode ?? result.signal})`);
}
