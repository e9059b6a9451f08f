/**
 * Telling the user, end to end: auth_notify_cmd runs when a grant is revoked
 * at the provider, again every auth_notify_interval, and stops once the
 * account is signed in again; error_notify_cmd runs after repeated
 * transient failures. Neither sees a token or mailtokend's own variables.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Harness, waitUntil } from '../helpers/daemon.js';
import { browse, expectPage, webBase, writeSignInConfig } from '../helpers/signin.js';

const CAROL = 'carol@fabrikam.example';
const IVY = 'ivy@contoso.example';

const h = await Harness.create({ accounts: [{ user: CAROL, provider: 'microsoft' }, { user: IVY, provider: 'microsoft' }], workers: 1 });
const authFile = join(h.dir, 'auth-notify.txt');
const errorFile = join(h.dir, 'error-notify.txt');
const envDir = join(h.dir, 'notify-env');
// A string command runs under /bin/sh -c; values arrive only in the environment.
const dumpEnv = `mkdir -p '${envDir}' && env > '${envDir}/'$$`;
writeSignInConfig(h, {
  top: [
    `auth_notify_cmd = ${JSON.stringify(`printf '%s|%s\\n' "$MAILTOKEND_ACCOUNT" "$MAILTOKEND_URL" >> '${authFile}'; ${dumpEnv}`)}`,
    'auth_notify_interval = "1s"',
    `error_notify_cmd = ["/bin/sh", "-c", ${JSON.stringify(`printf '%s|%s\\n' "$MAILTOKEND_ACCOUNT" "$MAILTOKEND_MESSAGE" >> '${errorFile}'; ${dumpEnv}`)}]`,
  ],
});
const daemon = await h.start();
const web = await webBase(daemon);

test.after(async () => {
  await h.close();
});

function linesFor(file: string, user: string): string[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith(`${user}|`));
}

test('auth_notify_cmd: runs on revocation with account and URL, repeats, and stops after a new sign-in', async () => {
  await h.waitForState(CAROL, 'valid');
  assert.equal(linesFor(authFile, CAROL), [], 'a signed-in account is not notified');
  h.emu.revokeUser(CAROL);
  const refresh = await h.cli(['refresh', CAROL]);
  assert.is(refresh.code, 1);
  assert.match(refresh.out + refresh.stderr, 'AADSTS50173');
  await h.waitForState(CAROL, 'unauthenticated');

  const [first] = await waitUntil('first auth notification', () => {
    const lines = linesFor(authFile, CAROL);
    return lines.length > 0 ? lines : undefined;
  });
  assert.is(first, `${CAROL}|${web}/auth/${encodeURIComponent(CAROL)}`);
  const logged = await daemon.waitForLog('sign-in hint', { account: CAROL, signIn: `mailtokend login ${CAROL}` });
  assert.match(String(logged[0]?.msg), 'needs a sign-in');
  // auth_notify_interval = 1s: it comes again while the account stays unauthenticated.
  await waitUntil('repeated auth notifications', () => linesFor(authFile, CAROL).length >= 3, 6_000);

  const page = expectPage(await browse(`${web}/auth/${encodeURIComponent(CAROL)}`));
  assert.is(page.status, 200, page.text);
  await h.waitForState(CAROL, 'valid');
  await sleep(300);
  const count = linesFor(authFile, CAROL).length;
  await sleep(2_500);
  assert.is(linesFor(authFile, CAROL).length, count, 'no notification once signed in again');
  assert.equal(linesFor(authFile, IVY), []);
});

test('error_notify_cmd: runs after three transient failures in a row, with the message', async () => {
  await h.waitForState(IVY, 'valid');
  const fault = h.emu.setFault({ provider: 'microsoft', user: IVY, kind: 'status', status: 503 });
  try {
    for (let i = 0; i < 3; i++) {
      const r = await h.cli(['refresh', IVY]);
      assert.is(r.code, 1, r.out);
    }
    const [line] = await waitUntil('error notification', () => {
      const lines = linesFor(errorFile, IVY);
      return lines.length > 0 ? lines : undefined;
    });
    assert.match(line!, /^ivy@contoso\.example\|(AADSTS90033|http-503): /);
  } finally {
    h.emu.clearFault(fault);
  }
  const ok = await h.cli(['refresh', IVY]);
  assert.is(ok.code, 0, ok.out);
  assert.is(linesFor(errorFile, IVY).length, 1, 'once per run of failures');
});

test('notify commands get only the documented variables: no token, no secret, no MAILTOKEND_* of the daemon', async () => {
  const dumps = readdirSync(envDir).map((f) => readFileSync(join(envDir, f), 'utf8'));
  assert.ok(dumps.length >= 4);
  const secrets = h.emu.secrets();
  for (const dump of dumps) {
    const ours = dump.split('\n').filter((l) => l.startsWith('MAILTOKEND_')).map((l) => l.split('=')[0]).sort();
    assert.ok(
      JSON.stringify(ours) === JSON.stringify(['MAILTOKEND_ACCOUNT', 'MAILTOKEND_URL']) || JSON.stringify(ours) === JSON.stringify(['MAILTOKEND_ACCOUNT', 'MAILTOKEND_MESSAGE']),
      `unexpected variables ${ours.join(', ')}`,
    );
    for (const secret of secrets) assert.not.ok(dump.includes(secret), 'a secret reached a notify command');
  }
  assert.equal(h.leaks(), []);
});

test.run();
