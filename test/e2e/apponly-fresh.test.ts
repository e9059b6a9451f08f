/**
 * App-only accounts are kept fresh like signed-in ones: with 4-second tokens
 * the daemon re-acquires ahead of expiry on its own (client credentials and
 * service account), and the socket always answers with a live token.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { AccountStatus } from '../../src/host/messages.js';
import { type AccountDef, Harness, setup, tokenInXoauth2 } from '../helpers/daemon.js';

const SECRET = 'cc~fresh.secret-0123456789abcdef';
const MS: AccountDef = { user: 'relay@contoso.example', provider: 'microsoft', grant: false, extra: `auth = "client_credentials"\ntenant = "contoso.example"\nclient_id = "fresh-app"\nclient_secret = "${SECRET}"` };
const GSA: AccountDef = { user: 'carol@example.org', provider: 'google', grant: false, extra: '' };
let h: Harness;

setup(test, async () => {
  h = await Harness.create({ accounts: [MS, GSA], lifetime: 4, refreshAhead: '2s' });
  h.emu.registerClient({ provider: 'microsoft', clientId: 'fresh-app', clientSecret: SECRET });
  writeFileSync(join(h.dir, 'sa.json'), JSON.stringify(h.emu.issueServiceAccountKey({ email: 'fresh@p.iam.gserviceaccount.com' })), { mode: 0o600 });
  GSA.extra = `auth = "service_account"\nservice_account_file = "${join(h.dir, 'sa.json')}"`;
  h.writeConfig();
  await h.start();
});

test.after(async () => {
  await h?.close();
});

test('tokens are re-acquired ahead of expiry without any request', async () => {
  const first = new Map<string, string>();
  for (const a of [MS, GSA]) first.set(a.user, tokenInXoauth2((await h.request(`SMTP ${a.user}`)).bytes, a.user)!);
  await new Promise((r) => setTimeout(r, 6_000));
  const r = await h.cli(['status', '--json']);
  const rows = JSON.parse(r.out) as AccountStatus[];
  for (const a of [MS, GSA]) {
    const row = rows.find((x) => x.user === a.user)!;
    assert.is(row.state, 'valid', `${a.user} stays valid`);
    const token = tokenInXoauth2((await h.request(`SMTP ${a.user}`)).bytes, a.user);
    assert.ok(token && token !== first.get(a.user), `${a.user} has a new token`);
    assert.ok(h.emu.isValidAccessToken(token!), `${a.user}'s token is live`);
    assert.not.ok(h.emu.isValidAccessToken(first.get(a.user)!), 'the first one has lapsed');
  }
});

test.run();
