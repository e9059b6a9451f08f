/**
 * Pieces the scenarios other than `serving` share: a workspace with N
 * stored grants, and a results file per scenario.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, totalmem } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Emulator } from '../emulator/index.js';
import { Cleanup, daemonEnv, makeAccounts, startProvider, storeGrants, workspace, writeConfig, type BenchAccount, type BenchConfig } from './setup.js';

export function say(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

export function machine() {
  const list = cpus();
  return {
    cpuModel: list[0]?.model ?? 'unknown',
    cpus: list.length,
    availableParallelism: availableParallelism(),
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    node: process.version,
    date: new Date().toISOString(),
    loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

export interface Prepared {
  dir: string;
  emu: Emulator;
  accounts: BenchAccount[];
  config: BenchConfig;
  env: NodeJS.ProcessEnv;
  storeMs: number;
}

/** Workspace, emulator, config and `n` stored grants (the daemon not started). */
export async function prepare(cleanup: Cleanup, o: { accounts: number; workers: number; lifetimeS: number; maxConcurrentRefreshes: number; keep: boolean }): Promise<Prepared> {
  const dir = workspace(cleanup, o.keep);
  const emu = await startProvider(cleanup, dir, o.lifetimeS);
  const accounts = makeAccounts(o.accounts);
  const config = writeConfig({ dir, emu, accounts, workers: o.workers, maxConcurrentRefreshes: o.maxConcurrentRefreshes });
  const env = daemonEnv(emu);
  const t = performance.now();
  await storeGrants(emu, config, accounts, env);
  return { dir, emu, accounts, config, env, storeMs: Math.round(performance.now() - t) };
}

/** `bench/results-NAME.json` unless --out says otherwise. */
export function writeResults(name: string, out: string | undefined, results: unknown): string {
  const file = resolve(out ?? fileURLToPath(new URL(`../../bench/results-${name}.json`, import.meta.url)));
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  return file;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? 0 : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
