/**
 * Bad clients: a request over 1 KiB, binary junk, a client that says nothing,
 * malformed requests (also with `err`). Each is logged and closed, and the
 * daemon keeps serving everybody else, during and after.
 */
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Harness, setup, tokenInXoauth2 } from '../helpers/daemon.js';
import { timeTests } from '../helpers/timing.js';

const GOOGLE = 'rob@gmail.test';
const MS = 'rob@contoso.test';

let h: Harness;

setup(test, async () => {
  h = await Harness.create({
    accounts: [
      { user: GOOGLE, provider: 'google' },
      { user: MS, provider: 'microsoft' },
    ],
  });
  await h.start();
});

test.after(async () => {
  await h?.close();
});

async function assertEveryoneServed(why: string): Promise<void> {
  for (const user of [GOOGLE, MS]) {
    for (const request of [`SMTP ${user}`, `IMAP ${user}\n`]) {
      const reply = await h.request(request);
      const token = tokenInXoauth2(reply.bytes, user);
      assert.ok(token && h.emu.isValidAccessToken(token, user), `${why}: ${JSON.stringify(request)} -> ${JSON.stringify(reply.text)}`);
    }
  }
}

/** Log lines about the socket with this result, written since `from` lines. */
const results = (result: string, from = 0) => h.daemon!.logLines().slice(from).filter((l) => l.result === result);

test('a request over 1 KiB is closed without an answer and logged', async () => {
  const from = h.daemon!.logLines().length;
  // No newline and no half-close: the daemon must stop reading by itself.
  const long = await h.request(`SMTP ${'a'.repeat(1_500)}@gmail.test`, 'mta', { halfClose: false, timeoutMs: 3_000 });
  assert.not.ok(long.timedOut, 'the daemon closed the connection');
  assert.is(long.bytes.length, 0);
  // 1 KiB of junk, then a valid user after it, with a newline: still refused.
  const padded = await h.request(`${' '.repeat(1_100)}SMTP ${GOOGLE}\n`, 'mta', { halfClose: false, timeoutMs: 3_000 });
  assert.is(padded.bytes.length, 0);
  await h.daemon!.waitForLog('too-long logged', { result: 'too-long' }, 2);
  assert.ok(results('too-long', from).every((l) => typeof l.bytes === 'number' && (l.bytes as number) > 1_024));
  await assertEveryoneServed('after over-long requests');
});

test('binary junk is closed without an answer; the log shows it escaped, never raw', async () => {
  const from = h.daemon!.logLines().length;
  const junk = Buffer.concat([Buffer.from('SMTP\x00'), randomBytes(200), Buffer.from([0xff, 0xfe, 0x01, 0x1b])]);
  for (const halfClose of [true, false]) {
    const reply = await h.request(Buffer.concat([junk, Buffer.from(halfClose ? '' : '\n')]), 'mta', { halfClose, timeoutMs: 3_000 });
    assert.not.ok(reply.timedOut);
    assert.is(reply.bytes.length, 0);
  }
  await h.daemon!.waitForLog('bad requests logged', { result: 'bad-request' }, 2);
  const lines = results('bad-request', from);
  assert.ok(lines.length >= 2);
  for (const l of lines) assert.match(String(l.reason), /\\x00|\\x[0-9a-f]{2}/);
  assert.not.match(h.daemon!.stdout, /[\x00-\x08\x0b-\x1f\x7f]/, 'no raw control bytes in the log');
  await assertEveryoneServed('after junk');
});

test('malformed requests, with and without err, get no answer and are logged', async () => {
  const before = results('bad-request').length;
  const bad = [
    'SMTP,err',
    `SMTP,err,bogus ${GOOGLE}`,
    `SMTP,b64,token ${GOOGLE}`,
    `SMTP,err ${GOOGLE} extra`,
    `smtp,err ${GOOGLE}`,
    `FTP,err ${GOOGLE}`,
    `SMTP,err nobody`,
    '',
  ];
  for (const request of bad) {
    const reply = await h.request(request, 'mta', { timeoutMs: 3_000 });
    assert.not.ok(reply.timedOut, JSON.stringify(request));
    assert.is(reply.text, '', `${JSON.stringify(request)} -> ${JSON.stringify(reply.text)}`);
  }
  await h.daemon!.waitForLog('bad requests logged', { result: 'bad-request' }, before + bad.length);
  await assertEveryoneServed('after malformed requests');
});

test('a silent client is closed after about 5 s, and everyone else is served meanwhile', async () => {
  const from = h.daemon!.logLines().length;
  const started = Date.now();
  const silent = connect(h.socket());
  const closedAfter = new Promise<{ ms: number; bytes: number }>((resolve) => {
    let bytes = 0;
    silent.on('data', (c: Buffer) => (bytes += c.length));
    silent.on('error', () => undefined);
    silent.on('close', () => resolve({ ms: Date.now() - started, bytes }));
  });
  // A second one that sent half a request and stalls.
  const stalled = connect(h.socket());
  stalled.on('error', () => undefined);
  stalled.write(`SMTP ${GOOGLE.slice(0, 5)}`);
  const stalledClosed = new Promise<number>((resolve) => stalled.on('close', () => resolve(Date.now() - started)));
  const guard = setTimeout(() => {
    silent.destroy();
    stalled.destroy();
  }, 9_000);
  try {
    for (let i = 0; i < 4; i++) {
      await assertEveryoneServed(`while silent clients wait (round ${i + 1})`);
      await new Promise((r) => setTimeout(r, 600));
    }
    const { ms, bytes } = await closedAfter;
    assert.ok(ms >= 4_800 && ms < 7_000, `closed after ${ms} ms`);
    assert.is(bytes, 0);
    const stalledMs = await stalledClosed;
    assert.ok(stalledMs >= 4_800 && stalledMs < 7_000, `stalled client closed after ${stalledMs} ms`);
  } finally {
    clearTimeout(guard);
  }
  await h.daemon!.waitForLog('idle timeouts logged', { result: 'idle-timeout' }, 2);
  const idle = results('idle-timeout', from);
  assert.is(idle.length, 2);
  assert.ok(idle.some((l) => String(l.received).startsWith('SMTP rob@')), 'the partial request is logged');
  await assertEveryoneServed('after the silent clients');
});

test('a client that leaves without waiting for its answer does not disturb anything', async () => {
  for (let i = 0; i < 20; i++) {
    const conn = connect(h.socket());
    conn.on('error', () => undefined);
    conn.on('connect', () => {
      conn.end(`SMTP ${i % 2 ? GOOGLE : MS}`);
      conn.destroy();
    });
  }
  await new Promise((r) => setTimeout(r, 200));
  assert.ok(h.daemon!.running);
  await assertEveryoneServed('after impatient clients');
});

test('no token, refresh token or client secret in the daemon output or state files', () => {
  assert.equal(h.leaks(), []);
});

timeTests(test, 'robustness');
test.run();
