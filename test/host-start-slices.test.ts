/**
 * A shard starts its accounts in slices (src/host/shard-host.ts): a token
 * request that arrives while a large shard is still loading is answered as
 * soon as its own account has started, not when the whole shard has; a
 * request for an account of a later slice waits for it; an address the
 * shard does not hold is refused once the load is over. A real ShardHost and
 * file store, with grants and access tokens stored as a daemon leaves them;
 * the store's batch read is held back at one account to stand for a slow disk.
 */
import { MessageChannel } from 'node:worker_threads';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../src/config/index.js';
import type { AccountSpec, HostMessage, TokenResult } from '../src/host/messages.js';
import { ShardHost } from '../src/host/shard-host.js';
import { accountSpecs } from '../src/specs.js';
import { loadStoreKey, openFileStore, type GrantStore } from '../src/store/index.js';
import { Harness, setup } from './helpers/daemon.js';

const ACCOUNTS = 620;
const user = (i: number) => `user${String(i).padStart(4, '0')}@gmail.test`;
/** In the second slice (slices hold 500 accounts). */
const LATE = user(550);

let h: Harness;
let store: GrantStore;
let specs: AccountSpec[];
const published = new Set<string>();

setup(test, async () => {
  h = await Harness.create({ accounts: Array.from({ length: ACCOUNTS }, (_, i) => ({ user: user(i), provider: 'google' as const, grant: false })) });
  specs = accountSpecs(await loadConfig(h.configPath, h.env()));
  const { key } = await loadStoreKey({ stateDir: h.stateDir, env: h.env() });
  store = await openFileStore({ dir: h.stateDir, key });
  const now = Date.now();
  for (let i = 0; i < ACCOUNTS; i++) {
    const access = { accessToken: `ya29.stored-${i}`, expiresAt: now + 3_600_000, lifetimeMs: 3_600_000, refreshedAt: now };
    await store.save(user(i), { provider: 'google', refreshToken: `1//refresh-${i}`, scopes: ['https://mail.google.com/'], access });
  }
});

test.after(async () => {
  await store?.close();
  await h?.close();
});

/** Settles within `ms`, or reports that it is still pending. */
async function within<T>(work: Promise<T>, ms: number): Promise<T | 'pending'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'pending'>((resolve) => (timer = setTimeout(() => resolve('pending'), ms)));
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function tokenOf(answer: TokenResult | 'pending'): string {
  if (answer === 'pending') return 'still pending';
  return answer.kind === 'token' ? answer.accessToken : `fail ${answer.code}`;
}

test('a request is answered once its own account has started, before the rest of the shard', async () => {
  let release!: () => void;
  const slowDisk = new Promise<void>((resolve) => (release = resolve));
  const held: GrantStore = {
    load: (u) => store.load(u),
    loadMany: async (users) => {
      if (users.includes(LATE)) await slowDisk;
      return store.loadMany!(users);
    },
    save: (u, g, v) => store.save(u, g, v),
    remove: (u) => store.remove(u),
    users: () => store.users(),
    close: async () => undefined,
  };
  const { port1, port2 } = new MessageChannel();
  port2.on('message', (batch: HostMessage[]) => {
    for (const m of batch) if (m.type === 'account') published.add(m.key);
  });
  const host = new ShardHost(port1, held, 1);
  let synced = false;
  const sync = host.sync(specs).then(() => (synced = true));
  try {
    const early = await within(Promise.resolve(host.token(user(3), Date.now(), 2_000)), 5_000);
    assert.is(tokenOf(early), 'ya29.stored-3', 'the first slice serves');
    assert.not.ok(synced, 'answered while the shard was still loading');

    const late = Promise.resolve(host.token(LATE, Date.now(), 2_000));
    const stranger = Promise.resolve(host.token('nobody@gmail.test', Date.now(), 2_000));
    assert.is(await within(late, 300), 'pending', 'an account of a later slice waits for it');
    assert.is(await within(stranger, 50), 'pending', 'an unknown address waits for the load to end');
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(published.has(user(3)) && !published.has(LATE), 'the first slice reached the main thread; the second did not');

    release();
    await sync;
    assert.is(tokenOf(await late), 'ya29.stored-550');
    const strangerAnswer = await stranger;
    assert.is(strangerAnswer.kind === 'fail' ? strangerAnswer.code : strangerAnswer.kind, 'unknown-account');
    assert.is(host.liveCount(), 0, 'every account started parked, from its stored token');
    assert.is(Object.values(h.emu.stats().refreshes).reduce((a, b) => a + b, 0), 0, 'no refresh');
  } finally {
    release();
    await sync.catch(() => undefined);
    await host.drain(1_000);
    port2.close();
  }
});

test.run();
