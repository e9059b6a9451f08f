/**
 * Load generator, run as its own process so that its CPU is not the
 * server's: C loops, each opening a fresh UNIX-socket connection per request
 * as exim's readsocket does (connect, write `SMTP user`, half-close, read
 * until the server closes). Prints one LoadResult as a JSON line on stdout.
 *
 *   node dist/bench/load.js --socket PATH --users FILE [--concurrency 16]
 *     [--duration 5] [--warmup 1] [--mode xoauth2|reference] [--cpu-pid PID]
 *     [--max-requests 2000000] [--timeout 5000] [--proto SMTP] [--target NAME]
 *     [--reply-sizes 180,1400]
 *
 * --users: a JSON array of addresses; requests go round the list so every
 * account is asked. --mode xoauth2 checks each reply is exactly
 * `user=USER\x01auth=Bearer TOKEN\x01\x01` for the user asked and collects
 * the tokens (the caller checks them at the provider); --mode reference
 * checks each reply equals one of the reference server's constants (same
 * --reply-sizes). A wrong, empty or late reply is a failure and never counts
 * as speed. Both checks are byte compares of about the same cost, so the
 * load generator takes as much of the machine's CPU for either server.
 */
import { connect } from 'node:net';
import { readFileSync } from 'node:fs';
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import {
  escapeBytes,
  mainThreadCpuMs,
  numberFlag,
  parseFlags,
  processCpuMs,
  referenceReplies,
  replySizes,
  type FailureKind,
  type LoadResult,
} from './common.js';

type Mode = 'xoauth2' | 'reference';

interface Options {
  socket: string;
  users: string[];
  concurrency: number;
  durationMs: number;
  warmupMs: number;
  mode: Mode;
  cpuPid: number | null;
  maxRequests: number;
  timeoutMs: number;
  proto: string;
  target: string;
  replies: Buffer[];
  /** Record when each distinct token was last received (storm scenario: served after its expiry?). */
  tokenTimes: boolean;
}

const SOH = 0x01;

function options(argv: string[]): Options {
  const f = parseFlags(argv);
  const socket = f.get('socket');
  const usersFile = f.get('users');
  if (!socket || !usersFile) throw new Error('load: --socket and --users are required');
  const users = JSON.parse(readFileSync(usersFile, 'utf8')) as unknown;
  if (!Array.isArray(users) || users.length === 0 || !users.every((u): u is string => typeof u === 'string')) {
    throw new Error(`load: ${usersFile} must hold a non-empty JSON array of addresses`);
  }
  const mode = f.get('mode') ?? 'xoauth2';
  if (mode !== 'xoauth2' && mode !== 'reference') throw new Error(`load: --mode must be xoauth2 or reference, got ${mode}`);
  const cpuPid = f.get('cpu-pid');
  return {
    socket,
    users,
    concurrency: Math.floor(numberFlag(f, 'concurrency', 1)),
    durationMs: numberFlag(f, 'duration', 5) * 1000,
    warmupMs: f.get('warmup') === '0' ? 0 : numberFlag(f, 'warmup', 1) * 1000,
    mode,
    cpuPid: cpuPid === undefined ? null : Number(cpuPid),
    maxRequests: Math.floor(numberFlag(f, 'max-requests', 2_000_000)),
    timeoutMs: numberFlag(f, 'timeout', 5000),
    proto: f.get('proto') ?? 'SMTP',
    target: f.get('target') ?? socket,
    replies: referenceReplies(replySizes(f.get('reply-sizes'))),
    tokenTimes: f.has('token-times'),
  };
}

/** Tokens never go to logs whole: keep 8 characters of anything after "Bearer ". */
function redact(sample: string): string {
  return sample.replace(/(Bearer )([^\\]{8})[^\\]*/g, '$1$2…');
}

class Run {
  readonly histogram: RecordableHistogram = createHistogram();
  readonly failureKinds: Record<string, number> = {};
  readonly tokens = new Map<string, Set<string>>();
  readonly samples: string[] = [];
  /** Every successful request's latency in µs, for the caller to merge rounds exactly. */
  readonly latenciesUs: number[] = [];
  requests = 0;
  ok = 0;
  #next = 0;
  readonly #requests: Buffer[];
  /** `user=USER\x01auth=Bearer ` for each user: a good reply starts with it. */
  readonly #prefixes: Buffer[];
  /** The token last seen for each user: a reply repeating it needs no further check. */
  readonly #last: (Buffer | undefined)[];
  /** --token-times: the current token of each user as a string, and every token's last receipt (epoch ms). */
  readonly #lastText: string[] = [];
  readonly tokenLastSeen = new Map<string, number>();

  constructor(private readonly o: Options) {
    this.#requests = o.users.map((u) => Buffer.from(`${o.proto} ${u}`, 'utf8'));
    this.#prefixes = o.users.map((u) => Buffer.from(`user=${u}\x01auth=Bearer `, 'utf8'));
    this.#last = o.users.map(() => undefined);
  }

  /** Runs C loops until `ms` is over (or the request bound is hit) and every request in flight has ended. */
  async phase(ms: number): Promise<void> {
    const deadline = performance.now() + ms;
    const loop = async (): Promise<void> => {
      while (performance.now() < deadline && this.requests < this.o.maxRequests) {
        const i = this.#next++ % this.o.users.length;
        this.requests++;
        await this.#one(i);
      }
    };
    await Promise.all(Array.from({ length: this.o.concurrency }, loop));
  }

