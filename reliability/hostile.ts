/**
 * Scenario 1, hostile socket input: a generator in its own process sends
 * ≥ 100,000 requests (random bytes, near-valid lines, a 1 MiB line, unknown
 * users; reliability/hostile-input.ts) with a valid request for a known
 * account every 100th. The daemon must stay up, never answer with another
 * user's token or echo control bytes, serve every interleaved good request,
 * and not grow its memory without bound.
 */
import type { Figure, Scenario, ScenarioOptions, ScenarioResult } from './types.js';
import type { HostileResult } from './clients.js';
import { runClients, World } from './world.js';

const FULL = { count: 100_000, budgetMs: 15 * 60_000 };
const FAST = { count: 2_000, budgetMs: 60_000 };
/** Growth of the daemon's resident set over the whole run: the heap settling at its working size, and any leak. */
const RSS_GROWTH_LIMIT_MIB = 96;
/** Peak of the second half over the peak of the first: a leak of 350 bytes per request (50,000 requests) would exceed it. */
const SECOND_HALF_LIMIT_MIB = 16;

const mib = (kib: number): number => Number((kib / 1024).toFixed(1));

export const hostile: Scenario = {
  id: 'hostile',
  title: 'Hostile socket input',
  async run(o: ScenarioOptions): Promise<ScenarioResult> {
    const started = performance.now();
    const size = o.fast ? FAST : FULL;
    const world = await World.create({ workDir: o.workDir, name: 'hostile', accounts: 2 });
    try {
      const pid = world.daemon.pid;
      // Warm up first, so the RSS baseline is the daemon serving, not the daemon just started.
      for (let i = 0; i < 200; i++) await world.h.request(`SMTP ${world.users[i % 2]}`);
      const rssBefore = world.rssKiB() ?? 0;
      const rssSamples: number[] = [];
      o.log(`hostile: ${size.count} requests from a generator process (daemon RSS ${(rssBefore / 1024).toFixed(1)} MiB)`);
      const { done } = runClients<HostileResult>(
        'hostile',
        ['--socket', world.socket(), '--users', JSON.stringify(world.users), '--count', String(size.count), '--concurrency', '16'],
        size.budgetMs,
        (line) => {
          const rss = world.rssKiB();
          if (rss !== null) rssSamples.push(rss);
          o.log(`hostile: ${line}, daemon RSS ${rss === null ? '?' : (rss / 1024).toFixed(1)} MiB`);
        },
      );
      const r = await done;
      const rssAfter = world.rssKiB();
      const crashed = !world.daemon.running || world.daemon.pid !== pid;
      // A token attributed to a user must be one the provider issued to that user.
      let foreignTokens = 0;
      for (const [user, tokens] of Object.entries(r.tokens)) {
        for (const token of tokens) {
          const info = world.h.emu.lookupToken(token);
          if (info?.kind !== 'access' || info.user.toLowerCase() !== user.toLowerCase()) foreignTokens++;
        }
      }
      const after = await Promise.all(world.users.map((u) => world.served(u)));
      const growthMiB = rssAfter === null ? NaN : (rssAfter - rssBefore) / 1024;
      // More of the same input must not raise the peak: garbage collection makes the RSS a saw tooth
      // (±25 MiB), a leak lifts the whole second half.
      const halfway = Math.floor(rssSamples.length / 2);
      const secondHalfMiB =
        halfway === 0 ? NaN : (Math.max(...rssSamples.slice(halfway), rssAfter ?? Infinity) - Math.max(rssBefore, ...rssSamples.slice(0, halfway))) / 1024;
      const notes = [
        `requests by kind: ${Object.entries(r.byKind)
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([k, n]) => `${k} ${n}`)
          .join(', ')}`,
      ];
      if (rssSamples.length) notes.push(`daemon RSS every ${Math.max(500, size.count / 10)} requests (MiB): ${[rssBefore, ...rssSamples].map((k) => (k / 1024).toFixed(0)).join(' ')}`);
      if (Object.keys(r.served).length) notes.push(`near-valid lines that were valid and served (naming the user asked): ${JSON.stringify(r.served)}`);
      if (r.samples.length) notes.push(...r.samples.map((s) => `sample: ${s}`));
      const figures: Figure[] = [
        { name: 'hostile requests sent', value: r.requests, bound: `≥ ${size.count.toLocaleString('en-US')}`, ok: r.requests >= size.count },
        { name: 'daemon crashes', value: crashed ? 1 : 0, bound: '= 0', ok: !crashed },
        {
          name: 'replies naming another user, echoing control bytes or of no valid shape',
          value: r.badReplies + foreignTokens,
          bound: '= 0',
          ok: r.badReplies + foreignTokens === 0,
        },
        { name: `interleaved good requests failed (of ${r.good})`, value: r.goodFailed, bound: '= 0', ok: r.goodFailed === 0 && r.good > 0 },
        { name: 'connections neither answered nor closed within 10 s', value: r.hung, bound: '= 0', ok: r.hung === 0 },
        { name: 'every account served after the run', value: after.every(Boolean) ? 'yes' : 'no', bound: 'yes', ok: after.every(Boolean) },
        { name: 'daemon RSS before the run (MiB)', value: mib(rssBefore), bound: '', ok: true },
        { name: 'daemon RSS growth over the run (MiB)', value: Number(growthMiB.toFixed(1)), bound: `≤ ${RSS_GROWTH_LIMIT_MIB}`, ok: growthMiB <= RSS_GROWTH_LIMIT_MIB },
        {
          name: 'daemon RSS peak, second half of the run minus first half (MiB)',
          value: Number(secondHalfMiB.toFixed(1)),
          bound: `≤ ${SECOND_HALF_LIMIT_MIB}`,
          ok: secondHalfMiB <= SECOND_HALF_LIMIT_MIB,
        },
      ];
      return { id: 'hostile', title: hostile.title, figures, seconds: (performance.now() - started) / 1000, notes };
    } finally {
      await world.close();
    }
  },
};
