// `coral connect` and `coral disconnect` in one request to the running agent, loading no YAML parser, no validators and no node:http; undefined when the full command must run.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SETTINGS } from '../config/settings.js';
import type { Service } from '../config/types.js';
import { lightRequest } from '../control/light-request.js';
import { CoralError, EXIT } from '../errors.js';
import type { ConnectOutcome, DisconnectVerdict } from '../store/edit-services.js';
import { resolveConfigPath } from '../store/resolve-config-path.js';

/** As the loader's limit (src/store/read-sources.ts): a larger coral.yaml is the full command's to refuse. */
const MAX_FILE_BYTES = 1024 * 1024;
import { agentError } from './agent-error.js';
import { CONFIG_OPTIONS, CONNECT_OPTIONS, SETTING_FLAGS, settingFlags, type Options } from './args.js';
import { beylaLine, disconnectBeylaLine, reportConnect, reportDisconnect, type BeylaBrief } from './connect-report.js';
import { isServiceName, parseServiceSpec, renderDropIn } from './coral-service-spec.js';
import type { Io } from './io.js';

/**
 * The agent resolves coral.yaml (the bytes this process read, with its CORAL_* variables and
 * flags) as the full command would, and answers 409 unless the result is the directory and the
 * socket it serves and is valid; it validates and writes under the same lock. So this path only
 * ever takes the common case: anything else (no agent, a usage error, an invalid service or
 * configuration, --help, --wait) returns undefined before anything is changed, and the full
 * command runs and says exactly what it always said.
 */
export async function editFastPath(command: 'connect' | 'disconnect', args: string[], io: Io): Promise<number | undefined> {
  const values = parseQuietly(args, command === 'connect' ? CONNECT_OPTIONS : { ...CONFIG_OPTIONS, ...SETTING_FLAGS });
  if (!values || values.values.help || values.positionals.length !== 1) return undefined;
  const { positionals } = values;
  const options = values.values;
  const request: Record<string, unknown> = {};
  if (command === 'connect') {
    if (options.wait !== undefined || options.timeout !== undefined) return undefined;
    let text: string;
    try {
      text = renderDropIn(parseServiceSpec(positionals[0]!, {
        ports: options.ports as string | undefined, exe: options.exe as string | undefined,
        health: options.health as string | undefined, type: options.type as string | undefined,
      }));
    } catch {
      return undefined;
    }
    Object.assign(request, { text, replace: options.replace === true, force: options.force === true });
  } else {
    if (!isServiceName(positionals[0]!)) return undefined;
    request.name = positionals[0]!;
  }

  const configPath = resolveConfigPath(options.config as string | undefined, io.env).path;
  const bytes = readPlainFile(configPath);
  if (!bytes) return undefined;
  const flags = settingFlags(options);
  const socketPath = guessSocket(bytes.toString('utf8'), io.env, flags);
  if (socketPath === undefined) return undefined;
  const env = Object.fromEntries(Object.entries(io.env).filter(([name]) => name.startsWith('CORAL_')));
  request.config = { path: configPath, base64: bytes.toString('base64'), env, flags };

  const endpoint = command === 'connect' ? '/v1/connect' : '/v1/disconnect';
  // The agent waits up to 60 s for a busy lock, as the CLI would.
  const response = await lightRequest({ socketPath, method: 'POST', path: endpoint, body: request, timeoutMs: 75_000 });
  if (response.kind === 'unreachable' || response.kind === 'failed') return undefined;
  if (response.kind === 'timeout') {
    throw new CoralError('TEMPORARY', `coral-agent did not answer POST ${endpoint} within 75 s`, {
      hint: 'it may be busy applying a change; try again, or see: journalctl -u coral-agent', details: { path: socketPath, timeout_ms: 75_000 },
    });
  }
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const body = response.body as any;
  if ([400, 404, 405, 409, 413].includes(response.status)) return undefined;
  if (response.status !== 200 || body?.ok !== true) throw agentError(response.status, body);
  const beyla: BeylaBrief = { state: String(body.beyla?.state ?? 'unknown'), reason: body.beyla?.reason, generation: body.beyla?.generation };
  if (command === 'connect') {
    const outcome = body.outcome as ConnectOutcome;
    reportConnect(io, outcome.service as Service, outcome);
    io.out(beylaLine(beyla, body.debounceMs, outcome.changed));
    return EXIT.OK;
  }
  const verdict = body.verdict as DisconnectVerdict;
  const path = verdict.kind === 'remove' ? join(String(body.servicesDir), verdict.fileName) : undefined;
  if (!reportDisconnect(io, { name: String(request.name), path, verdict, removed: body.removed === true })) return EXIT.OK;
  const line = disconnectBeylaLine(beyla, body.debounceMs);
  if (line) io.out(line);
  return EXIT.OK;
}

/**
 * coral.yaml's bytes when it is a plain case (a regular file, not world-writable, at most 1 MiB,
 * readable), read synchronously: no thread pool to start. Anything else is the full command's to
 * report (it reads with every check and says why).
 */
function readPlainFile(path: string): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const info = fstatSync(fd);
    if (!info.isFile() || info.mode & 0o002 || info.size > MAX_FILE_BYTES) return undefined;
    const buffer = Buffer.allocUnsafe(info.size + 1);
    let total = 0;
    while (total < buffer.length) {
      const n = readSync(fd, buffer, total, buffer.length - total, null);
      if (n === 0) break;
      total += n;
    }
    return total > info.size ? undefined : buffer.subarray(0, total);
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

function parseQuietly(args: string[], options: Options): { values: Record<string, string | boolean | undefined>; positionals: string[] } | undefined {
  try {
    const { values, positionals } = parseArgs({ args, options, allowPositionals: true, strict: true });
    return { values: values as Record<string, string | boolean | undefined>, positionals };
  } catch {
    return undefined;
  }
}

const DEFAULT_SOCKET = String(SETTINGS.find((s) => s.key === 'agent.control.socket')!.default);

/**
 * Where the agent listens, without a YAML parser: --control-socket, $CORAL_CONTROL_SOCKET, a
 * plain `socket:` line in coral.yaml, or the default. Only a guess: the agent checks it against
 * its own resolution, so a wrong one costs a fallback, never a wrong write. Undefined when the
 * file sets it in a way a line scan cannot read.
 */
export function guessSocket(text: string, env: Readonly<Record<string, string | undefined>>, flags: Readonly<Record<string, string | undefined>>): string | undefined {
  if (flags['control-socket']) return flags['control-socket'];
  if (env.CORAL_CONTROL_SOCKET) return env.CORAL_CONTROL_SOCKET;
  if (!text.includes('socket')) return DEFAULT_SOCKET;
  const found = [...text.matchAll(/^[ \t]+socket:[ \t]*(?:"([^"\\]+)"|'([^']+)'|([^\s#'"{[][^\s#]*))[ \t]*(?:#.*)?$/gm)];
  if (found.length !== 1) return undefined;
  const match = found[0]!;
  return match[1] ?? match[2] ?? match[3];
}