  reset(): void {
    this.histogram.reset();
    this.latenciesUs.length = 0;
    this.#last.fill(undefined);
    for (const k of Object.keys(this.failureKinds)) delete this.failureKinds[k];
    this.tokens.clear();
    this.tokenLastSeen.clear();
    this.samples.length = 0;
    this.requests = 0;
    this.ok = 0;
  }

  #one(i: number): Promise<void> {
    return new Promise((resolve) => {
      const started = process.hrtime.bigint();
      const chunks: Buffer[] = [];
      let failed: FailureKind | undefined;
      const conn = connect(this.o.socket);
      const timer = setTimeout(() => {
        failed ??= 'timeout';
        conn.destroy();
      }, this.o.timeoutMs);
      conn.end(this.#requests[i]);
      conn.on('data', (chunk: Buffer) => chunks.push(chunk));
      conn.on('error', (error: NodeJS.ErrnoException) => {
        failed ??= `error:${error.code ?? 'unknown'}`;
      });
      conn.on('close', () => {
        clearTimeout(timer);
        const ns = process.hrtime.bigint() - started;
        const reply = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
        const kind = failed ?? this.#check(i, reply);
        if (kind === undefined) {
          this.ok++;
          this.histogram.record(ns > 0n ? ns : 1n);
          this.latenciesUs.push(Number(ns / 1000n));
          if (this.o.tokenTimes) this.tokenLastSeen.set(this.#lastText[i]!, Date.now());
        } else {
          this.failureKinds[kind] = (this.failureKinds[kind] ?? 0) + 1;
          if (this.samples.length < 5) this.samples.push(redact(`${kind}: ${escapeBytes(reply)}`));
        }
        resolve();
      });
    });
  }

  #check(i: number, reply: Buffer): FailureKind | undefined {
    const len = reply.length;
    if (len === 0) return 'empty';
    if (this.o.mode === 'reference') {
      for (const good of this.o.replies) if (good.length === len && good.equals(reply)) return undefined;
      return 'malformed';
    }
    const prefix = this.#prefixes[i]!;
    const start = prefix.length;
    const end = len - 2;
    if (len <= start + 2 || reply.compare(prefix, 0, start, 0, start) !== 0) {
      return reply.subarray(0, 5).toString('latin1') === 'user=' ? 'wrong-user' : 'malformed';
    }
    if (reply[end] !== SOH || reply[end + 1] !== SOH) return 'malformed';
    const last = this.#last[i];
    if (last !== undefined && last.length === end - start && reply.compare(last, 0, last.length, start, end) === 0) return undefined;
    // A token not seen for this user yet: printable ASCII, no spaces.
    for (let k = start; k < end; k++) {
      const b = reply[k]!;
      if (b < 0x21 || b > 0x7e) return 'malformed';
    }
    const token = Buffer.from(reply.subarray(start, end));
    this.#last[i] = token;
    const user = this.o.users[i]!;
    let seen = this.tokens.get(user);
    if (seen === undefined) this.tokens.set(user, (seen = new Set()));
    const text = token.toString('latin1');
    seen.add(text);
    this.#lastText[i] = text;
    return undefined;
  }
}

function ms(ns: number): number {
  return Math.round(ns / 1000) / 1000;
}

async function main(): Promise<void> {
  const o = options(process.argv.slice(2));
  const run = new Run(o);
  let warmupRequests = 0;
  if (o.warmupMs > 0) {
    await run.phase(o.warmupMs);
    warmupRequests = run.requests;
    run.reset();
  }
  const cpuBefore = o.cpuPid === null ? 0 : processCpuMs(o.cpuPid);
  const mainBefore = o.cpuPid === null ? 0 : mainThreadCpuMs(o.cpuPid);
  const loadBefore = process.cpuUsage();
  const t0 = performance.now();
  await run.phase(o.durationMs);
  const elapsedMs = performance.now() - t0;
  const loadCpu = process.cpuUsage(loadBefore);
  const serverCpuMs = o.cpuPid === null ? null : processCpuMs(o.cpuPid) - cpuBefore;
  const mainCpuMs = o.cpuPid === null ? null : mainThreadCpuMs(o.cpuPid) - mainBefore;
  const perRequest = (cpu: number | null) => (cpu === null || run.requests === 0 ? null : Math.round((cpu * 1000) / run.requests));
  const h = run.histogram;
  const empty = run.ok === 0;
  const result: LoadResult = {
    target: o.target,
    concurrency: o.concurrency,
    elapsedMs: Math.round(elapsedMs),
    warmupRequests,
    requests: run.requests,
    ok: run.ok,
    failures: run.requests - run.ok,
    failureKinds: run.failureKinds,
    rps: Math.round((run.ok * 1000) / elapsedMs),
    latencyMs: {
      p50: empty ? 0 : ms(h.percentile(50)),
      p90: empty ? 0 : ms(h.percentile(90)),
      p99: empty ? 0 : ms(h.percentile(99)),
      max: empty ? 0 : ms(h.max),
      mean: empty ? 0 : ms(h.mean),
    },
    serverCpuMs,
    serverMainThreadCpuMs: mainCpuMs,
    serverCpuPerRequestUs: perRequest(serverCpuMs),
    serverMainThreadCpuPerRequestUs: perRequest(mainCpuMs),
    loadCpuMs: Math.round((loadCpu.user + loadCpu.system) / 1000),
    tokens: Object.fromEntries([...run.tokens].map(([user, set]) => [user, [...set]])),
    samples: run.samples,
    latenciesUs: run.latenciesUs,
    ...(o.tokenTimes ? { tokenLastSeenMs: Object.fromEntries(run.tokenLastSeen) } : {}),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`load: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  process.exitCode = 1;
});
