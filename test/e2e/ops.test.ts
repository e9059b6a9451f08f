/**
 * Issue 4's "done when", end to end with the built daemon: two sockets and
 * several accounts; `status` matches reality; `reload` adds an account,
 * removes one and changes a socket's account list while a client loop keeps
 * asking on the untouched socket with zero failures; an invalid config on
 * reload (command and SIGHUP) is refused and the old config keeps serving; a
 * worker crash is counted; `/metrics` agrees with every request made;
 * `shutdown` answers every request in flight, stores a rotated grant that was
 * being refreshed, and exits 0; and no secret the emulator issued appears in
 * any output.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { once } from 'node:events';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Harness, sendRaw, tokenInXoauth2, waitUntil, type RunResult } from '../helpers/daemon.js';
import { ClientLoop, fetchMetrics, metricValue, opsConfigText, Tally, webUrl } from '../helpers/ops.js';
import { adminRequest } from '../../src/admin/client.js';
import type { AccountStatus } from '../../src/host/messages.js';

const ALICE = 'alice@gmail.test'; // google, on both sockets
const BOB = 'bob@contoso.test'; // microsoft, on both sockets until the reload takes him off "mua"
const CAROL = 'carol@fabrikam.test'; // microsoft, put on "mua" by the reload
const DAVE = 'dave@gmail.test'; // google, never signed in
const ERIN = 'erin@contoso.test'; // microsoft, removed by the reload
const FRANK = 'frank@contoso.test'; // microsoft, added by the reload

let h: Harness;
const tally = new Tally();
/** Output of every CLI run, searched for secrets at the end. */
const cliOutput: string[] = [];

async function cli(args: string[], input?: string): Promise<RunResult> {
  const r = await h.cli(args, input === undefined ? {} : { input });
  cliOutput.push(`$ mailtokend ${args.join(' ')}\n${r.out}\n${r.stderr}`);
  return r;
}

/** One request on a named socket, counted under the result the daemon must report. */
async function ask(socketName: string, proto: string, user: string, expect: string): Promise<string | undefined> {
  const reply = await sendRaw(h.socket(socketName), `${proto} ${user}`);
  tally.add(h.socket(socketName), proto, expect);
  const token = tokenInXoauth2(reply.bytes, user);
  if (expect === 'ok') assert.ok(token, `${proto} ${user} on ${socketName}: expected a token, got ${JSON.stringify(reply.text)}`);
  else assert.is(reply.bytes.length, 0, `${proto} ${user} on ${socketName}: expected an empty reply (${expect})`);
  return token;
}

function configWith(opts: { accounts: string[]; mua: string[] }): string {
  const saved = h.opts;
  const all = [
    { user: ALICE, provider: 'google' as const },
    { user: BOB, provider: 'microsoft' as const },
    { user: CAROL, provider: 'microsoft' as const },
    { user: DAVE, provider: 'google' as const, grant: false },
    { user: ERIN, provider: 'microsoft' as const },
    { user: FRANK, provider: 'microsoft' as const, grant: false },
  ];
  (h as { opts: typeof saved }).opts = {
    ...saved,
    accounts: all.filter((a) => opts.accounts.includes(a.user)),
    sockets: [
      { name: 'mta', protocols: ['SMTP'], accounts: ['*'] },
      { name: 'mua', protocols: ['SMTP', 'IMAP'], accounts: opts.mua },
    ],
  };
  return opsConfigText(h);
}

test.before(async () => {
  h = await Harness.create({
    accounts: [
      { user: ALICE, provider: 'google' },
      { user: BOB, provider: 'microsoft' },
      { user: CAROL, provider: 'microsoft' },
      { user: DAVE, provider: 'google', grant: false },
      { user: ERIN, provider: 'microsoft' },
    ],
    sockets: [
      { name: 'mta', protocols: ['SMTP'], accounts: ['*'] },
      { name: 'mua', protocols: ['SMTP', 'IMAP'], accounts: [ALICE, BOB] },
    ],
    // Microsoft refresh tokens work once: a rotated grant lost at shutdown would show at the next start.
    rotation: 'single-use',
    logLevel: 'debug',
  });
  h.writeConfig(configWith({ accounts: [ALICE, BOB, CAROL, DAVE, ERIN], mua: [ALICE, BOB] }));
  await h.start();
});

test.after(async () => {
  await h?.close();
});

