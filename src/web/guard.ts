import type { IncomingMessage } from 'node:http';

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

/** The host name of a Host header, without port and brackets' port part. */
export function hostName(host: string | undefined): string | undefined {
  if (!host) return undefined;
  const trimmed = host.trim().toLowerCase();
  if (trimmed.startsWith('[')) {
    const end = trimmed.indexOf(']');
    return end > 0 ? trimmed.slice(0, end + 1) : undefined;
  }
  return trimmed.split(':')[0];
}

/**
 * DNS rebinding: a page on evil.example that resolves to 127.0.0.1 reaches
 * this listener with `Host: evil.example`. Only loopback names and the hosts
 * of configured redirect URIs are answered.
 */
export function hostAllowed(req: IncomingMessage, extraHosts: ReadonlySet<string>): boolean {
  const name = hostName(req.headers.host);
  if (name === undefined) return false;
  return LOOPBACK_NAMES.has(name) || extraHosts.has(name);
}

/**
 * Cross-site request forgery: a state-changing request must come from a page
 * of this same origin. Browsers send Origin on POSTs; Sec-Fetch-Site where
 * they support it. A request with neither (curl) is accepted only with a
 * matching Referer, so a form on another site can never trigger an action.
 */
export function sameOrigin(req: IncomingMessage): boolean {
  const host = req.headers.host;
  if (!host) return false;
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return false;
  const origin = req.headers.origin ?? refererOrigin(req.headers.referer);
  if (origin === undefined) return false;
  try {
    return new URL(origin).host.toLowerCase() === host.toLowerCase();
  } catch {
    return false;
  }
}

function refererOrigin(referer: string | undefined): string | undefined {
  if (!referer) return undefined;
  try {
    return new URL(referer).origin;
  } catch {
    return undefined;
  }
}
