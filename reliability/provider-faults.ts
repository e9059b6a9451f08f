/**
 * Scenario 6, provider faults (issue 9): every fault a token endpoint is
 * seen to answer, injected at the emulator for one account each, all at
 * once in one daemon. DESIGN.md says where each must land: transient faults
 * (5xx, 429, reset, timeout) keep the account `valid` while its token is
 * good and `expired` once it lapses, retrying with backoff; grant problems
 * (invalid_grant, invalid_client, MFA, expired or revoked grants) make it
 * `unauthenticated`. The provider's code must show in `mailtokend status`
 * and `status --history`, retries must keep to actors/timing.ts, the stored
 * grant must survive, and a transient fault that clears must heal by itself.
 */
import type { Fault, Provider } from '../emulator/index.js';
import { BACKOFF_BASE_MS, BACKOFF_CAP_MS } from '../actors/timing.js';
import type { Transition } from '../src/history/history.js';
import type { AccountStatus } from '../src/host/messages.js';
import { adminRefresh, atMost, genuineToken, info, introspect, loadAverage, sleep, storeHealth, zero } from './checks.js';
import type { Figure, Scenario, ScenarioOptions, ScenarioResult } from './types.js';
import { World, type AccountDef } from './world.js';

/** Emulator access-token lifetime: a token lapses about 6 s after its refresh (3 s in the fast subset). */
const LIFETIME_S = 6;
const FAST_LIFETIME_S = 3;
/** The daemon's provider timeout (src/providers/types.ts) decides when a hung call fails. */
const HANG_WAIT_MS = 45_000;
/** A slow answer that is still an answer. */
const SLOW_MS = 2_000;

type Expect = 'transient' | 'grant' | 'slow';
type FaultKind = Fault extends infer F ? (F extends { kind: string } ? Omit<F, 'provider' | 'user' | 'endpoint' | 'count'> : never) : never;

interface Case {
  name: string;
  provider: Provider;
  fault: FaultKind;
  expect: Expect;
  /** The code `status` must show. */
  code: string;
  retryAfterMs?: number;
  /** In the fast subset (npm test). */
  fast?: boolean;
}

const ms = (name: string, fault: FaultKind, expect: Expect, code: string, extra: Partial<Case> = {}): Case => ({ name: `Microsoft ${name}`, provider: 'microsoft', fault, expect, code, ...extra });
const g = (name: string, fault: FaultKind, expect: Expect, code: string, extra: Partial<Case> = {}): Case => ({ name: `Google ${name}`, provider: 'google', fault, expect, code, ...extra });

