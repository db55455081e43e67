// The two loopback addresses a health check tries (127.0.0.1, ::1), and what one attempt's outcome means for the next.

export type LoopbackHost = '127.0.0.1' | '::1';

/** In the order the agent tries them on a service that has not answered yet, and the order in which they are shown. */
export const LOOPBACK_HOSTS: readonly LoopbackHost[] = ['127.0.0.1', '::1'];

/** Socket errors that mean the host has no IPv6 loopback (disabled on `lo`, or no IPv6 in the kernel). */
const NO_IPV6 = new Set(['EADDRNOTAVAIL', 'ENETUNREACH', 'EAFNOSUPPORT']);

export interface Attempt {
  host: LoopbackHost;
  /** Undefined when the service answered as healthy. */
  error?: Error;
}

export type AttemptStep =
  | { next: 'retry'; host: LoopbackHost }
  | { next: 'verdict'; hosts: LoopbackHost[]; failure?: string; answered?: LoopbackHost };

export function otherLoopback(host: LoopbackHost): LoopbackHost {
  return host === '::1' ? '127.0.0.1' : '::1';
}

/** `127.0.0.1:8080` or `[::1]:8080`: a URL's authority and an HTTP Host header. */
export function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function codeOf(error: Error | undefined): string | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Nothing listens there: refused, or ::1 on a host without IPv6. A timeout or a bad answer is not this. */
function nothingThere(attempt: Attempt): boolean {
  const code = codeOf(attempt.error);
  return code === 'ECONNREFUSED' || (attempt.host === '::1' && code !== undefined && NO_IPV6.has(code));
}

function noIpv6(attempt: Attempt): boolean {
  const code = codeOf(attempt.error);
  return attempt.host === '::1' && code !== undefined && NO_IPV6.has(code);
}

/**
 * After an attempt (`first` is the check's earlier attempt, if any): try the other address, or the check's
 * verdict with the addresses to show and, when something was there, the one to try first next time.
 * Only "nothing there" moves on to the other address; a ::1 attempt that found no IPv6 is left out of
 * the verdict, so such a host reports what it always did.
 */
export function stepAttempt(first: Attempt | undefined, latest: Attempt): AttemptStep {
  if (latest.error === undefined) return { next: 'verdict', hosts: [latest.host], answered: latest.host };
  if (!nothingThere(latest)) {
    return { next: 'verdict', hosts: [latest.host], failure: latest.error.message, answered: latest.host };
  }
  if (first === undefined) return { next: 'retry', host: otherLoopback(latest.host) };
  const shown = [first, latest]
    .filter((attempt) => !noIpv6(attempt))
    .sort((a, b) => LOOPBACK_HOSTS.indexOf(a.host) - LOOPBACK_HOSTS.indexOf(b.host));
  return { next: 'verdict', hosts: shown.map((a) => a.host), failure: shown.map((a) => a.error?.message).join('; ') };
}
