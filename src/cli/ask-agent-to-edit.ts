// Ask the running coral-agent to write or remove a drop-in (POST /v1/connect, /v1/disconnect); undefined when the CLI must do it itself.
import { controlRequest } from '../control/control-request.js';
import { CoralError } from '../errors.js';
import { agentError } from './agent-error.js';

export interface AgentEditReply {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
  beyla: { state: string; reason?: string; generation?: number };
  debounceMs?: number;
}

/**
 * The agent holds every drop-in in memory, so it decides in constant time; the CLI's own path
 * (read every drop-in under the lock) is the fallback: no agent, an agent without this endpoint,
 * an agent that follows another directory, or a socket this user may not use.
 */
export async function askAgentToEdit(opts: { socketPath: string; path: '/v1/connect' | '/v1/disconnect'; body: Record<string, unknown> }): Promise<AgentEditReply | undefined> {
  let response;
  try {
    // The agent waits up to 60 s for a busy lock, as the CLI would.
    response = await controlRequest({ socketPath: opts.socketPath, method: 'POST', path: opts.path, body: opts.body, timeoutMs: 75_000 });
  } catch (error) {
    if (error instanceof CoralError && ['AGENT_UNAVAILABLE', 'PERMISSION', 'IO'].includes(error.code)) return undefined;
    throw error;
  }
  const { status, body } = response;
  if (status === 200 && body?.ok === true) {
    return { body, beyla: { state: String(body.beyla?.state ?? 'unknown'), reason: body.beyla?.reason, generation: body.beyla?.generation }, debounceMs: body.debounceMs };
  }
  if (status === 404 || status === 405 || status === 409 || status === 400) return undefined;
  throw agentError(status, body);
}