test('status matches reality: states, providers, token expiry, filters; never a token', async () => {
  const tokens = new Map<string, string>();
  for (const user of [ALICE, BOB, CAROL, ERIN]) tokens.set(user, (await ask('mta', 'SMTP', user, 'ok'))!);
  await ask('mta', 'SMTP', DAVE, 'needs-auth');

  const r = await cli(['status', '--json']);
  assert.is(r.code, 0, r.stderr);
  const rows = JSON.parse(r.out) as AccountStatus[];
  assert.equal(rows.map((a) => a.user).sort(), [ALICE, BOB, CAROL, DAVE, ERIN].sort());
  for (const row of rows) {
    assert.is(row.provider, row.user.includes('gmail') ? 'google' : 'microsoft');
    if (row.user === DAVE) {
      assert.is(row.state, 'unauthenticated');
      assert.is(row.hasGrant, false);
      assert.is(row.expiresAt, undefined);
      continue;
    }
    assert.is(row.state, 'valid', `${row.user} is ${row.state}`);
    // The expiry the daemon shows is the one the provider gave the token it serves.
    const issued = h.emu.lookupToken(tokens.get(row.user)!);
    assert.ok(issued && issued.kind === 'access' && issued.user === row.user);
    assert.ok(Math.abs(row.expiresAt! - issued.expiresAt) < 2_000, `${row.user}: status expiry ${row.expiresAt} vs issued ${issued.expiresAt}`);
    assert.ok(row.lastRefreshAt! <= Date.now() && row.lastRefreshAt! > Date.now() - 60_000);
    assert.ok(h.emu.isValidAccessToken(tokens.get(row.user)!, row.user));
  }

  const unauth = await cli(['status', '--json', '--state', 'unauthenticated']);
  assert.equal((JSON.parse(unauth.out) as AccountStatus[]).map((a) => a.user), [DAVE]);
  const google = await cli(['status', '--json', '--provider', 'google']);
  assert.equal((JSON.parse(google.out) as AccountStatus[]).map((a) => a.user).sort(), [ALICE, DAVE]);
  const table = await cli(['status']);
  assert.is(table.code, 0);
  assert.match(table.out, /ACCOUNT\s+PROVIDER\s+STATE\s+TOKEN EXPIRES/);
  for (const user of [ALICE, BOB, CAROL, DAVE, ERIN]) assert.ok(table.out.includes(user));
  assert.match(table.out, new RegExp(`${DAVE}\\s+google\\s+unauthenticated`));
  for (const token of tokens.values()) assert.not.ok(table.out.includes(token) || r.out.includes(token));

  // A confused client that sends a secret instead of an address gets it quoted in the log: scrubbed there.
  for (const secret of [h.googleSecret, tokens.get(ALICE)!]) {
    const reply = await sendRaw(h.socket('mta'), `SMTP ${secret}`);
    assert.is(reply.bytes.length, 0);
    tally.add(h.socket('mta'), '-', 'bad-request');
  }
  await h.daemon!.waitForLog('bad requests', { msg: 'bad request closed' }, 2);
  const badLines = h.daemon!.logged({ msg: 'bad request closed' }).map((l) => String(l.reason));
  assert.ok(badLines.every((reason) => reason.includes('[redacted]')), badLines.join('\n'));
});

test('reload: add, remove, change a socket, with zero failures on the untouched socket; invalid configs are refused', async () => {
  const loop = new ClientLoop(h.socket('mta'), [ALICE, BOB, CAROL]);
  try {
    await reloadWhileServing();
  } finally {
    const report = await loop.stop();
    assert.equal(report.failures, [], 'no request on the untouched socket failed');
    assert.ok(report.ok > 20, `the client loop kept asking (${report.ok} tokens)`);
    tally.add(h.socket('mta'), 'SMTP', 'ok', report.ok);
  }
});

