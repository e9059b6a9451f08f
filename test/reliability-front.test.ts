/**
 * The fast subset of the reliability suite's socket-front scenarios (issue 9):
 * hostile input, silent and slow clients, floods, secrets and access, each
 * with `fast: true` (same checks, smaller counts) against the built daemon.
 * `npm run reliability` runs the full ones and writes doc/reliability.md.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { flood } from '../reliability/flood.js';
import { hostileRequest, judgeReply } from '../reliability/hostile-input.js';
import { hostile } from '../reliability/hostile.js';
import { findSecrets, secrets } from '../reliability/secrets.js';
import { silent } from '../reliability/silent.js';
import type { Scenario } from '../reliability/types.js';
import { timeTests } from './helpers/timing.js';

const dirs: string[] = [];

test.after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function passes(s: Scenario): Promise<void> {
  const workDir = mkdtempSync(join(tmpdir(), `mailtokend-reliability-${s.id}-`));
  dirs.push(workDir);
  const result = await s.run({ fast: true, log: () => undefined, workDir });
  const failed = result.figures.filter((f) => !f.ok).map((f) => `${f.name}: ${f.value} (bound ${f.bound})`);
  assert.equal(failed, [], `${s.id}: ${failed.join('; ')}\n${(result.notes ?? []).join('\n')}`);
  assert.ok(result.figures.length > 0);
}

test('the hostile-input judge catches a reply for another user, echoed control bytes and a reply to junk', () => {
  const asked = { kind: 'spoof', data: Buffer.from('SMTP ann@gmail.test'), halfClose: true, user: 'ann@gmail.test', format: 'xoauth2' as const };
  assert.is(judgeReply(asked, Buffer.from('user=ann@gmail.test\x01auth=Bearer ya29.abc\x01\x01')).kind, 'token');
  assert.is(judgeReply(asked, Buffer.from('user=bob@gmail.test\x01auth=Bearer ya29.abc\x01\x01')).kind, 'bad');
  assert.is(judgeReply(asked, Buffer.from('user=ann@gmail.test\x00\x01auth=Bearer ya29.abc\x01\x01')).kind, 'bad');
  assert.is(judgeReply(asked, Buffer.from('ERR unknown-account ann@gmail.test\x1b[2J is not configured\n')).kind, 'bad');
  assert.is(judgeReply(asked, Buffer.from('ERR unknown-account ann@gmail.test is not configured\n')).kind, 'error');
  const junk = hostileRequest(1, ['ann@gmail.test']);
  assert.is(judgeReply({ ...junk, user: undefined }, Buffer.from('user=ann@gmail.test\x01auth=Bearer ya29.abc\x01\x01')).kind, 'bad');
  // The stream is the same on every run, so a finding can be replayed.
  assert.equal(hostileRequest(4242, ['ann@gmail.test']).data, hostileRequest(4242, ['ann@gmail.test']).data);
  assert.ok(hostileRequest(100, ['ann@gmail.test']).kind === 'good' && hostileRequest(1_999, ['ann@gmail.test']).data.length > 1 << 20);
});

test('the secrets search finds a secret whole, in a log line, and any JWT', () => {
  const secret = 'ya29.a0AfB_byC3xyzSECRETvalue0123456789';
  const found = findSecrets(new Set([secret]), [
    { label: 'clean', text: '{"msg":"token served","account":"ann@gmail.test"}' },
    { label: 'log', text: `{"msg":"refresh failed","error":"bad token ${secret}"}` },
    { label: 'page', text: 'Bearer eyJ0eXAiOiJKV1QiLCJhbGciOi.eyJhdWQiOiJodHRwczovL291dGxvb2' },
  ]);
  assert.equal(found.leaks, ['ya29.a… in log', 'a JWT in page']);
});

test('hostile socket input: no crash, no wrong or echoing reply, every interleaved good request served', () => passes(hostile));
test('silent and slow clients: others served as fast, each closed after the idle timeout', () => passes(silent));
test('a flood of 256 fresh connections: no connection error, every reply right', () => passes(flood));
// Last: it searches the logs the scenarios above left.
test('secrets and access: socket ACLs, web Host/Origin, file modes, no secret in any output', () => passes(secrets));

timeTests(test, 'reliability-front');
test.run();
