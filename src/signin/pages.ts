import type { AccountStatus } from '../host/messages.js';

/**
 * The few pages of the web listener. They show addresses, states and error
 * codes, never a token, a code or a secret; every value is escaped.
 */

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>${escapeHtml(title)} · mailtokend</title></head>
<body>
${body}
</body></html>
`;
}

export function authHref(user: string): string {
  return `/auth/${encodeURIComponent(user)}`;
}

export function accountsPage(accounts: AccountStatus[], now: number): string {
  const rows = [...accounts]
    .sort((a, b) => a.user.localeCompare(b.user))
    .map((a) => {
      const expires = a.expiresAt !== undefined && a.state !== 'unauthenticated' ? `${Math.max(0, Math.round((a.expiresAt - now) / 60_000))} min` : '';
      const error = a.lastError ? `${a.lastError.code}: ${a.lastError.message}` : '';
      const action = a.state === 'unauthenticated' ? 'Sign in' : 'Sign in again';
      return `<tr><td>${escapeHtml(a.user)}</td><td>${escapeHtml(a.provider)}</td><td class="state-${escapeHtml(a.state)}">${escapeHtml(a.state)}</td><td>${escapeHtml(expires)}</td><td>${escapeHtml(error)}</td><td><a href="${escapeHtml(authHref(a.user))}">${action}</a></td></tr>`;
    })
    .join('\n');
  return page(
    'Accounts',
    `<h1>mailtokend accounts</h1>
<table>
<thead><tr><th>account</th><th>provider</th><th>state</th><th>token expires in</th><th>last error</th><th></th></tr></thead>
<tbody>
${rows}
</tbody>
</table>
<p>An account in <b>unauthenticated</b> needs a sign-in: follow its link, or run <code>mailtokend login ADDRESS</code>.</p>`,
  );
}

/** Shown instead of redirecting when another site sent the browser here: one click confirms. */
export function confirmPage(user: string): string {
  return page(
    'Sign in',
    `<h1>Sign in ${escapeHtml(user)}?</h1>
<p>Another page sent you here. Continue only if you meant to sign this account in to mailtokend.</p>
<form method="post" action="${escapeHtml(authHref(user))}"><button type="submit">Continue to the provider</button></form>`,
  );
}

export function resultPage(ok: boolean, heading: string, detail: string): string {
  return page(
    ok ? 'Signed in' : 'Sign-in failed',
    `<h1>${escapeHtml(heading)}</h1>
<p>${escapeHtml(detail)}</p>
<p>${ok ? 'You can close this window.' : 'Start again with <code>mailtokend login ADDRESS</code> or from the <a href="/">account list</a>.'}</p>`,
  );
}