async function reloadWhileServing(): Promise<void> {
  await sleep(300);
  await ask('mua', 'IMAP', BOB, 'ok');
  await ask('mua', 'SMTP', CAROL, 'account-not-allowed');

  // A client connected to the socket being changed, with its request not yet sent.
  const open = connect({ path: h.socket('mua'), allowHalfOpen: true });
  await once(open, 'connect');
  const openReply = new Promise<Buffer>((resolve) => {
    const chunks: Buffer[] = [];
    open.on('data', (c: Buffer) => chunks.push(c));
    open.on('close', () => resolve(Buffer.concat(chunks)));
  });

  h.writeConfig(configWith({ accounts: [ALICE, BOB, CAROL, DAVE, FRANK], mua: [ALICE, CAROL] }));
  const reload = await cli(['reload']);
  assert.is(reload.code, 0, reload.stderr);
  assert.match(reload.out, /reloaded .*config\.toml: 5 accounts, 2 sockets/);
  // The connection opened before the reload was not dropped; its request is judged by the new rules.
  open.end(`IMAP ${CAROL}`);
  assert.ok(tokenInXoauth2(await openReply, CAROL), 'the connection open across the reload got its token');
  tally.add(h.socket('mua'), 'IMAP', 'ok');

  // Removed: gone from status and refused; added: present, unauthenticated until a grant comes.
  const rows = await h.status();
  assert.equal(rows.map((a) => a.user).sort(), [ALICE, BOB, CAROL, DAVE, FRANK].sort());
  assert.is(rows.find((a) => a.user === FRANK)?.state, 'unauthenticated');
  await ask('mta', 'SMTP', ERIN, 'unknown-account');
  // The changed socket: carol now, bob no longer.
  await ask('mua', 'IMAP', CAROL, 'ok');
  await ask('mua', 'SMTP', BOB, 'account-not-allowed');
  // An account the reload did not touch kept its token; bob and carol changed scopes (IMAP with "mua" or
  // not), so their accounts restarted and got a token for the new scopes, without a failed request.
  assert.is(h.emu.stats().refreshes[ALICE], 1, 'alice refreshed only at start');
  for (const user of [BOB, CAROL]) assert.is(h.emu.stats().refreshes[user], 2, `${user} refreshed for the new scopes`);

  // An invalid config is refused with file:line: key, by the command and by SIGHUP; the old one keeps serving.
  const good = configWith({ accounts: [ALICE, BOB, CAROL, DAVE, FRANK], mua: [ALICE, CAROL] });
  h.writeConfig(good.replace(`user = "${FRANK}"\nprovider = "microsoft"`, `user = "${FRANK}"\nprovider = "yahoo"`));
  const refused = await cli(['reload']);
  assert.is(refused.code, 78, `reload of an invalid config exits 78: ${refused.stderr}`);
  assert.match(refused.stderr, /reload refused; the daemon keeps running on its previous config/);
  assert.match(refused.stderr, /config\.toml:\d+: account\[4\]\.provider: /);
  h.daemon!.child.kill('SIGHUP');
  await h.daemon!.waitForLog('SIGHUP refusal', { msg: 'reload refused; still running on the previous config', via: 'SIGHUP' });
  await ask('mua', 'IMAP', CAROL, 'ok');
  await ask('mta', 'SMTP', ERIN, 'unknown-account');
  h.writeConfig(good);
}

test('a worker crash is survived and counted; /metrics agrees with every request made', async () => {
  const loop = new ClientLoop(h.socket('mta'), [ALICE, BOB, CAROL], 'SMTP', 1);
  try {
    const answer = await adminRequest(h.adminSocket, { cmd: 'crash-worker', shard: 0 });
    assert.ok(answer.ok);
    await h.daemon!.waitForLog('worker replaced', { msg: 'worker thread replaced; its accounts are back' });
  } finally {
    const report = await loop.stop();
    assert.equal(report.failures, []);
    tally.add(h.socket('mta'), 'SMTP', 'ok', report.ok);
  }

  // Every account with a grant, paced; the two without one are skipped.
  const all = await cli(['refresh', '--all', '--rate', '20']);
  assert.is(all.code, 0, all.stderr);
  assert.match(all.out, /refreshed 3 of 3 accounts in [\d.]+ s, 0 failed, 2 skipped/);

  const base = webUrl(h.daemon!);
  const { samples, contentType, text } = await fetchMetrics(base);
  cliOutput.push(text);
  assert.match(contentType, /^text\/plain/);
  for (const [key, count] of tally.counts) {
    const [socket, protocol, result] = key.split('|') as [string, string, string];
    assert.is(metricValue(samples, 'mailtokend_token_requests_total', { socket, protocol, result }), count, `requests ${key}`);
  }
  const made = [...tally.counts.values()].reduce((a, b) => a + b, 0);
  assert.is(metricValue(samples, 'mailtokend_token_requests_total'), made, 'no request counted that was not made');
  assert.is(metricValue(samples, 'mailtokend_token_request_duration_seconds_count'), made);

  const rows = await h.status();
  for (const state of ['valid', 'unauthenticated', 'refreshing', 'expired']) {
    assert.is(metricValue(samples, 'mailtokend_accounts', { state }), rows.filter((r) => r.state === state).length, `accounts ${state}`);
  }
  const refreshes = h.emu.stats().refreshes;
  const byProvider = (p: string) => Object.entries(refreshes).filter(([u]) => (p === 'google') === u.includes('gmail')).reduce((s, [, n]) => s + n, 0);
  assert.is(metricValue(samples, 'mailtokend_refreshes_total', { provider: 'google' }), byProvider('google'));
  assert.is(metricValue(samples, 'mailtokend_refreshes_total', { provider: 'microsoft' }), byProvider('microsoft'));
  assert.is(metricValue(samples, 'mailtokend_provider_request_duration_seconds_count', { provider: 'microsoft', result: 'ok' }), byProvider('microsoft'));
  assert.is(metricValue(samples, 'mailtokend_worker_restarts_total', { shard: '0' }), 1);
  assert.is(metricValue(samples, 'mailtokend_config_reloads_total', { result: 'ok' }), 1);
  assert.is(metricValue(samples, 'mailtokend_config_reloads_total', { result: 'refused' }), 2);
});

