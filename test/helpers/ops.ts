/**
 * Helpers for the operations tests (issue 4), on top of test/helpers/daemon.ts:
 * a config with the web listener on a free port, reading /metrics, a client
 * loop that keeps asking for tokens, and a tally of every request a test made
 * so metric counts can be checked exactly.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { DaemonProcess, Harness } from './daemon.js';
import { sendRaw, tokenInXoauth2 } from './daemon.js';

/** The harness config plus `[web] listen` on a free loopback port (tests run side by side). */
export function opsConfigText(h: Harness, extra = ''): string {
  const text = h.configText();
  return /^\[web\]$/m.test(text) ? `${text}\n${extra}` : `${text}\n[web]\nlisten = "127.0.0.1:0"\n${extra}`;
}

/** The web listener's base URL, from the daemon's `ready` log line. */
export function webUrl(daemon: DaemonProcess): string {
  const ready = daemon.logged({ msg: 'ready' }).at(-1);
  const web = ready?.web;
  if (typeof web !== 'string') throw new Error(`no web listener in the ready line: ${JSON.stringify(ready)}`);
  return web;
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text exposition (the subset prom-client writes). */
export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`unparsable metrics line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, '$1');
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** Sum of the samples named `name` whose labels include `labels`. */
export function metricValue(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

export async function fetchMetrics(base: string): Promise<{ text: string; samples: Sample[]; contentType: string }> {
  const res = await fetch(`${base}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  const text = await res.text();
  return { text, samples: parseMetrics(text), contentType: res.headers.get('content-type') ?? '' };
}

/** Counts requests by `socket path|protocol|result`, as mailtokend_token_requests_total does. */
export class Tally {
  readonly counts = new Map<string, number>();

  add(socket: string, proto: string, result: string, n = 1): void {
    const key = `${socket}|${proto}|${result}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + n);
  }
}

export interface LoopReport {
  ok: number;
  failures: string[];
}

/**
 * Asks for tokens on `socket` for every user in turn, as fast as answers come
 * (with `parallel` clients), until stopped. Every reply must be a good XOAUTH2
 * string for the user asked about.
 */
export class ClientLoop {
  #stopped = false;
  readonly #runs: Array<Promise<void>> = [];
  readonly report: LoopReport = { ok: 0, failures: [] };

  constructor(
    readonly socket: string,
    readonly users: string[],
    readonly proto = 'SMTP',
    parallel = 2,
    readonly pauseMs = 5,
  ) {
    for (let i = 0; i < parallel; i++) this.#runs.push(this.#run(i));
  }

  async #run(offset: number): Promise<void> {
    for (let n = offset; !this.#stopped; n++) {
      const user = this.users[n % this.users.length]!;
      const reply = await sendRaw(this.socket, `${this.proto} ${user}`, { timeoutMs: 8_000 });
      if (tokenInXoauth2(reply.bytes, user) !== undefined) this.report.ok++;
      else this.report.failures.push(`${user}: ${reply.error ?? (reply.timedOut ? 'timed out' : `reply ${JSON.stringify(reply.text.slice(0, 40))}`)}`);
      await sleep(this.pauseMs);
    }
  }

  async stop(): Promise<LoopReport> {
    this.#stopped = true;
    await Promise.all(this.#runs);
    return this.report;
  }
}

/** A UNIX datagram receiver standing in for systemd's NOTIFY_SOCKET (perl is part of every Debian). */
export const NOTIFY_RECEIVER_PERL = [
  'use Socket;',
  'socket(my $s, PF_UNIX, SOCK_DGRAM, 0) or die "socket: $!";',
  'unlink $ARGV[0];',
  'bind($s, pack_sockaddr_un($ARGV[0])) or die "bind: $!";',
  '$| = 1;',
  'print "listening\\n";',
  // recv() takes no control buffer: a BARRIER=1 file descriptor is closed by the kernel, which releases systemd-notify.
  'while (defined(recv($s, my $buf, 65536, 0))) { $buf =~ s/\\n/ /g; print "$buf\\n"; }',
].join(' ');
