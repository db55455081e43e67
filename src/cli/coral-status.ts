// `coral status`: the agent's and Beyla's state, generations, the last swap and its result, rejected files with their errors.
import { DOCTOR_HINT, isHostReason } from '../beyla/host-reason.js';
import { loadValidators } from '../config/schema-validate.js';
import { CoralError, EXIT } from '../errors.js';
import { CONFIG_OPTIONS, parse, SETTING_FLAGS, SETTING_FLAGS_HELP, settingFlags } from './args.js';
import { fetchAgentStatus, type AgentStatus } from './coral-fetch-status.js';
import { loadCoralSettings } from './coral-settings.js';
import { formatDiagnostic } from './format-diagnostic.js';
import type { Io } from './io.js';
import { phaseText } from './phase-text.js';
import { handoverLines, instrumentationLines, promotedAtDeadlineLines } from './coral-status-instrumentation.js';
import { watchStatus } from './coral-status-watch.js';

export const STATUS_USAGE = `Usage: coral status [--config PATH] [--json] [--watch [--interval SECONDS]]

Ask the running coral-agent for its state: the agent and Beyla, the configuration generation,
the ports wanted and the ports applied, the last Beyla swap and its result, during a swap how
many processes the new Beyla instruments and which are still missing, per service the
processes that listen on its ports and the Beyla generation that instruments them, files
rejected with their errors, and the health of each service.

Options:
  -c, --config PATH   main file (its agent.control.socket is used)
      --json          print the agent's answer as JSON
  -w, --watch         keep asking: on a terminal the status is redrawn in place (q or Ctrl-C
                      ends it); on a pipe each changed status is printed after a "--- time"
                      line (with --json: one JSON object a line); an agent that does not
                      answer is shown, not fatal
  -n, --interval S    seconds between two looks with --watch (default 1, at least 0.1)
  -h, --help          show this help

${SETTING_FLAGS_HELP}

Exit codes: 0 the agent answered, 64 usage, 66 no coral.yaml, 69 the agent is not running,
75 the agent did not answer in time, 77 permission denied.`;

function ago(iso: string | undefined): string {
  return iso ? ` at ${iso}` : '';
}

export function formatStatus(s: AgentStatus): string[] {
  const lines: string[] = [];
  const gen = s.generation === undefined ? '' : `, generation ${s.generation}`;
  lines.push(`coral-agent: ${s.state}${gen}${s.pid === undefined ? '' : `, pid ${s.pid}`}${s.startedAt ? `, since ${s.startedAt}` : ''}`);
  if (s.degraded) lines.push(`  DEGRADED: ${s.degraded.reason}; fix it, then: systemctl reload coral-agent`);
  const now = phaseText(s.phase);
  if (now !== undefined) lines.push(`  now: ${now}`);
  const wanted = s.desired.services.length;
  lines.push(`  desired: ${wanted} service${wanted === 1 ? '' : 's'}, ports ${s.desired.ports || '(none)'}${s.pending ? ' (change pending)' : ''}`);
  if (s.applied) {
    lines.push(`  applied: ports ${s.applied.ports || '(none)'}${s.applied.generation === undefined ? '' : `, generation ${s.applied.generation}`}${ago(s.applied.at)}`);
  } else {
    lines.push('  applied: nothing yet');
  }
  const b = s.beyla;
  const reason = b.reason && !b.promotedAtDeadline ? ` (${b.reason})` : '';
  lines.push(`Beyla: ${b.state}${b.generation === undefined ? '' : `, generation ${b.generation}`}${reason}`);
  lines.push(...promotedAtDeadlineLines(b));
  if (b.state !== 'ready' && (isHostReason(b.reason) || isHostReason(b.lastSwap?.error))) lines.push(`  hint: ${DOCTOR_HINT}`);
  for (const i of b.instances) {
    lines.push(`  ${i.role ?? 'instance'}: generation ${i.generation ?? '?'}, pid ${i.pid ?? '-'}${i.version ? `, Beyla ${i.version}` : ''}${i.adopted ? ', adopted from a previous agent' : ''}`);
  }
  lines.push(...handoverLines(b));
  if (b.lastSwap) {
    const w = b.lastSwap;
    const took = w.durationMs === undefined ? '' : ` in ${(w.durationMs / 1000).toFixed(1)}s`;
    lines.push(`  last swap: generation ${w.generation ?? '?'} ${w.result ?? 'unknown'}${took}${ago(w.at)}${w.error ? `: ${w.error}` : ''}`);
  } else {
    lines.push('  last swap: none yet');
  }
  lines.push(...instrumentationLines(s));
  if (s.rejected.length > 0) {
    lines.push(`Rejected files (${s.rejected.length}): the agent keeps their last good content, if any`);
    for (const r of s.rejected) {
      lines.push(`  ${r.file}`);
      for (const d of r.errors) lines.push(...formatDiagnostic(d).split('\n').map((l) => `    ${l}`));
    }
  }
  const names = Object.keys(s.health).sort();
  if (names.length > 0) {
    lines.push('Health:');
    const width = Math.max(...names.map((n) => n.length));
    for (const name of names) {
      const h = s.health[name]!;
      if (h.kind === 'none') {
        lines.push(`  ${name.padEnd(width)}  none (not checked)`);
        continue;
      }
      const target = [h.kind, h.target].filter(Boolean).join(' ');
      lines.push(`  ${name.padEnd(width)}  ${h.state ?? 'unknown'}${target ? ` (${target})` : ''}${h.lastError ? `: ${h.lastError}` : ''}`);
    }
  }
  return lines;
}

