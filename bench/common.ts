/**
 * What the benchmark's processes share: the result format the load generator
 * prints, the reference server's constant reply, and CPU accounting from
 * /proc. Imports nothing from the daemon, so the load generator and the
 * reference server start as fast as Node can.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

const REFERENCE_PREFIX = 'user=reference@bench.test\x01auth=Bearer ';

/**
 * The reference server's answers: constant XOAUTH2 strings of the sizes the
 * daemon's real replies have (a Google token is ~170 characters, a Microsoft
 * one a JWT over 1 KB), so both servers write as many bytes per request and
 * the load generator reads and checks as many. The server hands them out in
 * turn; a reply is good if it equals one of them.
 */
export function referenceReplies(sizes: number[]): Buffer[] {
  const fixed = REFERENCE_PREFIX.length + 2;
  return sizes.map((size) => Buffer.from(`${REFERENCE_PREFIX}${'R'.repeat(Math.max(1, size - fixed))}\x01\x01`, 'latin1'));
}

/** `--reply-sizes 180,1400` → [180, 1400]. */
export function replySizes(raw: string | undefined): number[] {
  const sizes = (raw ?? '256').split(',').map((x) => Number(x.trim()));
  if (sizes.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--reply-sizes takes positive integers, got ${raw}`);
  return sizes;
}

/** Why a request did not count: only `ok` replies are speed. */
export type FailureKind = 'empty' | 'malformed' | 'wrong-user' | 'timeout' | `error:${string}`;

export interface LatencySummary {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** One load level against one server, as printed by load.js on stdout (one JSON line). */
export interface LoadResult {
  target: string;
  concurrency: number;
  /** Measured window, warm-up excluded, until the last request in flight ended. */
  elapsedMs: number;
  warmupRequests: number;
  requests: number;
  ok: number;
  failures: number;
  failureKinds: Record<string, number>;
  /** Successful requests per second over the measured window. */
  rps: number;
  /** Fresh connect → reply → close, per successful request, in ms. */
  latencyMs: LatencySummary;
  /** utime+stime of the server process (all its threads) over the measured window, ms; null without --cpu-pid. */
  serverCpuMs: number | null;
  /** The same for the server's main thread alone (its socket front), ms. */
  serverMainThreadCpuMs: number | null;
  /** serverCpuMs / requests, µs. */
  serverCpuPerRequestUs: number | null;
  /** The part of serverCpuPerRequestUs spent on the server's main thread (the socket front), µs. */
  serverMainThreadCpuPerRequestUs: number | null;
  /** The load generator's own CPU over the window, ms (it shares the machine's cores). */
  loadCpuMs: number;
  /** xoauth2 mode: every distinct token seen, by user, for the caller to check at the provider. */
  tokens: Record<string, string[]>;
  /** A few failed replies, escaped, for diagnosis (never more than 5). */
  samples: string[];
  /** Latency of every successful request, µs, in completion order. */
  latenciesUs: number[];
  /** With --token-times: each distinct token's last receipt, epoch ms. */
  tokenLastSeenMs?: Record<string, number>;
}

let ticks: number | undefined;

/** Kernel clock ticks per second (USER_HZ) for /proc/PID/stat. */
export function clockTicks(): number {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

/**
 * CPU time (user + system, ms) consumed so far by process `pid`, all threads
 * included: fields 14 and 15 of /proc/PID/stat. The comm field may hold
 * spaces and parentheses, so fields are counted after its last ')'.
 */
export function processCpuMs(pid: number): number {
  return statCpuMs(`/proc/${pid}/stat`);
}

/** CPU time (ms) of the main thread of `pid` alone (its task whose id is the pid). */
export function mainThreadCpuMs(pid: number): number {
  return statCpuMs(`/proc/${pid}/task/${pid}/stat`);
}

/**
 * CPU time (ms) of each thread of `pid` that used any, busiest first, named
 * by its comm (Node's worker threads and V8's helpers have their own), so a
 * figure can be split into main thread, workers and GC helpers.
 */
export function threadsCpuMs(pid: number): Array<{ tid: number; name: string; ms: number }> {
  const out: Array<{ tid: number; name: string; ms: number }> = [];
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const ms = statCpuMs(`/proc/${pid}/task/${tid}/stat`);
      if (ms > 0) out.push({ tid: Number(tid), name: readFileSync(`/proc/${pid}/task/${tid}/comm`, 'latin1').trim(), ms: Math.round(ms) });
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return out.sort((a, b) => b.ms - a.ms);
}

function statCpuMs(path: string): number {
  const stat = readFileSync(path, 'latin1');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state): utime is field 14, stime field 15.
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  return ((utime + stime) * 1000) / clockTicks();
}

/** Resident set size of `pid` in KiB (VmRSS), or null if unreadable. */
export function processRssKiB(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** Minimal `--name value` / `--flag` parser for the bench scripts. */
export function parseFlags(argv: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new Error(`unexpected argument ${arg}`);
    const eq = arg.indexOf('=');
    if (eq > 0) {
      out.set(arg.slice(2, eq), arg.slice(eq + 1));
    } else if (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) {
      out.set(arg.slice(2), argv[++i]!);
    } else {
      out.set(arg.slice(2), 'true');
    }
  }
  return out;
}

export function numberFlag(flags: Map<string, string>, name: string, fallback: number): number {
  const raw = flags.get(name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got ${raw}`);
  return n;
}

/** Control bytes shown as \xNN, cut to `max` characters: for logging replies that went wrong. */
export function escapeBytes(data: Buffer, max = 120): string {
  let s = '';
  for (const b of data.subarray(0, max)) s += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
  return data.length > max ? `${s}…(${data.length} bytes)` : s;
}
