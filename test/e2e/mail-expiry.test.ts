/**
 * An expired token is never sent: tokens here live 6 s. The daemon is frozen
 * (SIGSTOP, as across a laptop's suspend) until the token it last handed out
 * has expired at the provider, so no refresh timer could fire. The next mail,
 * sent with the doc's curl command the moment the daemon runs again, must
 * reach the server with a fresh token, and the server (Dovecot, asking the
 * emulator) must never have been shown an expired one.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CONTOSO, snippet, startMailWorld, type MailWorld } from '../helpers/mail-world.js';

const LIFETIME_S = 6;
let w: MailWorld;

test.before(async () => {
  w = await startMailWorld({ lifetime: LIFETIME_S });
});

test.after(async () => {
  await w?.close();
});

async function sendWithCurl(subject: string): Promise<void> {
  writeFileSync(join(w.home, 'message.eml'), [`From: ${CONTOSO}`, 'To: bob@example.com', `Subject: ${subject}`, '', 'hello', ''].join('\r\n'));
  const r = await w.sh(snippet('curl-smtp.sh'), [['smtp://smtp.office365.com:587', `smtp://127.0.0.1:${w.dovecot.ports.submission}`]], {
    env: { CURL_CA_BUNDLE: w.dovecot.caFile },
  });
  assert.is(r.code, 0, r.stderr);
}

test('after the daemon slept past expiry, the next mail carries a fresh token, never the dead one', async () => {
  await sendWithCurl('before the sleep');
  const first = w.dovecot.introspections().filter((i) => i.user === CONTOSO).at(-1)!;
  assert.ok(first.active, 'the first token was good');

  const child = w.h.daemon!.child;
  child.kill('SIGSTOP');
  try {
    const deadline = (first.expiresAt ?? Date.now()) + 1_500;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, deadline - Date.now())));
    assert.not.ok(w.h.emu.isValidAccessToken(first.token), 'the old token has expired at the provider');
  } finally {
    child.kill('SIGCONT');
  }

  await sendWithCurl('after the sleep');
  const shown = w.dovecot.introspections().filter((i) => i.user === CONTOSO);
  const second = shown.at(-1)!;
  assert.is.not(second.token, first.token, 'a new token was sent');
  assert.ok(second.active && second.expiresAt! > second.at, 'the token sent after the sleep was valid when presented');
  assert.ok(w.dovecot.sink.messages.some((m) => m.data.includes('Subject: after the sleep')), 'the mail arrived');
  for (const i of shown) assert.ok(i.active, 'the server was never shown an expired token');
});

test.run();