export async function status(args: string[], io: Io): Promise<number> {
  const { values } = parse(args, {
    ...CONFIG_OPTIONS, ...SETTING_FLAGS, json: { type: 'boolean' }, watch: { type: 'boolean', short: 'w' }, interval: { type: 'string', short: 'n' },
  }, STATUS_USAGE, { maxPositionals: 0 });
  if (values.help) {
    io.out(STATUS_USAGE);
    return EXIT.OK;
  }
  const intervalS = values.interval === undefined ? 1 : Number(values.interval);
  if (!Number.isFinite(intervalS) || intervalS < 0.1) throw new CoralError('USAGE', `--interval needs a number of seconds, at least 0.1, got ${JSON.stringify(values.interval)}`, { hint: STATUS_USAGE });
  if (values.interval !== undefined && !values.watch) throw new CoralError('USAGE', '--interval goes with --watch', { hint: STATUS_USAGE });
  const flags = settingFlags(values);
  const main = await loadCoralSettings({ configPath: values.config as string | undefined, env: io.env, flags, validators: (await loadValidators()) });
  if (values.watch) {
    const json = values.json === true;
    return watchStatus({
      intervalMs: intervalS * 1000,
      title: `coral status${json ? ' --json' : ''}`,
      plainHeader: !json,
      output: process.stdout,
      input: process.stdin,
      describeError: (error) => (error instanceof CoralError ? `coral status: ${error.format()}` : String(error)),
      render: async () => {
        const agent = await fetchAgentStatus({ socketPath: main.settings.control.socket });
        if (!json) return formatStatus(agent);
        return process.stdout.isTTY ? JSON.stringify(agent.raw, null, 2).split('\n') : [JSON.stringify(agent.raw)];
      },
    });
  }
  let agent: AgentStatus;
  try {
    agent = await fetchAgentStatus({ socketPath: main.settings.control.socket });
  } catch (error) {
    if (error instanceof CoralError && error.code === 'AGENT_UNAVAILABLE') {
      throw new CoralError('AGENT_UNAVAILABLE', `${error.message}; the services in ${main.settings.servicesDir} are applied when it starts`, { ...(error.hint ? { hint: error.hint } : {}), cause: error });
    }
    throw error;
  }
  if (values.json) io.out(JSON.stringify(agent.raw, null, 2));
  else for (const line of formatStatus(agent)) io.out(line);
  return EXIT.OK;
}
