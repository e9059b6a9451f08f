/**
 * Checks shared by the crash, worker-crash, provider-fault and storage-fault
 * scenarios (issue 9, items 4–7): a token judged at the emulator's
 * introspection endpoint (the way a mail server judges it), the store read
 * as a restarted daemon would read it, figures, and the evidence hand-over
 * for the secrets scenario.
 */
import { request } from 'node:https';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { adminRequest } from '../src/admin/client.js';
import { loadStoreKey, openFileStore } from '../src/store/index.js';
import type { Harness } from '../test/helpers/daemon.js';
import type { Figure } from './types.js';

/** What the emulator's introspection said about a token. */
export interface Introspected {
  active: boolean;
  user?: string;
}

/** POST /introspect at the emulator over HTTPS, trusting only the emulator's CA. */
export function introspect(h: Harness, token: string): Promise<Introspected> {
  const url = new URL('/introspect', h.emu.url);
  const body = new URLSearchParams({ token }).toString();
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'POST', ca: readFileSync(h.emu.caFile), headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) }, timeout: 5_000 },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => (text += c));
        res.on('end', () => {
          try {
            const parsed = JSON.parse(text) as { active?: unknown; email?: unknown };
            resolve({ active: parsed.active === true, ...(typeof parsed.email === 'string' && { user: parsed.email }) });
          } catch (error) {
            reject(error);
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('introspection timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

/** The token the MTA socket serves for `user`, if the emulator's introspection calls it that user's live token. */
export async function genuineToken(h: Harness, user: string): Promise<string | undefined> {
  const token = await h.token(user).catch(() => undefined);
  if (!token) return undefined;
  const seen = await introspect(h, token);
  return seen.active && seen.user?.toLowerCase() === user.toLowerCase() ? token : undefined;
}

/** Polls until every user is served a genuine token; the ms it took, or undefined with the users still failing. */
export async function untilAllGenuine(h: Harness, users: readonly string[], timeoutMs: number, everyMs = 25): Promise<{ ms?: number; failing: string[] }> {
  const started = performance.now();
  let failing = [...users];
  while (performance.now() - started < timeoutMs) {
    const results = await Promise.all(failing.map(async (u) => ((await genuineToken(h, u)) ? undefined : u)));
    failing = results.filter((u): u is string => u !== undefined);
    if (failing.length === 0) return { ms: performance.now() - started, failing };
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return { failing };
}

/** What a restarted daemon would find in the store: unreadable files, and accounts without a grant. */
export async function storeHealth(h: Harness, users: readonly string[]): Promise<{ corrupt: string[]; missing: string[]; error?: string }> {
  try {
    const { key } = await loadStoreKey({ stateDir: h.stateDir, env: h.env() });
    const store = await openFileStore({ dir: h.stateDir, key });
    try {
      const { corrupt } = await store.check();
      const missing: string[] = [];
      for (const u of users) if ((await store.load(u.toLowerCase())) === undefined) missing.push(u);
      return { corrupt: corrupt.map((c) => `${c.path}: ${c.reason}`), missing };
    } finally {
      await store.close();
    }
  } catch (error) {
    return { corrupt: [], missing: [], error: error instanceof Error ? error.message : String(error) };
  }
}

/** `refresh USER` through the admin socket (what `mailtokend refresh` does). */
export async function adminRefresh(h: Harness, user: string): Promise<void> {
  await adminRequest(h.adminSocket, { cmd: 'refresh', user }, 15_000).catch(() => undefined);
}

export function figure(name: string, value: number | string, bound: string, ok: boolean): Figure {
  return { name, value, bound, ok };
}

/** "≤ N" figure for a count or time that must stay under a bound. */
export function atMost(name: string, value: number, max: number, unit = ''): Figure {
  return figure(name, value, `≤ ${max}${unit}`, value <= max);
}

export function zero(name: string, value: number): Figure {
  return figure(name, value, '= 0', value === 0);
}

export function info(name: string, value: number | string): Figure {
  return figure(name, value, '', true);
}

export function loadAverage(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

export { seeded } from './hostile-input.js';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * The refresh token the store holds for each user (what a restarted daemon or
 * a replacement worker would use); undefined where there is none.
 */
export async function storedRefreshTokens(h: Harness, users: readonly string[]): Promise<Map<string, string | undefined>> {
  const out = new Map<string, string | undefined>();
  const { key } = await loadStoreKey({ stateDir: h.stateDir, env: h.env() });
  const store = await openFileStore({ dir: h.stateDir, key });
  try {
    for (const u of users) out.set(u, (await store.load(u.toLowerCase()).catch(() => undefined))?.refreshToken);
  } finally {
    await store.close();
  }
  return out;
}

/** The newest refresh token the emulator has issued to each user so far, with when (emulator clock, ms). */
export function newestIssued(h: Harness, users: readonly string[], before = Infinity): Map<string, { token: string; at: number }> {
  const wanted = new Set(users.map((u) => u.toLowerCase()));
  const out = new Map<string, { token: string; at: number }>();
  for (const token of h.emu.secrets()) {
    const info = h.emu.lookupToken(token);
    if (info?.kind !== 'refresh' || info.issuedAt > before || !wanted.has(info.user.toLowerCase())) continue;
    const user = users.find((u) => u.toLowerCase() === info.user.toLowerCase())!;
    const seen = out.get(user);
    if (!seen || info.issuedAt > seen.at) out.set(user, { token, at: info.issuedAt });
  }
  return out;
}

/**
 * Accounts whose newest refresh token, issued by the provider before a crash,
 * never reached the disk: the crash fell between the provider redeeming the
 * old token and the daemon storing the new one. With single-use rotation no
 * program can keep such a grant; the figures count these apart from losses
 * with the newest grant on disk, which would be the daemon's fault.
 * Returns each such user with the ms from the provider's answer to the crash.
 */
export function inRotationWindow(h: Harness, issuedBeforeCrash: Map<string, { token: string; at: number }>, crashAt: number, stored: Map<string, string | undefined>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [user, newest] of issuedBeforeCrash) {
    const onDisk = stored.get(user);
    const diskAt = onDisk === undefined ? -Infinity : (h.emu.lookupToken(onDisk)?.issuedAt ?? -Infinity);
    if (diskAt < newest.at) out.set(user, crashAt - newest.at);
  }
  return out;
}