export const CASES: Case[] = [
  ms('500', { kind: 'status', status: 500 }, 'transient', 'AADSTS50000'),
  ms('502', { kind: 'status', status: 502 }, 'transient', 'AADSTS90033'),
  ms('503', { kind: 'status', status: 503 }, 'transient', 'AADSTS90033', { fast: true }),
  ms('504', { kind: 'status', status: 504 }, 'transient', 'AADSTS90033'),
  ms('429 Retry-After 4', { kind: 'rate-limit', retryAfter: 4 }, 'transient', 'AADSTS90055', { retryAfterMs: 4_000 }),
  ms('429', { kind: 'rate-limit' }, 'transient', 'AADSTS90055'),
  ms('connection reset', { kind: 'reset' }, 'transient', 'network', { fast: true }),
  ms('timeout (no answer)', { kind: 'hang' }, 'transient', 'network'),
  ms(`slow answer (${SLOW_MS} ms)`, { kind: 'delay', ms: SLOW_MS }, 'slow', '', { fast: true }),
  ms('invalid_grant', { kind: 'error', error: 'invalid_grant' }, 'grant', 'AADSTS70000'),
  ms('invalid_client', { kind: 'error', error: 'invalid_client' }, 'grant', 'AADSTS7000215'),
  ms('AADSTS50076 (MFA required)', { kind: 'error', error: 'interaction_required', aadsts: 50076 }, 'grant', 'AADSTS50076', { fast: true }),
  ms('AADSTS50079 (MFA enrolment)', { kind: 'error', error: 'interaction_required', aadsts: 50079 }, 'grant', 'AADSTS50079'),
  ms('AADSTS700082 (refresh token expired)', { kind: 'error', error: 'invalid_grant', aadsts: 700082 }, 'grant', 'AADSTS700082'),
  ms('AADSTS50173 (grant revoked)', { kind: 'error', error: 'invalid_grant', aadsts: 50173 }, 'grant', 'AADSTS50173'),
  g('500', { kind: 'status', status: 500 }, 'transient', 'internal_failure'),
  g('502', { kind: 'status', status: 502 }, 'transient', 'temporarily_unavailable'),
  g('503', { kind: 'status', status: 503 }, 'transient', 'temporarily_unavailable'),
  g('504', { kind: 'status', status: 504 }, 'transient', 'temporarily_unavailable'),
  g('429 Retry-After 4', { kind: 'rate-limit', retryAfter: 4 }, 'transient', 'rate_limit_exceeded', { retryAfterMs: 4_000, fast: true }),
  g('429', { kind: 'rate-limit' }, 'transient', 'rate_limit_exceeded'),
  g('connection reset', { kind: 'reset' }, 'transient', 'network'),
  g('timeout (no answer)', { kind: 'hang' }, 'transient', 'network'),
  g(`slow answer (${SLOW_MS} ms)`, { kind: 'delay', ms: SLOW_MS }, 'slow', ''),
  g('invalid_grant "Token has been expired or revoked."', { kind: 'error', error: 'invalid_grant' }, 'grant', 'invalid_grant', { fast: true }),
  g('invalid_client', { kind: 'error', error: 'invalid_client' }, 'grant', 'invalid_client'),
];

interface Outcome {
  c: Case;
  user: string;
  problems: string[];
  /** Retry delays seen (retryAt − error time) and how many missed the bounds. */
  delays: number;
  delaysOutOfBounds: number;
  /** Transient: from clearing the fault to a new token. */
  recoveredMs?: number;
  /** Slow: the longest a token request took while the slow refresh ran. */
  slowestRequestMs?: number;
  /** Provider calls while the fault was set. */
  attempts: number;
  summary: string;
}

/** The bounds actors/timing.ts promises for the n-th consecutive failure (±20 % jitter, never below Retry-After). */
export function backoffBounds(failures: number, retryAfterMs = 0): { min: number; max: number } {
  const base = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, Math.min(failures - 1, 20)));
  return { min: Math.max(Math.floor(base * 0.8), retryAfterMs), max: Math.max(Math.ceil(base * 1.2), retryAfterMs) };
}

function userOf(c: Case, i: number): string {
  return `pf${i}@${c.provider === 'google' ? 'gmail.test' : 'contoso.test'}`;
}

async function row(w: World, user: string): Promise<AccountStatus | undefined> {
  const rows = await w.h.status().catch(() => undefined);
  return rows?.find((r) => r.user === user);
}

