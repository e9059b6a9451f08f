/**
 * The suite's socket clients, run as their own process so that their CPU
 * and file descriptors are not the daemon's or the runner's. One mode per
 * scenario; each prints progress lines and ends with one JSON result line.
 *
 *   node dist/reliability/clients.js hostile --socket PATH --users JSON --count N [--concurrency 16]
 *   node dist/reliability/clients.js hold --socket PATH --silent N --slow N --max-seconds S
 *   node dist/reliability/clients.js flood --socket PATH --users JSON --count N
 */
import { connect, type Socket } from 'node:net';
import { sendRaw } from '../test/helpers/socket-client.js';
import { hostileRequest, judgeReply, type Verdict } from './hostile-input.js';

function flags(argv: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) continue;
    const next = argv[i + 1];
    if (next === undefined || next.startsWith('--')) out.set(a.slice(2), '');
    else out.set(a.slice(2), argv[++i]!);
  }
  return out;
}

function need(f: Map<string, string>, name: string): string {
  const v = f.get(name);
  if (v === undefined) throw new Error(`clients: --${name} is required`);
  return v;
}

const num = (f: Map<string, string>, name: string, fallback: number): number => Number(f.get(name) ?? fallback);

/** Token replies, by user, for the runner to check at the provider. */
function addToken(tokens: Record<string, string[]>, user: string, token: string): void {
  const list = (tokens[user] ??= []);
  if (!list.includes(token)) list.push(token);
}

// ---------------------------------------------------------------- hostile

export interface HostileResult {
  requests: number;
  good: number;
  goodFailed: number;
  /** Replies that name a user other than the one requested, echo control bytes or have no valid shape. */
  badReplies: number;
  /** Connections the daemon neither answered nor closed within the client's timeout. */
  hung: number;
  byKind: Record<string, number>;
  tokens: Record<string, string[]>;
  samples: string[];
  /** Requests the daemon answered with a token, by kind (near-valid lines that are in fact valid). */
  served: Record<string, number>;
}

