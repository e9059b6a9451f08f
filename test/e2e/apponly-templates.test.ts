/**
 * Domain templates (issue 8): one `[[account]] user = "@contoso.example"`
 * with client credentials serves 1,000 different addresses on demand, each
 * its own account in the status, and refuses the 1,001st past
 * `max_accounts = 1000` with one clear log line. Addresses outside the
 * template and the socket's ACL stay refused.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { AccountStatus } from '../../src/host/messages.js';
import { Harness, setup, tokenInXoauth2 } from '../helpers/daemon.js';
import { webBase } from '../helpers/signin.js';

const SECRET = 'cc~template.secret-abcdefghijkl';
const N = 1000;
let h: Harness;

setup(test, async () => {
  h = await Harness.create({
    accounts: [
      {
        user: '@contoso.example',
        provider: 'microsoft',
        grant: false,
        extra: `auth = "client_credentials"\ntenant = "contoso.example"\nclient_id = "template-app"\nclient_secret = "${SECRET}"\nmax_accounts = ${N}`,
      },
      { user: 'fixed@other.example', provider: 'microsoft' },
    ],
    sockets: [
      { name: 'mta', protocols: ['SMTP'], accounts: ['@contoso.example', 'fixed@other.example'] },
      { name: 'narrow', protocols: ['SMTP'], accounts: ['fixed@other.example'] },
    ],
    requestTimeout: '4s',
  });
  h.emu.registerClient({ provider: 'microsoft', clientId: 'template-app', clientSecret: SECRET, appTenants: ['contoso.example'] });
  await h.start();
});

test.after(async () => {
  await h?.close();
});

test(`a template serves ${N} different addresses on demand`, async () => {
  const users = Array.from({ length: N }, (_, i) => `box${i}@contoso.example`);
  const started = Date.now();
  for (let i = 0; i < users.length; i += 100) {
    const batch = users.slice(i, i + 100);
    const replies = await Promise.all(batch.map((u) => h.request(`SMTP ${u}`)));
    replies.forEach((r, j) => {
      const token = tokenInXoauth2(r.bytes, batch[j]!);
      assert.ok(token, `${batch[j]}: ${JSON.stringify(r.text)}`);
      assert.is(h.emu.lookupToken(token!)?.clientId, 'template-app');
    });
  }
  const ms = Date.now() - started;
  // A second request for a created address is an ordinary one.
  const again = await h.request('SMTP box7@contoso.example');
  assert.ok(tokenInXoauth2(again.bytes, 'box7@contoso.example'));
  const r = await h.cli(['status', '--json']);
  const rows = JSON.parse(r.out) as AccountStatus[];
  const made = rows.filter((row) => row.user.endsWith('@contoso.example'));
  assert.is(made.length, N);
  assert.ok(made.every((row) => row.state === 'valid'));
  // The dashboard lists accounts a template made, though they are not in the config.
  const api = await fetch(`${await webBase(h.daemon!)}/api/accounts?q=${encodeURIComponent('@contoso.example')}&limit=10`);
  const page = (await api.json()) as { matched: number; accounts: Array<{ user: string; state: string }> };
  assert.is(page.matched, N, 'every template-made account is on the dashboard');
  assert.ok(page.accounts.every((a) => a.state === 'valid'));
  console.log(`  ${N} template accounts created and served in ${ms} ms`);
});

test('the 1,001st address is refused past the cap, with a clear log line', async () => {
  const r = await h.request('SMTP,err one-too-many@contoso.example');
  assert.match(r.text, /^ERR unknown-account /);
  const lines = h.daemon!.stdout.split('\n').filter((l) => l.includes('reached max_accounts'));
  assert.is(lines.length, 1, 'one warning line');
  assert.match(lines[0]!, /template @contoso\.example reached max_accounts = 1000/);
  assert.match(lines[0]!, /one-too-many@contoso\.example/);
  // Still refused, without repeating the warning.
  await h.request('SMTP another@contoso.example');
  assert.is(h.daemon!.stdout.split('\n').filter((l) => l.includes('reached max_accounts')).length, 1);
});

test('no template for other domains, and a socket\'s ACL applies before any creation', async () => {
  const other = await h.request('SMTP,err someone@fabrikam.example');
  assert.match(other.text, /^ERR unknown-account /);
  const narrow = await h.request('SMTP,err box1@contoso.example', 'narrow');
  assert.match(narrow.text, /^ERR unknown-account /);
  assert.not.match(h.daemon!.stdout, /someone@fabrikam\.example","accounts"/);
});

test('no secret or token in the output', () => {
  assert.equal(h.leaks(), []);
});

test.run();
