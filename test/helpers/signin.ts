/**
 * Sign-in test helpers: a "browser" that follows redirects the way a real
 * one does (fetch with `redirect: 'manual'`, Location resolved against the
 * current page, cookies not needed), the web listener's address from the
 * daemon's `ready` line, and a sign-in config on top of the e2e Harness.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import type { DaemonProcess, Harness } from './daemon.js';
import { MAILTOKEND } from './daemon.js';

export interface Page {
  status: number;
  url: string;
  text: string;
  /** Every URL visited, in order. */
  chain: string[];
}

export interface FailedLoad {
  /** The address the browser was sent to but could not load (nothing listens there). */
  failedUrl: string;
  chain: string[];
  error: string;
}

/**
 * GETs `url` and follows 3xx like a browser (at most 10 hops). A page that
 * cannot be loaded at all ends the walk with its address, as a browser would
 * show it in its address bar.
 */
export async function browse(url: string, headers: Record<string, string> = {}): Promise<Page | FailedLoad> {
  const chain: string[] = [];
  let current = url;
  for (let hop = 0; hop < 10; hop++) {
    chain.push(current);
    let res: Response;
    try {
      res = await fetch(current, { redirect: 'manual', headers: { 'sec-fetch-site': hop === 0 ? 'none' : 'cross-site', ...headers } });
    } catch (error) {
      return { failedUrl: current, chain, error: error instanceof Error ? String(error.cause ?? error.message) : String(error) };
    }
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location) {
      await res.arrayBuffer();
      current = new URL(location, current).toString();
      continue;
    }
    return { status: res.status, url: current, text: await res.text(), chain };
  }
  throw new Error(`too many redirects from ${url}: ${chain.join(' -> ')}`);
}

export function isPage(result: Page | FailedLoad): result is Page {
  return 'status' in result;
}

export function expectPage(result: Page | FailedLoad): Page {
  if (!isPage(result)) throw new Error(`page failed to load: ${result.failedUrl} (${result.error}); chain ${result.chain.join(' -> ')}`);
  return result;
}

/** One GET without following redirects. */
export async function getOnce(url: string, headers: Record<string, string> = {}): Promise<{ status: number; location?: string; text: string }> {
  const res = await fetch(url, { redirect: 'manual', headers });
  const location = res.headers.get('location') ?? undefined;
  return { status: res.status, ...(location !== undefined && { location }), text: await res.text() };
}

/** A raw HTTP request with any Host header (fetch refuses to set one). */
export function rawRequest(base: string, path: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; text: string }> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method: opts.method ?? 'GET', headers: opts.headers ?? {} }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(opts.body ?? '');
  });
}

/** The web listener's base URL from the daemon's `ready` line (`[web] listen` port 0 in tests). */
export async function webBase(daemon: DaemonProcess): Promise<string> {
  const [ready] = await daemon.waitForLog('ready', { msg: 'ready' });
  const web = ready?.web;
  if (typeof web !== 'string') throw new Error(`the ready line has no web address: ${JSON.stringify(ready)}`);
  return web;
}

/**
 * The Harness config with sign-in settings: `top` lines go before the first
 * table (top-level keys), `tail` after the last; the web listener binds a
 * free loopback port.
 */
export function writeSignInConfig(h: Harness, opts: { top?: string[]; tail?: string[] } = {}): void {
  // The Harness config already binds the web listener to a free port (`[web] listen = "127.0.0.1:0"`).
  const base = h.configText();
  const web = /^\[web\]$/m.test(base) ? [] : ['[web]', 'listen = "127.0.0.1:0"', ''];
  const text = [...(opts.top ?? []), base, ...web, ...(opts.tail ?? []), ''].join('\n');
  h.writeConfig(text);
}

/** `mailtokend login …` as a child whose output can be read while it runs and whose stdin can be written. */
export class LoginProcess {
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;
  readonly child: ChildProcess;

  constructor(h: Harness, args: string[], env: NodeJS.ProcessEnv = {}) {
    this.child = spawn(process.execPath, [MAILTOKEND, 'login', ...args, '-c', h.configPath], { env: h.env(env), stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout!.setEncoding('utf8').on('data', (c: string) => (this.stdout += c));
    this.child.stderr!.setEncoding('utf8').on('data', (c: string) => (this.stderr += c));
    this.child.stdin!.on('error', () => undefined);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 60_000);
    this.exited = new Promise((resolve) => this.child.on('close', (code) => (clearTimeout(timer), resolve(code))));
  }

  /** The first https URL the command printed. */
  async url(timeoutMs = 15_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = /https:\/\/\S+/.exec(this.stdout);
      if (match) return match[0];
      if (Date.now() > deadline) throw new Error(`login printed no URL within ${timeoutMs} ms:\n${this.stdout}\n${this.stderr}`);
      if (this.child.exitCode !== null) throw new Error(`login exited ${this.child.exitCode} before printing a URL:\n${this.stdout}\n${this.stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  write(line: string): void {
    this.child.stdin!.write(`${line}\n`);
  }
}