async function hostile(f: Map<string, string>): Promise<HostileResult> {
  const socket = need(f, 'socket');
  const users = JSON.parse(need(f, 'users')) as string[];
  const count = num(f, 'count', 100_000);
  const concurrency = num(f, 'concurrency', 16);
  const timeoutMs = num(f, 'timeout', 10_000);
  const result: HostileResult = { requests: 0, good: 0, goodFailed: 0, badReplies: 0, hung: 0, byKind: {}, tokens: {}, samples: [], served: {} };
  let next = 0;
  let reported = 0;
  const sample = (what: string): void => {
    if (result.samples.length < 10) result.samples.push(what);
  };
  const loop = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      const req = hostileRequest(i, users);
      result.byKind[req.kind] = (result.byKind[req.kind] ?? 0) + 1;
      const reply = await sendRaw(socket, req.data, { halfClose: req.halfClose, timeoutMs });
      result.requests++;
      if (reply.timedOut) {
        result.hung++;
        sample(`${req.kind}: no close within ${timeoutMs} ms`);
      }
      const verdict: Verdict = judgeReply(req, reply.bytes);
      if (req.kind === 'good') {
        result.good++;
        if (verdict.kind !== 'token') {
          result.goodFailed++;
          sample(`good ${req.user}: ${verdict.kind} ${reply.error ?? ''} ${verdict.why ?? ''}`);
        }
      }
      if (verdict.kind === 'bad') {
        result.badReplies++;
        sample(`${req.kind}: ${verdict.why}`);
      }
      if (verdict.kind === 'token') {
        addToken(result.tokens, verdict.user, verdict.token);
        if (req.kind !== 'good') result.served[req.kind] = (result.served[req.kind] ?? 0) + 1;
      }
      if (result.requests - reported >= Math.max(500, count / 10)) {
        reported = result.requests;
        process.stdout.write(`progress ${result.requests}\n`);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  return result;
}

// ---------------------------------------------------------------- hold

export interface HoldResult {
  opened: number;
  connectErrors: Record<string, number>;
  /** Connections the daemon closed, and after how long (ms since each opened). */
  closedByDaemon: number;
  closeMs: { min: number; max: number };
  /** Still open at --max-seconds (closed by this process then). */
  stillOpen: number;
  /** Bytes the daemon sent to these clients (it must send nothing). */
  bytesReceived: number;
}

/**
 * Opens N silent connections and N slow ones (one byte a second of a request
 * that never ends), prints `open` once all are connected, and waits until
 * the daemon has closed them all or --max-seconds pass.
 * `open MS`: all connected, the first connect call MS ms ago.
 */
async function hold(f: Map<string, string>): Promise<HoldResult> {
  const socket = need(f, 'socket');
  const silent = num(f, 'silent', 500);
  const slow = num(f, 'slow', 500);
  const maxMs = num(f, 'max-seconds', 15) * 1000;
  const payload = Buffer.from(`SMTP ${'s'.repeat(200)}@gmail.test`);
  const result: HoldResult = { opened: 0, connectErrors: {}, closedByDaemon: 0, closeMs: { min: Infinity, max: 0 }, stillOpen: 0, bytesReceived: 0 };
  const conns: Array<{ conn: Socket; slow: boolean; startedAt: number; openedAt: number; closed: boolean; sent: number }> = [];
  let giveUp = false;
  const done: Promise<void>[] = [];
  const firstConnect = performance.now();
  for (let i = 0; i < silent + slow; i++) {
    // Timed from the connect call: the daemon's clock starts at accept, which is later.
    const entry = { conn: connect({ path: socket, allowHalfOpen: true }), slow: i >= silent, startedAt: performance.now(), openedAt: 0, closed: false, sent: 0 };
    conns.push(entry);
    done.push(
      new Promise<void>((resolve) => {
        entry.conn.on('connect', () => {
          entry.openedAt = entry.startedAt;
          result.opened++;
        });
        entry.conn.on('data', (c: Buffer) => (result.bytesReceived += c.length));
        // The daemon closing shows as 'end' (or a reset, for a slow client writing into a closed socket).
        const closedByDaemon = (): void => {
          if (entry.closed || entry.openedAt === 0 || giveUp) return;
          entry.closed = true;
          const ms = performance.now() - entry.openedAt;
          result.closedByDaemon++;
          result.closeMs.min = Math.min(result.closeMs.min, ms);
          result.closeMs.max = Math.max(result.closeMs.max, ms);
          entry.conn.destroy();
        };
        entry.conn.on('error', (e: NodeJS.ErrnoException) => {
          if (entry.openedAt === 0) result.connectErrors[e.code ?? e.message] = (result.connectErrors[e.code ?? e.message] ?? 0) + 1;
          else closedByDaemon();
        });
        entry.conn.on('end', closedByDaemon);
        entry.conn.on('close', () => {
          closedByDaemon();
          resolve();
        });
      }),
    );
  }
  const connectDeadline = performance.now() + 10_000;
  while (result.opened + Object.values(result.connectErrors).reduce((a, b) => a + b, 0) < conns.length && performance.now() < connectDeadline) {
    await new Promise((r) => setTimeout(r, 10));
  }
  // How long ago the first connect call was: the idle clients are open from then on.
  process.stdout.write(`open ${Math.round(performance.now() - firstConnect)}\n`);
  const drip = setInterval(() => {
    for (const e of conns) {
      if (!e.slow || e.closed || e.openedAt === 0 || e.sent >= payload.length) continue;
      e.conn.write(payload.subarray(e.sent, e.sent + 1));
      e.sent++;
    }
  }, 1000);
  const timer = setTimeout(() => {
    giveUp = true;
    for (const e of conns) {
      if (!e.closed) {
        result.stillOpen++;
        e.conn.destroy();
      }
    }
  }, maxMs);
  await Promise.all(done);
  clearInterval(drip);
  clearTimeout(timer);
  if (result.closedByDaemon === 0) result.closeMs.min = 0;
  return result;
}

// ---------------------------------------------------------------- flood

export interface FloodResult {
  count: number;
  ok: number;
  connectErrors: Record<string, number>;
  /** Replies that are not a well-formed XOAUTH2 string for the user asked (empty ones included). */
  wrong: number;
  timedOut: number;
  tokens: Record<string, string[]>;
  samples: string[];
  /** Slowest connect → reply → close, ms. */
  maxMs: number;
}

/** N fresh connections opened in the same instant, one `SMTP user` each. */
async function flood(f: Map<string, string>): Promise<FloodResult> {
  const socket = need(f, 'socket');
  const users = JSON.parse(need(f, 'users')) as string[];
  const count = num(f, 'count', 256);
  const result: FloodResult = { count, ok: 0, connectErrors: {}, wrong: 0, timedOut: 0, tokens: {}, samples: [], maxMs: 0 };
  const replies = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const user = users[i % users.length]!;
      return { user, reply: await sendRaw(socket, `SMTP ${user}`, { timeoutMs: 15_000 }) };
    }),
  );
  for (const { user, reply } of replies) {
    result.maxMs = Math.max(result.maxMs, reply.ms);
    if (reply.timedOut) result.timedOut++;
    if (reply.error !== undefined && reply.bytes.length === 0) {
      result.connectErrors[reply.error] = (result.connectErrors[reply.error] ?? 0) + 1;
      continue;
    }
    const verdict = judgeReply({ kind: 'good', data: Buffer.alloc(0), halfClose: true, user, format: 'xoauth2' }, reply.bytes);
    if (verdict.kind === 'token' && verdict.user === user) {
      result.ok++;
      addToken(result.tokens, user, verdict.token);
    } else {
      result.wrong++;
      if (result.samples.length < 5) result.samples.push(`${user}: ${verdict.kind} ${verdict.why ?? ''} (${reply.bytes.length} bytes)`);
    }
  }
  return result;
}

const [mode, ...rest] = process.argv.slice(2);
const f = flags(rest);
const modes: Record<string, (f: Map<string, string>) => Promise<unknown>> = { hostile, hold, flood };
const run = mode === undefined ? undefined : modes[mode];
if (!run) {
  process.stderr.write('usage: clients.js hostile|hold|flood --socket PATH …\n');
  process.exit(2);
}
try {
  process.stdout.write(`${JSON.stringify(await run(f))}\n`);
} catch (error) {
  process.stderr.write(`clients ${mode}: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}
