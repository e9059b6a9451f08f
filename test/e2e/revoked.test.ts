/**
 * A grant the provider revoked: `mailtokend refresh` fails with the
 * provider's code, the account becomes `unauthenticated`, the socket answers
 * nothing (or `ERR needs-auth` with `err`) at once, the other accounts keep
 * serving, and importing a new grant brings the account back.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { AccountStatus } from '../../src/host/messages.js';
import { type AccountDef, Harness, setup, tokenInXoauth2 } from '../helpers/daemon.js';
import { timeTests } from '../helpers/timing.js';

const MS: AccountDef = { user: 'gone@contoso.test', provider: 'microsoft' };
const GOOGLE: AccountDef = { user: 'gone@gmail.test', provider: 'google' };
const KEEP = [
  { user: 'stays@contoso.test', provider: 'microsoft' },
  { user: 'stays@gmail.test', provider: 'google' },
] satisfies AccountDef[];

let h: Harness;
const before = new Map<string, string>();

setup(test, async () => {
  h = await Harness.create({ accounts: [MS, GOOGLE, ...KEEP] });
  await h.start();
  for (const a of [MS, GOOGLE, ...KEEP]) {
    const token = await h.token(a.user);
    assert.ok(token && h.emu.isValidAccessToken(token, a.user), `${a.user} serves before the revocation`);
    before.set(a.user, token!);
  }
});

test.after(async () => {
  await h?.close();
});

async function statusJson(): Promise<AccountStatus[]> {
  const r = await h.cli(['status', '--json']);
  assert.is(r.code, 0, r.stderr);
  return JSON.parse(r.out) as AccountStatus[];
}

for (const [account, code] of [
  [MS, 'AADSTS50173'],
  [GOOGLE, 'invalid_grant'],
] as const) {
  test(`${account.provider}: revoked at the provider -> refresh fails with ${code}, account unauthenticated`, async () => {
    h.emu.revokeUser(account.user);
    const r = await h.cli(['refresh', account.user]);
    assert.is(r.code, 1, `mailtokend refresh exits non-zero: ${r.out} ${r.stderr}`);
    assert.match(r.out, account.user);
    assert.match(r.out, code);
    assert.match(r.out, /unauthenticated/);

    const row = (await statusJson()).find((a) => a.user === account.user)!;
    assert.is(row.state, 'unauthenticated');
    assert.is(row.lastError?.code, code);
    const table = await h.cli(['status', account.user]);
    assert.match(table.out, new RegExp(`${account.user}\\s+${account.provider}\\s+unauthenticated\\s.*${code}`));

    const logged = h.daemon!.logged({ msg: 'account state changed', account: account.user, to: 'unauthenticated' });
    assert.is(logged.length, 1);
    assert.is(logged[0]!.error, code);
  });

  test(`${account.provider}: the socket answers nothing at once, and ERR needs-auth with err`, async () => {
    const plain = await h.request(`SMTP ${account.user}`);
    assert.not.ok(plain.timedOut);
    assert.is(plain.bytes.length, 0, `empty reply, got ${JSON.stringify(plain.text)}`);
    assert.ok(plain.ms < 1_000, `answered in ${plain.ms} ms, not after the request timeout`);
    const err = await h.request(`SMTP,err ${account.user}`);
    assert.match(err.text, new RegExp(`^ERR needs-auth [\\x20-\\x7e]*${account.user}[\\x20-\\x7e]*${code}[\\x20-\\x7e]*\\n$`));
    assert.match(h.daemon!.stdout, new RegExp(`"account":"${account.user}","result":"needs-auth"`));
  });
}

test('the other accounts keep serving the same valid tokens', async () => {
  for (const a of KEEP) {
    const token = await h.token(a.user);
    assert.is(token, before.get(a.user), `${a.user} still serves its token`);
    assert.ok(h.emu.isValidAccessToken(token!, a.user));
  }
  const rows = await statusJson();
  for (const a of KEEP) assert.is(rows.find((r) => r.user === a.user)?.state, 'valid');
  // The revoked accounts' old tokens are dead at the provider: the daemon did not keep handing them out.
  for (const a of [MS, GOOGLE]) assert.not.ok(h.emu.isValidAccessToken(before.get(a.user)!, a.user));
});

test('importing a new grant into the running daemon brings the account back', async () => {
  for (const a of [MS, GOOGLE]) {
    const r = await h.cli(['import', a.user], { input: `${h.issueGrant(a)}\n` });
    assert.is(r.code, 0, `${r.out} ${r.stderr}`);
    assert.match(r.out, /token refreshed/);
    const reply = await h.request(`IMAP ${a.user}`);
    const token = tokenInXoauth2(reply.bytes, a.user);
    assert.ok(token && h.emu.isValidAccessToken(token, a.user), `${a.user} after import: ${JSON.stringify(reply.text)}`);
  }
});

test('no token, refresh token or client secret in the daemon output or state files', () => {
  assert.equal(h.leaks(), []);
});

timeTests(test, 'revoked');
test.run();
