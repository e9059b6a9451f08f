/**
 * The figures of doc/cluster.md, measured on a private PostgreSQL against the
 * provider emulator (single-use rotating Microsoft refresh tokens):
 *
 *   node dist/bench/cluster.js rate     [--accounts 20] [--lifetime 30] [--lifetimes 5] [--instances 1,3]
 *   node dist/bench/cluster.js takeover [--accounts 10] [--lifetime 20] [--lease 15] [--runs 3]
 *
 * rate: refresh calls the emulator receives per account, with 1 and with 3
 * instances, over --lifetimes token lifetimes once every account holds a
 * token. Lifetimes of 25 s and more are refreshed 8 % ahead, as 1 h tokens
 * are (actors/timing.ts), so refreshes per token lifetime are the refreshes
 * per hour of 1 h tokens.
 *
 * takeover: three instances; the next refresh of every account hangs at the
 * emulator (unanswered: the refresh tokens stay unspent), the instance holding
 * the most leases is killed with SIGKILL while its calls hang; time from the kill until another instance's first refresh
 * of one of its accounts, until all of them are refreshed, and until every
 * survivor serves a token issued after the kill for all of them.
 *
 * Prints one JSON line per run and a summary; exit 1 on a lost account.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureCa } from '../emulator/index.js';
import { Cluster, type ClusterNode } from '../test/helpers/cluster.js';
import { type AccountDef, waitUntil } from '../test/helpers/daemon.js';

// The emulator's CA must be trusted from process start: re-run under it.
if (!process.env.MAILTOKEND_TEST_CA_DIR) {
  const caDir = mkdtempSync(join(tmpdir(), 'mailtokend-bench-ca-'));
  const { caFile } = await ensureCa(caDir);
  const child = spawn(process.execPath, process.argv.slice(1), { stdio: 'inherit', env: { ...process.env, MAILTOKEND_TEST_CA_DIR: caDir, NODE_EXTRA_CA_CERTS: caFile } });
  const code: number = await new Promise((resolve) => child.on('close', (c) => resolve(c ?? 1)));
  rmSync(caDir, { recursive: true, force: true });
  process.exit(code);
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    accounts: { type: 'string' },
    lifetime: { type: 'string' },
    lifetimes: { type: 'string', default: '5' },
    instances: { type: 'string', default: '1,3' },
    lease: { type: 'string', default: '15' },
    runs: { type: 'string', default: '3' },
  },
});
const mode = positionals[0];
const num = (v: string | undefined, fallback: number): number => (v === undefined ? fallback : Number(v));
const accountsOf = (n: number): AccountDef[] => Array.from({ length: n }, (_, i) => ({ user: `u${i}@contoso.test`, provider: 'microsoft' as const }));
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');
const out = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`);

async function rate(): Promise<void> {
  const lifetime = num(values.lifetime, 30);
  const accounts = accountsOf(num(values.accounts, 20));
  const lifetimes = num(values.lifetimes, 5);
  for (const instances of values.instances!.split(',').map(Number)) {
    const c = await Cluster.create({ accounts, instances, lifetime, rotation: 'single-use', workers: 1 });
    try {
      await c.startAll();
      await c.importAll(c.node(0));
      await c.waitAllServing('every account served', 60_000);
      c.h.emu.resetStats();
      const t0 = Date.now();
      await sleep(lifetimes * lifetime * 1000);
      const seconds = (Date.now() - t0) / 1000;
      const stats = c.h.emu.stats();
      const calls = accounts.map((a) => stats.refreshes[a.user] ?? 0);
      const total = calls.reduce((x, y) => x + y, 0);
      const perLifetime = total / accounts.length / (seconds / lifetime);
      const reused = Object.values((stats as { reusedRefreshTokens?: Record<string, number> }).reusedRefreshTokens ?? {}).reduce((x, y) => x + y, 0);
      const lost = await c.notServing();
      out({
        mode: 'rate',
        instances,
        accounts: accounts.length,
        lifetimeS: lifetime,
        windowS: Math.round(seconds),
        refreshCalls: total,
        perAccountMin: Math.min(...calls),
        perAccountMax: Math.max(...calls),
        perAccountPerLifetime: Number(perLifetime.toFixed(3)),
        perAccountPerHourAt1hTokens: Number(perLifetime.toFixed(3)),
        perAccountPerHourAtThisLifetime: Number((total / accounts.length / (seconds / 3600)).toFixed(1)),
        reusedRefreshTokens: reused,
        notServing: lost.length,
        loadavg: load(),
      });
      if (lost.length > 0 || reused > 0) process.exitCode = 1;
    } finally {
      await c.close();
    }
  }
}

async function takeoverRun(run: number): Promise<void> {
  const lifetime = num(values.lifetime, 20);
  const leaseS = num(values.lease, 15);
  const accounts = accountsOf(num(values.accounts, 10));
  const c = await Cluster.create({ accounts, instances: 3, lifetime, lease: `${leaseS}s`, rotation: 'single-use', requestTimeout: '4s', workers: 1 });
  try {
    await c.startAll();
    // Side by side, so that every account is due at about the same time and several hang under one instance.
    await c.importAll(c.node(0), accounts, true);
    await c.waitAllServing('every account served', 60_000);
    const faults = accounts.map((a) => c.h.emu.setFault({ provider: 'microsoft', user: a.user, kind: 'hang', count: 1 }));
    const caught = await waitUntil(
      'refreshes hanging under leases',
      async () => {
        if (c.h.emu.stats().inFlight === 0) return undefined;
        // Let the others join (well inside the 30 s a hung provider call is allowed).
        const started = Date.now();
        while (c.h.emu.stats().inFlight < accounts.length && Date.now() - started < 5_000) await sleep(100);
        const holders = await c.leaseHolders();
        const byNode = c.running.map((node) => ({ node, orphans: accounts.map((a) => a.user).filter((u) => holders.get(u) === node.name) }));
        const busiest = byNode.sort((x, y) => y.orphans.length - x.orphans.length)[0]!;
        return busiest.orphans.length > 0 ? busiest : undefined;
      },
      lifetime * 1000 + 10_000,
      50,
    );
    const victim: ClusterNode = caught.node;
    const { orphans } = caught;
    const before = new Map(orphans.map((u) => [u, c.refreshTimes(u).length]));
    await victim.kill();
    const killedAt = Date.now();
    for (const id of faults) c.h.emu.clearFault(id);
    const firstAfter = (u: string) => c.refreshTimes(u)[before.get(u)!];
    await waitUntil('every orphan refreshed by a survivor', () => orphans.every((u) => firstAfter(u) !== undefined), (leaseS + 30) * 1000, 20);
    const firsts = orphans.map((u) => firstAfter(u)!);
    await waitUntil(
      'every survivor serving post-kill tokens',
      async () => {
        const ok = await Promise.all(
          c.running.flatMap((n) =>
            orphans.map(async (u) => {
              const { token } = await n.token(u);
              const info = token ? c.h.emu.lookupToken(token) : undefined;
              return token !== undefined && c.h.emu.isValidAccessToken(token, u) && info !== undefined && info.issuedAt > killedAt;
            }),
          ),
        );
        return ok.every(Boolean);
      },
      30_000,
      50,
    );
    const servedAt = Date.now();
    // Survivors' own hung calls end at their provider timeout; then every account must be back.
    await c.waitAllServing('every account served again', 60_000).catch(() => undefined);
    const stats = c.h.emu.stats();
    const reused = Object.values((stats as { reusedRefreshTokens?: Record<string, number> }).reusedRefreshTokens ?? {}).reduce((x, y) => x + y, 0);
    const lost = await c.notServing();
    out({
      mode: 'takeover',
      run,
      leaseS,
      lifetimeS: lifetime,
      orphans: orphans.length,
      firstTakeoverMs: Math.min(...firsts) - killedAt,
      allRefreshedMs: Math.max(...firsts) - killedAt,
      allServedMs: servedAt - killedAt,
      reusedRefreshTokens: reused,
      notServing: lost.length,
      loadavg: load(),
    });
    if (lost.length > 0 || reused > 0) process.exitCode = 1;
  } finally {
    await c.close();
  }
}

if (mode === 'rate') await rate();
else if (mode === 'takeover') for (let i = 1; i <= num(values.runs, 3); i++) await takeoverRun(i);
else {
  process.stderr.write('usage: node dist/bench/cluster.js rate|takeover [options] (see the comment at the top of bench/cluster.ts)\n');
  process.exitCode = 2;
}
