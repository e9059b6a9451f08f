import { parseArgs } from 'node:util';
import { adminCall } from '../admin/client.js';
import type { AccountStatus } from '../host/messages.js';
import { configPathFrom, EXIT, readConfig, UsageError } from './context.js';
import { clusterHeader, clusterView, withCluster, type ClusterStatus } from './status-cluster.js';

export const STATUS_HELP = `usage: mailtokend status [USER...] [--state STATE] [--provider NAME] [--json] [--config FILE]
       mailtokend status USER... --history [--json]

One row per account: address, provider, state, when the access token
expires, the last refresh and the last error. Never shows a token.

--history  the last 100 transitions of each USER since the daemon started:
           time, event, from → to, and the error it brought (as the
           dashboard shows them)`;

function ago(ms: number | undefined, now: number): string {
  if (ms === undefined) return '-';
  const s = Math.round((ms - now) / 1000);
  const abs = Math.abs(s);
  const text = abs < 120 ? `${abs}s` : abs < 7200 ? `${Math.round(abs / 60)}m` : `${Math.round(abs / 3600)}h`;
  return s >= 0 ? `in ${text}` : `${text} ago`;
}

export async function status(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { config: { type: 'string', short: 'c' }, json: { type: 'boolean' }, state: { type: 'string' }, provider: { type: 'string' }, history: { type: 'boolean' } },
    allowPositionals: true,
  });
  const config = await readConfig(configPathFrom(values.config, env), env);
  if (values.history) return (await import('./status-history.js')).statusHistory(config.adminSocket, positionals, values.json === true);
  const wanted = new Set(positionals.map((u) => u.toLowerCase()));
  const states = ['unauthenticated', 'valid', 'refreshing', 'expired'];
  if (values.state && !states.includes(values.state)) throw new UsageError(`--state must be one of ${states.join(', ')}`);
  const response = await adminCall<{ accounts: AccountStatus[] }>(config.adminSocket, {
    cmd: 'status',
    ...(wanted.size > 0 && { users: [...wanted] }),
    ...(values.state && { state: values.state }),
    ...(values.provider && { provider: values.provider }),
  });
  const rows = response.accounts
    .filter((a) => wanted.size === 0 || wanted.has(a.key))
    .filter((a) => !values.state || a.state === values.state)
    .filter((a) => !values.provider || a.provider === values.provider)
    .sort((a, b) => a.key.localeCompare(b.key));
  // Several instances on one PostgreSQL: which of them refreshed each account last (doc/cluster.md).
  const cluster = await clusterView(config.adminSocket);
  if (values.json) {
    process.stdout.write(`${JSON.stringify(withCluster(rows, cluster), null, 2)}\n`);
    return EXIT.ok;
  }
  process.stdout.write(clusterHeader(cluster) + table(withCluster(rows, cluster), Date.now(), cluster?.backend === 'postgres'));
  return EXIT.ok;
}

function table(rows: ClusterStatus[], now: number, cluster = false): string {
  const header = ['ACCOUNT', 'PROVIDER', 'STATE', 'TOKEN EXPIRES', 'LAST REFRESH', ...(cluster ? ['REFRESHED BY'] : []), 'LAST ERROR'];
  const body = rows.map((r) => [
    r.user,
    r.provider,
    r.state,
    ago(r.expiresAt, now),
    ago(r.lastRefreshAt, now),
    ...(cluster ? [r.refreshedBy ?? '-'] : []),
    r.lastError ? `${r.lastError.code}: ${r.lastError.message}` : '-',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [line(header), ...body.map(line)].join('\n') + '\n';
}
