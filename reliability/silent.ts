/**
 * Scenario 2, silent and slow clients: 1,000 connections (half send nothing,
 * half send one byte a second of a request that never ends) must not delay
 * anyone else, and the daemon closes each of them once the idle timeout
 * (src/front/listener.ts, 5 s from the connection, however slowly bytes
 * trickle in) has passed.
 *
 * The idle clients are held by another process (reliability/clients.ts
 * hold). Good requests (a fresh connection each, as exim makes them) are
 * timed here, in the same way once without the idle clients and once while
 * they are open: in this process, because a load generator's own start takes
 * seconds on a loaded machine and the window before the idle timeout is 5 s.
 */
import { IDLE_TIMEOUT_MS } from '../src/front/listener.js';
import type { HoldResult } from './clients.js';
import type { Figure, Scenario, ScenarioOptions, ScenarioResult } from './types.js';
import { runClients, World } from './world.js';

const FULL = { silent: 500, slow: 500, seconds: 2 };
const FAST = { silent: 100, slow: 100, seconds: 1 };
/** How late after the idle timeout a close may come (the sweep timer, a loaded machine). */
const CLOSE_SLACK_MS = 1_500;
const CONCURRENCY = 4;
/** Fewer good requests than this make no p99 (full run, fast run). */
const MIN_TIMED = { full: 100, fast: 50 };

interface Timing {
  ok: number;
  failed: number;
  p99: number;
  /** When the last request ended, performance.now(). */
  endedAt: number;
}

/** Good requests, CONCURRENCY at a time, for `ms` after a warm-up (none started after `stopBy`); each must get a genuine token. */
async function timeGood(world: World, ms: number, warmUpMs: number, stopBy = Infinity): Promise<Timing> {
  const latencies: number[] = [];
  let failed = 0;
  let next = 0;
  const warmEnds = performance.now() + warmUpMs;
  const deadline = Math.min(warmEnds + ms, stopBy);
  const loop = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const user = world.users[next++ % world.users.length]!;
      const t0 = performance.now();
      const reply = await world.h.request(`SMTP ${user}`, 'mta', { timeoutMs: 5_000 });
      const t1 = performance.now();
      if (!world.genuine(reply.bytes, user)) failed++;
      else if (t0 >= warmEnds) latencies.push(t1 - t0);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, loop));
  latencies.sort((a, b) => a - b);
  const p99 = latencies.length ? latencies[Math.min(latencies.length - 1, Math.ceil(latencies.length * 0.99) - 1)]! : NaN;
  return { ok: latencies.length, failed, p99, endedAt: performance.now() };
}

export const silent: Scenario = {
  id: 'silent',
  title: 'Silent and slow clients',
  async run(o: ScenarioOptions): Promise<ScenarioResult> {
    const started = performance.now();
    const size = o.fast ? FAST : FULL;
    const world = await World.create({ workDir: o.workDir, name: 'silent', accounts: 2 });
    try {
      o.log(`silent: good requests alone for ${size.seconds} s`);
      const baseline = await timeGood(world, size.seconds * 1000, 1_000);

      const total = size.silent + size.slow;
      o.log(`silent: opening ${size.silent} silent and ${size.slow} slow connections`);
      let opened: (connectingMs: number) => void = () => undefined;
      const open = new Promise<number>((resolve) => (opened = resolve));
      const { done } = runClients<HoldResult>(
        'hold',
        ['--socket', world.socket(), '--silent', String(size.silent), '--slow', String(size.slow), '--max-seconds', String((IDLE_TIMEOUT_MS + 10_000) / 1000)],
        60_000,
        (line) => line.startsWith('open ') && opened(Number(line.slice(5))),
      );
      // Measured from the first connect call, as the hold process times each close.
      const openedAfterMs = await Promise.race([open, done.then(() => 0)]);
      const openAt = performance.now() - openedAfterMs;
      o.log(`silent: good requests for ${size.seconds} s while they are open`);
      // A short warm-up, and no request started later than 0.3 s before the idle timeout closes the
      // first of them (opening 1,000 connections takes seconds on a loaded machine).
      const during = await timeGood(world, size.seconds * 1000, 100, openAt + IDLE_TIMEOUT_MS - 300);
      const held = await done;
      const after = await Promise.all(world.users.map((u) => world.served(u)));
      const alive = world.daemon.running;

      const minTimed = o.fast ? MIN_TIMED.fast : MIN_TIMED.full;
      const p99Bound = Math.max(2 * baseline.p99, baseline.p99 + 5);
      // The measurement must lie inside the window in which every idle client is open.
      const measuredWithin = (during.endedAt - openAt) / 1000;
      const closeBound = IDLE_TIMEOUT_MS + CLOSE_SLACK_MS;
      const connectErrors = Object.values(held.connectErrors).reduce((a, b) => a + b, 0);
      const figures: Figure[] = [
        { name: 'idle connections opened', value: held.opened, bound: `= ${total}`, ok: held.opened === total && connectErrors === 0 },
        { name: `good requests p99 without idle clients (ms; ${CONCURRENCY} at a time, ${size.seconds} s)`, value: round(baseline.p99), bound: '', ok: true },
        {
          name: 'good requests p99 while they are open (ms)',
          value: round(during.p99),
          bound: `≤ max(2 × baseline, baseline + 5 ms) = ${round(p99Bound)}`,
          ok: during.p99 <= p99Bound,
        },
        {
          name: 'that measurement ended (s after the first idle client connected)',
          value: round(measuredWithin),
          bound: `< first close ${round(held.closeMs.min / 1000)} s`,
          ok: measuredWithin * 1000 < held.closeMs.min,
        },
        { name: 'good requests timed while they were open', value: during.ok, bound: `≥ ${minTimed}`, ok: during.ok >= minTimed },
        {
          name: 'good requests failed (both runs)',
          value: baseline.failed + during.failed,
          bound: '= 0',
          ok: baseline.failed + during.failed === 0 && baseline.ok > 0 && during.ok > 0,
        },
        { name: 'idle connections the daemon closed', value: held.closedByDaemon, bound: `= ${total}`, ok: held.closedByDaemon === total && held.stillOpen === 0 },
        {
          name: 'latest close after connecting (s)',
          value: round(held.closeMs.max / 1000),
          bound: `≤ idle timeout ${IDLE_TIMEOUT_MS / 1000} s + ${CLOSE_SLACK_MS / 1000} s`,
          ok: held.closedByDaemon > 0 && held.closeMs.max <= closeBound,
        },
        { name: 'earliest close after connecting (s)', value: round(held.closeMs.min / 1000), bound: `≥ ${IDLE_TIMEOUT_MS / 1000 - 0.2} s`, ok: held.closeMs.min >= IDLE_TIMEOUT_MS - 200 },
        { name: 'bytes sent to idle clients', value: held.bytesReceived, bound: '= 0', ok: held.bytesReceived === 0 },
        { name: 'daemon up and serving afterwards', value: alive && after.every(Boolean) ? 'yes' : 'no', bound: 'yes', ok: alive && after.every(Boolean) },
      ];
      const notes = [`good requests timed: ${baseline.ok} alone, ${during.ok} with the idle clients open; opening them took ${round(openedAfterMs / 1000)} s`];
      if (connectErrors) notes.push(`connect errors opening the idle clients: ${JSON.stringify(held.connectErrors)}`);
      return { id: 'silent', title: silent.title, figures, seconds: (performance.now() - started) / 1000, notes };
    } finally {
      await world.close();
    }
  },
};

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
