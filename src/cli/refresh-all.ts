import { parseArgs } from 'node:util';
import { adminCall } from '../admin/client.js';
import { DEFAULT_REFRESH_RATE, type RefreshAllSummary } from '../ops/refresh-all.js';
import { configPathFrom, EXIT, readConfig, UsageError } from './context.js';

export const REFRESH_ALL_HELP = `usage: mailtokend refresh --all [--rate N] [--provider NAME] [--state STATE] [--no-wait] [--config FILE]

Refresh every account that has a grant (unauthenticated ones need a sign-in
and are skipped), N per second (default ${DEFAULT_REFRESH_RATE}), so thousands of accounts do
not hit a provider's rate limit at once. Waits and reports the outcome;
exits 1 when any refresh failed. --no-wait starts it in the daemon and
returns; the outcome goes to the daemon's log.`;

/** The admin socket is silent while the job runs: allow for a long one. */
const WAIT_LIMIT_MS = 24 * 3600 * 1000;

export async function refreshAll(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string', short: 'c' },
      all: { type: 'boolean' },
      rate: { type: 'string' },
      provider: { type: 'string' },
      state: { type: 'string' },
      'no-wait': { type: 'boolean' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length > 0) throw new UsageError('refresh --all takes no USER');
  const rate = values.rate === undefined ? undefined : Number(values.rate);
  if (rate !== undefined && !(rate > 0)) throw new UsageError('--rate must be a number of refreshes per second above 0');
  const config = await readConfig(configPathFrom(values.config, env), env);
  const request = { cmd: 'refresh-all', rate, provider: values.provider, state: values.state, wait: !values['no-wait'] };
  if (values['no-wait']) {
    const { started, etaSeconds } = await adminCall<{ started: number; etaSeconds: number }>(config.adminSocket, request);
    process.stdout.write(`refreshing ${started} accounts in the background (about ${etaSeconds} s); see the daemon's log\n`);
    return EXIT.ok;
  }
  const { summary } = await adminCall<{ summary: RefreshAllSummary }>(config.adminSocket, request, WAIT_LIMIT_MS);
  for (const f of summary.failures) {
    process.stdout.write(`${f.user}: ${f.state}${f.code ? ` (${f.code}: ${f.message})` : ` (${f.message})`}\n`);
  }
  if (summary.failed > summary.failures.length) process.stdout.write(`… and ${summary.failed - summary.failures.length} more failures\n`);
  const skipped = summary.skipped > 0 ? `, ${summary.skipped} skipped (unauthenticated or filtered)` : '';
  const cancelled = summary.cancelled ? ' (stopped early: the daemon is shutting down)' : '';
  process.stdout.write(`refreshed ${summary.ok} of ${summary.total} accounts in ${(summary.ms / 1000).toFixed(1)} s, ${summary.failed} failed${skipped}${cancelled}\n`);
  return summary.failed > 0 || summary.cancelled ? EXIT.failure : EXIT.ok;
}
