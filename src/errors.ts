// CoralError: the one error class, with a code that maps to a sysexits exit code.

/** sysexits.h codes that scripts can rely on. */
export const EXIT = {
  OK: 0,
  FAILURE: 1,
  USAGE: 64,
  DATAERR: 65,
  NOINPUT: 66,
  UNAVAILABLE: 69,
  SOFTWARE: 70,
  CANTCREAT: 73,
  IOERR: 74,
  TEMPFAIL: 75,
  NOPERM: 77,
  CONFIG: 78,
} as const;

export type ErrorCode =
  | 'USAGE'
  | 'INVALID_CONFIG'
  | 'CONFIG_MISSING'
  | 'AGENT_UNAVAILABLE'
  | 'CANT_CREATE'
  | 'TEMPORARY'
  | 'PERMISSION'
  | 'IO'
  | 'BEYLA_UNAVAILABLE'
  | 'BEYLA_FAILED'
  | 'INTERNAL';

const EXIT_BY_CODE: Record<ErrorCode, number> = {
  USAGE: EXIT.USAGE,
  INVALID_CONFIG: EXIT.DATAERR,
  CONFIG_MISSING: EXIT.NOINPUT,
  AGENT_UNAVAILABLE: EXIT.UNAVAILABLE,
  CANT_CREATE: EXIT.CANTCREAT,
  TEMPORARY: EXIT.TEMPFAIL,
  PERMISSION: EXIT.NOPERM,
  IO: EXIT.IOERR,
  BEYLA_UNAVAILABLE: EXIT.UNAVAILABLE,
  BEYLA_FAILED: EXIT.SOFTWARE,
  INTERNAL: EXIT.SOFTWARE,
};

export interface CoralErrorOptions {
  hint?: string;
  details?: Record<string, unknown>;
  cause?: unknown;
}

export class CoralError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: CoralErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CoralError';
    this.code = code;
    this.hint = options.hint;
    this.details = options.details ?? {};
  }

  get exitCode(): number {
    return EXIT_BY_CODE[this.code];
  }

  /** The text a person reads: message, then the hint on its own line. */
  format(): string {
    return this.hint ? `${this.message}\n  hint: ${this.hint}` : this.message;
  }
}

export function exitCodeOf(error: unknown): number {
  return error instanceof CoralError ? error.exitCode : EXIT.SOFTWARE;
}

/** Node's errno-style error, narrowed. */
export function isErrno(error: unknown, code?: string): error is NodeJS.ErrnoException {
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).code === 'string' &&
    (code === undefined || (error as NodeJS.ErrnoException).code === code);
}
