/**
 * The sign-in pages of the web listener. They show addresses, states and error
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
