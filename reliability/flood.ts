/**
 * Scenario 3, floods: 256 and then 1,024 fresh connections opened in the
 * same instant by one process, one `SMTP user` request each, as a burst of
 * exim deliveries does. At 256 no connection may be refused (ECONNREFUSED,
 * EAGAIN: the listen backlog is too small) and every reply must be a genuine
 * token for the user asked; 1,024 is reported.
 */
import type { FloodResult } from './clients.js';
import type { Figure, Scenario, ScenarioOptions, ScenarioResult } from './types.js';
import { runClients, World } from './world.js';

const FULL = { levels: [256, 1_024], rounds: 3 };
const FAST = { levels: [256], rounds: 1 };
/** The level that must pass; higher levels are reported. */
const REQUIRED = 256;

export const flood: Scenario = {
  id: 'flood',
  title: 'Floods of fresh connections',
  async run(o: ScenarioOptions): Promise<ScenarioResult> {
    const started = performance.now();
    const size = o.fast ? FAST : FULL;
    const world = await World.create({ workDir: o.workDir, name: 'flood', accounts: 4 });
    try {
      const figures: Figure[] = [];
      const notes: string[] = [];
      for (const level of size.levels) {
        const total = { ok: 0, connectErrors: {} as Record<string, number>, wrong: 0, timedOut: 0, maxMs: 0 };
        for (let round = 0; round < size.rounds; round++) {
          o.log(`flood: ${level} connections at once, round ${round + 1} of ${size.rounds}`);
          const { done } = runClients<FloodResult>('flood', ['--socket', world.socket(), '--users', JSON.stringify(world.users), '--count', String(level)], 60_000);
          const r = await done;
          let foreign = 0;
          for (const [user, tokens] of Object.entries(r.tokens)) for (const t of tokens) if (!world.h.emu.isValidAccessToken(t, user)) foreign++;
          total.ok += r.ok - foreign;
          total.wrong += r.wrong + foreign;
          total.timedOut += r.timedOut;
          total.maxMs = Math.max(total.maxMs, r.maxMs);
          for (const [code, n] of Object.entries(r.connectErrors)) total.connectErrors[code] = (total.connectErrors[code] ?? 0) + n;
          notes.push(...r.samples.map((s) => `${level}: ${s}`));
          // Let the daemon finish closing the last burst before the next one.
          await new Promise((resolve) => setTimeout(resolve, 300));
        }
        const errors = Object.values(total.connectErrors).reduce((a, b) => a + b, 0);
        const required = level <= REQUIRED;
        const bound = required ? '= 0' : '';
        const n = level * size.rounds;
        figures.push(
          { name: `${level} at once: connection errors (of ${n})`, value: errors, bound, ok: !required || errors === 0 },
          { name: `${level} at once: wrong or missing replies (of ${n})`, value: total.wrong, bound, ok: !required || total.wrong === 0 },
          { name: `${level} at once: slowest reply (ms)`, value: Math.round(total.maxMs), bound: '', ok: true },
        );
        if (errors) notes.push(`${level} at once: connection errors ${JSON.stringify(total.connectErrors)}`);
      }
      const alive = world.daemon.running;
      const after = await Promise.all(world.users.map((u) => world.served(u)));
      figures.push({ name: 'daemon up and serving afterwards', value: alive && after.every(Boolean) ? 'yes' : 'no', bound: 'yes', ok: alive && after.every(Boolean) });
      return { id: 'flood', title: flood.title, figures, seconds: (performance.now() - started) / 1000, ...(notes.length ? { notes } : {}) };
    } finally {
      await world.close();
    }
  },
};
