/**
 * Injected faults: provider-shaped error bodies, resets, hangs, delays,
 * counts and per-user matching, and the in-flight counters tests of
 * request coalescing rely on.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startEmulator, type Emulator } from '../emulator/index.js';
import { postForm, testCaDir, type RawAnswer } from '../emulator/testing.js';

// Read at load time: a missing test CA fails the file loudly (uvu hides errors thrown in before hooks).
const CA_DIR = testCaDir();

const G_CLIENT = '7-faults.apps.googleusercontent.com';
const G_SECRET = 'GOCSPX-faults';
const MS_CLIENT = '9a8b7c6d-0000-4000-8000-00000000fa17';
const IMAP = 'https://outlook.office.com/IMAP.AccessAsUser.All';

const f = suite('emulator: faults');

// Started at load time, not in a before hook: uvu 0.5 swallows errors thrown there and exits 0.
const emu = await startEmulator({ caDir: CA_DIR });
emu.registerClient({ provider: 'google', clientId: G_CLIENT, clientSecret: G_SECRET });
emu.registerClient({ provider: 'microsoft', clientId: MS_CLIENT });

f.after(async () => {
  await emu.close();
});

f.after.each(() => {
  emu.clearFaults();
});

function googleRefresh(emu: Emulator, rt: string): Promise<RawAnswer> {
  return postForm(emu.google.tokenUrl, { grant_type: 'refresh_token', refresh_token: rt, client_id: G_CLIENT, client_secret: G_SECRET });
}

function msRefresh(emu: Emulator, rt: string): Promise<RawAnswer> {
  return postForm(`${emu.url}/common/oauth2/v2.0/token`, {
    grant_type: 'refresh_token',
    refresh_token: rt,
    client_id: MS_CLIENT,
    scope: `${IMAP} openid profile offline_access`,
    client_info: '1',
  });
}

f('5xx bodies look like each provider', async () => {
  const grt = emu.issueGrant({ provider: 'google', user: 'a@gmail.example', clientId: G_CLIENT, scopes: ['https://mail.google.com/'] });
  const mrt = emu.issueGrant({ provider: 'microsoft', user: 'a@contoso.example', clientId: MS_CLIENT, scopes: [IMAP] });
  emu.setFault({ kind: 'status', status: 503 });
  const g = await googleRefresh(emu, grt);
  assert.is(g.status, 503);
  assert.is(g.body.error, 'temporarily_unavailable');
  const m = await msRefresh(emu, mrt);
  assert.is(m.status, 503);
  assert.is(m.body.error, 'temporarily_unavailable');
  assert.equal(m.body.error_codes, [90033]);
  assert.match(String(m.body.error_description), /^AADSTS90033: .*\r\nTrace ID: [0-9a-f-]{36}\r\nCorrelation ID: [0-9a-f-]{36}\r\nTimestamp: \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/s);
  emu.clearFaults();
  emu.setFault({ provider: 'google', kind: 'status', status: 502, html: true });
  const page = await googleRefresh(emu, grt);
  assert.is(page.status, 502);
  assert.match(page.headers.get('content-type') ?? '', /text\/html/);
  assert.is((await msRefresh(emu, mrt)).status, 200, 'the other provider is unaffected');
});

f('count limits a fault; user matches the presented refresh token', async () => {
  const alice = emu.issueGrant({ provider: 'google', user: 'alice@gmail.example', clientId: G_CLIENT, scopes: ['https://mail.google.com/'] });
  const bob = emu.issueGrant({ provider: 'google', user: 'bob@gmail.example', clientId: G_CLIENT, scopes: ['https://mail.google.com/'] });
  emu.setFault({ user: 'alice@gmail.example', kind: 'error', error: 'invalid_grant', count: 2 });
  assert.is((await googleRefresh(emu, bob)).status, 200);
  const e = await googleRefresh(emu, alice);
  assert.is(e.status, 400);
  assert.is(e.body.error, 'invalid_grant');
  assert.is((await googleRefresh(emu, alice)).status, 400);
  assert.is((await googleRefresh(emu, alice)).status, 200, 'the fault was used up');
});

f('reset destroys the connection; hang never answers until close', async () => {
  const rt = emu.issueGrant({ provider: 'microsoft', user: 'r@contoso.example', clientId: MS_CLIENT, scopes: [IMAP] });
  emu.setFault({ kind: 'reset', count: 1 });
  let reset: unknown;
  await msRefresh(emu, rt).catch((e: unknown) => (reset = e));
  assert.instance(reset, Error);

  const hung = await startEmulator({ caDir: CA_DIR });
  hung.registerClient({ provider: 'microsoft', clientId: MS_CLIENT });
  const hrt = hung.issueGrant({ provider: 'microsoft', user: 'h@contoso.example', clientId: MS_CLIENT, scopes: [IMAP] });
  hung.setFault({ kind: 'hang' });
  let settled = false;
  const pending = msRefresh(hung, hrt).then(
    () => (settled = true),
    () => (settled = true),
  );
  await new Promise((r) => setTimeout(r, 150));
  assert.not.ok(settled);
  assert.is(hung.stats().inFlight, 1);
  const t0 = Date.now();
  await hung.close();
  await pending;
  assert.ok(settled && Date.now() - t0 < 2000, 'close() ends hung requests');
});

f('delay answers normally; in-flight counters see concurrent requests', async () => {
  const rts = ['d1', 'd2', 'd3'].map((u) => emu.issueGrant({ provider: 'google', user: `${u}@gmail.example`, clientId: G_CLIENT, scopes: ['https://mail.google.com/'] }));
  emu.setFault({ provider: 'google', kind: 'delay', ms: 250 });
  emu.resetStats();
  const t0 = Date.now();
  const answers = await Promise.all(rts.map((rt) => googleRefresh(emu, rt)));
  assert.ok(Date.now() - t0 >= 240);
  assert.ok(answers.every((a) => a.status === 200));
  const s = emu.stats();
  assert.is(s.maxInFlight.google, 3);
  assert.is(s.maxInFlight.microsoft, 0);
  assert.is(s.inFlight, 0);
  assert.equal(s.refreshes, { 'd1@gmail.example': 1, 'd2@gmail.example': 1, 'd3@gmail.example': 1 });
});

f('authorize faults match the login hint', async () => {
  emu.setFault({ endpoint: 'authorize', provider: 'microsoft', user: 'x@contoso.example', kind: 'status', status: 500 });
  const url = `${emu.url}/common/oauth2/v2.0/authorize?client_id=${MS_CLIENT}&response_type=code&redirect_uri=${encodeURIComponent('http://localhost/cb')}&scope=${encodeURIComponent(IMAP)}`;
  const hit = await fetch(`${url}&login_hint=x%40contoso.example`, { redirect: 'manual' });
  assert.is(hit.status, 500);
  const miss = await fetch(`${url}&login_hint=y%40contoso.example`, { redirect: 'manual' });
  assert.is(miss.status, 302);
});

f.run();
