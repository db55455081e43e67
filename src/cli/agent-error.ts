// The agent's refusal of an edit (a conflict, a foreign file, a busy lock) as the CoralError the command reports.
import { CoralError, type ErrorCode } from '../errors.js';

const CODES = new Set<ErrorCode>(['USAGE', 'INVALID_CONFIG', 'CONFIG_MISSING', 'AGENT_UNAVAILABLE', 'CANT_CREATE', 'TEMPORARY', 'PERMISSION', 'IO', 'INTERNAL']);

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function agentError(status: number, body: any): CoralError {
  const error = body?.error ?? {};
  const code: ErrorCode = CODES.has(error.code) ? error.code : 'INTERNAL';
  return new CoralError(code, String(error.message ?? `coral-agent answered HTTP ${status}`), {
    ...(typeof error.hint === 'string' ? { hint: error.hint } : {}),
    ...(error.details && typeof error.details === 'object' ? { details: error.details } : {}),
  });
}
