import type { SocketConfig } from './types.js';

/** RFC 5321 caps a forward path at 256 octets including the angle brackets. */
export const MAX_ADDRESS_LENGTH = 254;

// Deliberately loose: the providers decide what a valid mailbox is. We only
// refuse what would break the one-line socket protocol (spaces, control
// characters) or is plainly not an address.
const ADDRESS = /^[^\s@\p{Cc}]+@[^\s@\p{Cc}]+$/u;
const DOMAIN = /^[^\s@\p{Cc}]+$/u;

/**
 * The key under which a user is stored and looked up: the whole address in
 * lower case. Google and Microsoft treat addresses case-insensitively (local
 * part included), and exim hands us `$sender_address` in whatever case the
 * message or the router produced, so `Alice@Example.com` and
 * `alice@example.com` must reach the same account.
 */
export function normalizeUser(user: string): string {
  return user.toLowerCase();
}

export function isAddress(value: string): boolean {
  return value.length <= MAX_ADDRESS_LENGTH && ADDRESS.test(value);
}

/** Why `pattern` is not a valid socket account pattern, or undefined. */
export function accountPatternProblem(pattern: string): string | undefined {
  if (pattern === '*') return undefined;
  if (pattern.startsWith('@')) {
    return DOMAIN.test(pattern.slice(1)) ? undefined : `"${pattern}" is not a valid "@domain" pattern`;
  }
  return isAddress(pattern)
    ? undefined
    : `"${pattern}" is not an account pattern; use "*", "@domain" or an address`;
}

/**
 * Whether a socket account pattern covers `user`: `*` covers everyone,
 * `@example.com` everyone at that domain (not its subdomains), anything else
 * is one address. All comparisons ignore case, like normalizeUser.
 */
export function matchesAccountPattern(pattern: string, user: string): boolean {
  if (pattern === '*') return true;
  const normalized = normalizeUser(user);
  if (pattern.startsWith('@')) {
    const at = normalized.lastIndexOf('@');
    return at > 0 && normalized.slice(at) === normalizeUser(pattern);
  }
  return normalizeUser(pattern) === normalized;
}

/** Whether a request for `user` is allowed on `socket` (protocol checked separately). */
export function socketServes(socket: Pick<SocketConfig, 'accounts'>, user: string): boolean {
  return socket.accounts.some((pattern) => matchesAccountPattern(pattern, user));
}