async function runCase(w: World, c: Case, user: string, lifetimeS: number): Promise<Outcome> {
  const h = w.h;
  const out: Outcome = { c, user, problems: [], delays: 0, delaysOutOfBounds: 0, attempts: 0, summary: '' };
  const attemptsBefore = h.emu.stats().refreshes[user] ?? 0;
  const faultId = h.emu.setFault({ ...c.fault, provider: c.provider, user } as Fault);
  const t0 = Date.now();
  void adminRefresh(h, user);
  const seenErrors = new Set<number>();
  const states: string[] = [];
  let last: AccountStatus | undefined;
  const note = (r: AccountStatus | undefined): void => {
    if (!r) return;
    last = r;
    if (states[states.length - 1] !== r.state) states.push(r.state);
    const e = r.lastError;
    if (c.expect !== 'transient' || !e || e.at < t0 || seenErrors.has(e.at) || r.retryAt === undefined) return;
    seenErrors.add(e.at);
    out.delays++;
    const { min, max } = backoffBounds(r.failures, c.retryAfterMs);
    const d = r.retryAt - e.at;
    if (d < min - 1 || d > max + 1) {
      out.delaysOutOfBounds++;
      out.problems.push(`retry ${r.failures} after ${d} ms, bounds ${min}–${max} ms`);
    }
  };

  if (c.expect === 'slow') {
    let slowest = 0;
    while (Date.now() - t0 < SLOW_MS + 5_000) {
      const asked = performance.now();
      const token = await h.token(user);
      slowest = Math.max(slowest, performance.now() - asked);
      if (!token || !(await introspect(h, token)).active) out.problems.push('not served a live token while the slow refresh ran');
      const r = await row(w, user);
      note(r);
      if (r?.lastRefreshAt !== undefined && r.lastRefreshAt > t0) break;
      await sleep(100);
    }
    h.emu.clearFault(faultId);
    out.slowestRequestMs = Math.round(slowest);
    if (!(last?.lastRefreshAt !== undefined && last.lastRefreshAt > t0)) out.problems.push('the slow refresh never completed');
    if (last?.state !== 'valid') out.problems.push(`ended ${last?.state}, expected valid`);
    if (last?.lastError && last.lastError.at >= t0) out.problems.push(`a slow answer was taken for a failure: ${last.lastError.code}`);
    out.attempts = (h.emu.stats().refreshes[user] ?? 0) - attemptsBefore;
    out.summary = `refreshed after ~${SLOW_MS} ms, requests answered within ${out.slowestRequestMs} ms meanwhile`;
    return out;
  }

  const target = c.expect === 'grant' ? 'unauthenticated' : 'expired';
  const deadline = t0 + (c.fault.kind === 'hang' ? HANG_WAIT_MS : lifetimeS * 1000 + 10_000);
  while (Date.now() < deadline) {
    const r = await row(w, user);
    note(r);
    if (r?.state === target && r.lastError && r.lastError.at >= t0) break;
    await sleep(150);
  }
  out.attempts = (h.emu.stats().refreshes[user] ?? 0) - attemptsBefore;
  if (last?.state !== target) out.problems.push(`ended ${last?.state ?? 'unknown'}, expected ${target}`);
  if (last?.lastError?.code !== c.code) out.problems.push(`status shows ${last?.lastError?.code ?? 'no error'}, expected ${c.code}`);
  if (c.expect === 'transient' && states.includes('unauthenticated')) out.problems.push('a transient fault made the account unauthenticated');
  if (!last?.hasGrant) out.problems.push('status says the grant is gone');

  if (c.expect === 'grant') {
    h.emu.clearFault(faultId);
    out.summary = `${states.join(' → ')}, ${last?.lastError?.code ?? '-'}`;
    return out;
  }

  // The fault clears: the account must come back at its next scheduled retry, with nobody asking.
  const retryAt = last?.retryAt ?? Date.now();
  const cleared = Date.now();
  h.emu.clearFault(faultId);
  const healBy = Math.max(retryAt, cleared) + 3_000;
  while (Date.now() < healBy + 30_000) {
    const r = await row(w, user);
    note(r);
    if (r?.state === 'valid' && r.lastRefreshAt !== undefined && r.lastRefreshAt >= cleared) {
      out.recoveredMs = Date.now() - cleared;
      break;
    }
    await sleep(150);
  }
  if (out.recoveredMs === undefined) out.problems.push('did not recover by itself after the fault cleared');
  else if (cleared + out.recoveredMs > healBy) out.problems.push(`recovered ${out.recoveredMs} ms after the fault cleared, later than its scheduled retry (+3 s)`);
  if (out.recoveredMs !== undefined && !(await genuineToken(h, user))) out.problems.push('recovered but not served a live token');
  out.summary = `${states.join(' → ')}, ${c.code}, ${out.delays} retr${out.delays === 1 ? 'y' : 'ies'}, healed ${out.recoveredMs === undefined ? 'never' : `${(out.recoveredMs / 1000).toFixed(1)} s`} after the fault cleared`;
  return out;
}