test('logs: one debug line per token served and one info line per state change, with the fields operators filter on', () => {
  const served = h.daemon!.logged({ msg: 'token served' });
  const ok = [...tally.counts].filter(([k]) => k.endsWith('|ok')).reduce((s, [, n]) => s + n, 0);
  assert.is(served.length, ok);
  for (const line of served.slice(0, 5)) {
    assert.is(line.level, 'debug');
    for (const field of ['socket', 'proto', 'account', 'result', 'ms']) assert.ok(field in line, `token served has ${field}`);
  }
  const refusedLine = h.daemon!.logLines().find((l) => l.result === 'account-not-allowed' && l.account === BOB);
  assert.ok(refusedLine && refusedLine.level === 'info' && 'ms' in refusedLine && refusedLine.account === BOB);
  const changes = h.daemon!.logged({ msg: 'account state changed' });
  assert.ok(changes.length >= 5);
  for (const line of changes) {
    // Only an account that starts valid from its stored token is logged at debug (a restart with thousands of them).
    assert.is(line.level, line.from === 'start' && line.to === 'valid' ? 'debug' : 'info');
    assert.ok(typeof line.account === 'string' && typeof line.to === 'string' && typeof line.from === 'string');
  }
});

test('shutdown: requests in flight are all answered, a rotated grant in flight is stored, exit 0', async () => {
  // frank's first refresh takes 1.5 s; requests for him wait for it in his worker.
  h.emu.setFault({ provider: 'microsoft', user: FRANK, kind: 'delay', ms: 1_500, count: 1 });
  const importing = cli(['import', FRANK], `${h.issueGrant({ user: FRANK, provider: 'microsoft' })}\n`);
  await waitUntil('frank refreshing', async () => (await h.status()).find((a) => a.user === FRANK && a.state === 'refreshing'), 5_000, 20);
  const inFlight = [...Array(20).keys()].map(() => sendRaw(h.socket('mta'), `SMTP ${FRANK}`));
  const fast = [...Array(10).keys()].map(() => sendRaw(h.socket('mua'), `IMAP ${ALICE}`));
  await sleep(150);
  const down = await cli(['shutdown']);
  assert.is(down.code, 0, down.stderr);
  assert.match(down.out, /stopped/);
  const exit = await h.daemon!.exited;
  assert.is(exit.code, 0);
  for (const reply of await Promise.all(inFlight)) assert.ok(tokenInXoauth2(reply.bytes, FRANK), `in-flight request answered: ${JSON.stringify(reply)}`);
  for (const reply of await Promise.all(fast)) assert.ok(tokenInXoauth2(reply.bytes, ALICE));
  assert.is((await importing).code, 0);
  // The sockets are gone; a late client is refused, not left hanging.
  const late = await sendRaw(h.socket('mta'), `SMTP ${ALICE}`);
  assert.ok(late.error === 'ENOENT' || late.error === 'ECONNREFUSED', `late client: ${JSON.stringify(late)}`);
  assert.ok(h.daemon!.logged({ msg: 'shutting down', signal: 'admin shutdown' }).length === 1);

  // The next start uses the grant rotated during the shutdown (single-use tokens: the old one is dead).
  await h.start();
  const frank = await h.waitForState(FRANK, 'valid', 10_000);
  assert.is(frank.lastError, undefined);
  await h.stop();
});

test('no secret the emulator issued appears in any log, CLI output or metrics', () => {
  const leaks = h.leaks();
  assert.equal(leaks, [], 'daemon output and state files');
  const secrets = h.emu.secrets();
  assert.ok(secrets.length > 15, `the run issued secrets (${secrets.length})`);
  const all = cliOutput.join('\n');
  for (const secret of secrets) assert.not.ok(all.includes(secret), `secret ${secret.slice(0, 6)}… in CLI output or metrics`);
  // The daemon logged a lot (debug level), so the search had something to search.
  assert.ok(h.runs[0]!.stdout.length > 10_000);
});

test.run();
