import type { Proto } from '../config/types.js';

/** Gmail grants every mail protocol through one scope. */
export const GOOGLE_MAIL_SCOPE = 'https://mail.google.com/';

const OUTLOOK_SCOPE_BY_PROTO: Record<Proto, string> = {
  SMTP: 'SMTP.Send',
  IMAP: 'IMAP.AccessAsUser.All',
  POP: 'POP.AccessAsUser.All',
};

/**
 * Microsoft scopes for the protocols an account is served for: asking for
 * more than the sockets need would fail for tenants that only consented to
 * some of them.
 */
export function microsoftScopes(protocols: readonly Proto[], outlookHost = 'outlook.office.com'): string[] {
  const wanted: readonly Proto[] = protocols.length > 0 ? protocols : ['SMTP'];
  const scopes = [...new Set(wanted)].map((p) => `https://${outlookHost}/${OUTLOOK_SCOPE_BY_PROTO[p]}`);
  return [...scopes, 'offline_access'];
}

export function googleScopes(): string[] {
  return [GOOGLE_MAIL_SCOPE];
}