/** The provider's code in `mailtokend status --json` and `status --history --json`, through the CLI as a user would look. */
async function checkCli(w: World, outcomes: Outcome[]): Promise<void> {
  const h = w.h;
  const status = await h.cli(['status', '--json']);
  const rows = status.code === 0 ? (JSON.parse(status.out) as AccountStatus[]) : [];
  const history = await h.cli(['status', ...outcomes.map((o) => o.user), '--history', '--json']);
  const histories = history.code === 0 ? (JSON.parse(history.out) as Array<{ user: string; history: Transition[] }>) : [];
  for (const o of outcomes) {
    if (o.c.expect === 'slow') continue;
    if (o.c.expect === 'grant') {
      const r = rows.find((x) => x.user === o.user);
      if (r?.lastError?.code !== o.c.code) o.problems.push(`mailtokend status shows ${r?.lastError?.code ?? 'nothing'}, expected ${o.c.code}`);
    }
    const list = histories.find((x) => x.user === o.user)?.history ?? [];
    if (!list.some((t) => t.error?.code === o.c.code)) o.problems.push(`mailtokend status --history has no ${o.c.code}`);
  }
}

export async function runProviderFaults(options: ScenarioOptions): Promise<ScenarioResult> {
  const started = performance.now();
  const cases = options.fast ? CASES.filter((c) => c.fast) : CASES;
  const accounts: AccountDef[] = cases.map((c, i) => ({ user: userOf(c, i), provider: c.provider }));
  const lifetimeS = options.fast ? FAST_LIFETIME_S : LIFETIME_S;
  const w = await World.create({ workDir: options.workDir, name: 'provider-faults', accounts, lifetime: lifetimeS, rotation: 'single-use', workers: 2 });
  try {
    const outcomes = await Promise.all(cases.map((c, i) => runCase(w, c, accounts[i]!.user, lifetimeS)));
    await checkCli(w, outcomes);
    const health = await storeHealth(w.h, accounts.map((a) => a.user));
    const reused = Object.values(w.h.emu.stats().reusedRefreshTokens).reduce((a, b) => a + b, 0);
    const byExpect = (e: Expect) => outcomes.filter((o) => o.c.expect === e);
    const wrong = outcomes.filter((o) => o.problems.length > 0);
    const recovered = byExpect('transient').flatMap((o) => (o.recoveredMs === undefined ? [] : [o.recoveredMs]));
    const notes = outcomes.map((o) => `${o.c.name}: ${o.summary}${o.problems.length ? ` — PROBLEM: ${o.problems.join('; ')}` : ''}`);
    const figures: Figure[] = [
      info('faults injected (transient / grant problems / slow)', `${byExpect('transient').length} / ${byExpect('grant').length} / ${byExpect('slow').length}`),
      zero('faults that missed their state, code, history or recovery', wrong.length),
      zero(`retry delays outside the backoff bounds (of ${outcomes.reduce((n, o) => n + o.delays, 0)})`, outcomes.reduce((n, o) => n + o.delaysOutOfBounds, 0)),
      zero('transient faults that did not heal by themselves', byExpect('transient').filter((o) => o.recoveredMs === undefined).length),
      info('heal time after the fault cleared, max (s)', recovered.length ? (Math.max(...recovered) / 1000).toFixed(1) : '-'),
      zero('grants lost (missing or unreadable in the store, spent token reused)', health.missing.length + health.corrupt.length + reused + (health.error ? 1 : 0)),
      atMost('token request while a slow refresh runs, max (ms)', Math.max(0, ...byExpect('slow').map((o) => o.slowestRequestMs ?? 0)), 500, ' ms'),
      info('provider calls during the faults (libraries retry some themselves)', outcomes.reduce((n, o) => n + o.attempts, 0)),
      info('load average at the end', loadAverage()),
    ];
    return { id: 'provider-faults', title: providerFaults.title, figures, seconds: (performance.now() - started) / 1000, notes };
  } finally {
    await w.close();
  }
}

export const providerFaults: Scenario = {
  id: 'provider-faults',
  title: 'Provider faults: 5xx, 429, resets, timeouts, slow answers and refused grants',
  run: runProviderFaults,
};
