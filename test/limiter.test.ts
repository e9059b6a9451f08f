import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Limiter } from '../src/host/limiter.js';

test('the refresh limiter never lets more than its capacity run, even when slots are handed over', async () => {
  const limiter = new Limiter(3);
  let running = 0;
  let most = 0;
  const job = async (ms: number) => {
    const release = await limiter.acquire(new AbortController().signal);
    running++;
    most = Math.max(most, running);
    await new Promise((r) => setTimeout(r, ms));
    running--;
    release();
    // A newcomer arriving right as a slot is released must queue, not squeeze in.
    const again = await limiter.acquire(new AbortController().signal);
    running++;
    most = Math.max(most, running);
    running--;
    again();
  };
  await Promise.all(Array.from({ length: 30 }, (_, i) => job(i % 4)));
  assert.is(most, 3);
  assert.is(limiter.active, 0);
});

test('a cancelled wait gives up its place and does not take a slot later', async () => {
  const limiter = new Limiter(1);
  const first = await limiter.acquire(new AbortController().signal);
  const controller = new AbortController();
  const waiting = limiter.acquire(controller.signal);
  controller.abort(new Error('left refreshing'));
  const outcome = await waiting.then(
    () => 'acquired',
    () => 'rejected',
  );
  assert.is(outcome, 'rejected');
  first();
  assert.is(limiter.active, 0, 'the slot went back, not to the cancelled waiter');
  const next = await limiter.acquire(new AbortController().signal);
  assert.is(limiter.active, 1);
  next();
});

test.run();
