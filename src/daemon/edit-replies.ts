// The control API's replies to connect and disconnect that are not a success: errors by CoralError code, another agent's directory (409), the CLI's own path (409).
import type { AgentSettings } from '../config/types.js';
import { CoralError } from '../errors.js';

export interface EditReply {
  status: number;
  body: unknown;
}

/** A CoralError as its reply (409 for a directory mismatch, 422 invalid or usage, 503 temporary, else 500); anything else is rethrown. */
export function errorReply(error: unknown): EditReply {
  if (!(error instanceof CoralError)) throw error;
  if (error.details.mismatch === true) return { status: 409, body: { ok: false, error: { code: 'MISMATCH', message: error.message } } };
  const status = error.code === 'INVALID_CONFIG' || error.code === 'USAGE' ? 422 : error.code === 'TEMPORARY' ? 503 : 500;
  return { status, body: { ok: false, error: { code: error.code, message: error.message, ...(error.hint ? { hint: error.hint } : {}), details: error.details } } };
}

/** 409: this agent follows another coral.yaml or services_dir. */
export const mismatch = (settings: AgentSettings): EditReply => ({
  status: 409, body: { ok: false, error: { code: 'MISMATCH', message: `this agent follows ${settings.configPath} and ${settings.servicesDir}` } },
});

/** 409: the CLI must decide this itself (it then says exactly what it always said). */
export const fallback = (message: string): EditReply => ({ status: 409, body: { ok: false, error: { code: 'FALLBACK', message } } });
