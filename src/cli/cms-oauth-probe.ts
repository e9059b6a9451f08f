/**
 * `cms-oauth --test-smtp HOST[:PORT]` / `--test-imap HOST[:PORT]`: log in to a
 * mail server with the token just fetched, as cloud_mdir_sync's client does,
 * and print the dialogue (the token itself never: the AUTH line is shown as
 * `<redacted>`). SMTP: EHLO, STARTTLS, EHLO, AUTH, QUIT; IMAP: CAPABILITY,
 * STARTTLS, AUTHENTICATE, LOGOUT. Ports 465 and 993 (and `--tls implicit`)
 * speak TLS from the first byte; any other port starts plain and requires
 * STARTTLS (default ports 587 and 143 as CMS, which upgrades them too).
 *
 * Loaded only for these modes (a dynamic import from cms-oauth.ts), so the
 * token-fetching path keeps its start-up time; node:tls likewise.
 */
import type { Socket } from 'node:net';

export interface ProbeOptions {
  kind: 'smtp' | 'imap';
  /** HOST, HOST:PORT or [V6]:PORT. */
  target: string;
  user: string;
  mechanism: 'XOAUTH2' | 'OAUTHBEARER';
  /** The SASL initial response, not yet base64-encoded. */
  response: string;
  ca?: string | undefined;
  tls?: 'starttls' | 'implicit' | undefined;
  timeoutMs: number;
  out(line: string): void;
  err(line: string): void;
}

const DEFAULT_PORT = { smtp: 587, imap: 993 } as const;
const IMPLICIT_PORTS = new Set([465, 993]);

export function parseTarget(target: string, fallback: number): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/.exec(target);
  if (!m) return undefined;
  const port = m[3] === undefined ? fallback : Number(m[3]);
  if (!(port > 0 && port < 65536)) return undefined;
  return { host: (m[1] ?? m[2]) as string, port };
}

/** Reads CRLF lines from a socket that may be swapped for its TLS upgrade. */
class LineReader {
  #buffer = '';
  #waiting: Array<(line: string | Error) => void> = [];
  #lines: string[] = [];
  #failure: Error | undefined;
  #socket!: Socket;

  constructor(socket: Socket) {
    this.attach(socket);
  }

  get socket(): Socket {
    return this.#socket;
  }

  attach(socket: Socket): void {
    this.#socket = socket;
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      this.#buffer += chunk;
      let at: number;
      while ((at = this.#buffer.indexOf('\n')) >= 0) {
        const line = this.#buffer.slice(0, at).replace(/\r$/, '');
        this.#buffer = this.#buffer.slice(at + 1);
        this.#push(line);
      }
    });
    socket.on('error', (e: NodeJS.ErrnoException) => this.#fail(new Error(e.code ? `${e.code}: ${e.message}` : e.message)));
    socket.on('end', () => this.#fail(new Error('the server closed the connection')));
  }

  /** Stop reading from the current socket (before handing it to TLS). */
  detach(): Socket {
    this.#socket.removeAllListeners('data');
    this.#socket.removeAllListeners('error');
    this.#socket.removeAllListeners('end');
    return this.#socket;
  }

  #push(line: string): void {
    const waiter = this.#waiting.shift();
    if (waiter) waiter(line);
    else this.#lines.push(line);
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    for (const w of this.#waiting.splice(0)) w(error);
  }

  next(): Promise<string> {
    const line = this.#lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => this.#waiting.push((l) => (l instanceof Error ? reject(l) : resolve(l))));
  }
}

class ProbeFailed extends Error {}

/** Runs the login; resolves to the exit status (0 only when the server accepted the token). */
export async function probe(o: ProbeOptions): Promise<number> {
  const parsed = parseTarget(o.target, DEFAULT_PORT[o.kind]);
  if (!parsed) {
    o.err(`cms-oauth: not HOST[:PORT]: ${o.target}`);
    return 2;
  }
  const where = parsed;
  const implicit = o.tls === undefined ? IMPLICIT_PORTS.has(where.port) : o.tls === 'implicit';
  const tls = await import('node:tls');
  const net = await import('node:net');
  const { readFileSync } = await import('node:fs');
  const ca = o.ca === undefined ? undefined : [...tls.rootCertificates, readFileSync(o.ca, 'utf8')];
  const servername = net.isIP(where.host) ? undefined : where.host;
  const tlsOptions = { ca, servername, host: where.host, rejectUnauthorized: true };

  const secure = (socket: Socket | undefined): Promise<Socket> =>
    new Promise((resolve, reject) => {
      const s = tls.connect({ ...tlsOptions, ...(socket ? { socket } : { port: where.port }) }, () => {
        o.out(`* TLS ${s.getProtocol() ?? ''} ${s.getCipher().name}, certificate verified`);
        resolve(s);
      });
      s.once('error', reject);
    });
  const plain = (): Promise<Socket> =>
    new Promise((resolve, reject) => {
      const s = net.connect({ host: where.host, port: where.port }, () => resolve(s));
      s.once('error', reject);
    });

  let reader: LineReader | undefined;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<number>((resolve) => {
    timer = setTimeout(() => {
      o.err(`cms-oauth: no answer from ${o.target} within ${o.timeoutMs / 1000} s`);
      reader?.socket.destroy();
      resolve(1);
    }, o.timeoutMs);
  });
  return Promise.race([deadline, dialogue()]).finally(() => clearTimeout(timer));

  async function dialogue(): Promise<number> {
    try {
      o.out(`* connecting to ${where.host} port ${where.port} (${implicit ? 'TLS' : 'STARTTLS'})`);
      reader = new LineReader(implicit ? await secure(undefined) : await plain());
      const r = reader;
      const send = (line: string, shown = line): void => {
        o.out(`C: ${shown}`);
        r.socket.write(`${line}\r\n`);
      };
      const read = async (): Promise<string> => {
        const line = await r.next();
        o.out(`S: ${line}`);
        return line;
      };
      const upgrade = async (): Promise<void> => {
        r.attach(await secure(r.detach()));
      };
      const b64 = Buffer.from(o.response, 'utf8').toString('base64');
      const ok = o.kind === 'smtp' ? await smtp(o, { send, read, upgrade }, implicit, b64) : await imap(o, { send, read, upgrade }, implicit, b64);
      r.socket.end();
      if (ok) {
        o.out(`* authenticated as ${o.user} with ${o.mechanism}`);
        return 0;
      }
      o.err(`cms-oauth: ${o.target} refused ${o.mechanism} for ${o.user}`);
      return 1;
    } catch (e) {
      o.err(`cms-oauth: ${o.kind.toUpperCase()} test with ${o.target} failed: ${e instanceof Error ? e.message : String(e)}`);
      reader?.socket.destroy();
      return 1;
    }
  }
}

interface Wire {
  send(line: string, shown?: string): void;
  read(): Promise<string>;
  upgrade(): Promise<void>;
}

function showChallenge(o: ProbeOptions, text: string): void {
  const decoded = Buffer.from(text, 'base64').toString('utf8');
  if (decoded !== '' && /^[\x20-\x7e]*$/.test(decoded)) o.out(`* server error challenge: ${decoded}`);
}

async function smtp(o: ProbeOptions, w: Wire, implicit: boolean, b64: string): Promise<boolean> {
  /** One reply, multi-line included; the code and the lines. */
  const reply = async (): Promise<{ code: number; lines: string[] }> => {
    const lines: string[] = [];
    for (;;) {
      const line = await w.read();
      lines.push(line.slice(4));
      if (!/^\d{3}-/.test(line)) return { code: Number(line.slice(0, 3)) || 0, lines };
    }
  };
  const expect = async (code: number, what: string): Promise<string[]> => {
    const r = await reply();
    if (r.code !== code) throw new ProbeFailed(`${what}: ${r.code} ${r.lines.join(' ')}`);
    return r.lines;
  };
  await expect(220, 'greeting');
  w.send('EHLO localhost');
  let caps = await expect(250, 'EHLO');
  if (!implicit) {
    if (!caps.some((c) => /^STARTTLS\b/i.test(c))) throw new ProbeFailed('the server does not offer STARTTLS');
    w.send('STARTTLS');
    await expect(220, 'STARTTLS');
    await w.upgrade();
    w.send('EHLO localhost');
    caps = await expect(250, 'EHLO');
  }
  const auth = caps.find((c) => /^AUTH[ =]/i.test(c));
  if (!auth || !auth.toUpperCase().split(/[ =]/).includes(o.mechanism)) o.out(`* the server does not offer AUTH ${o.mechanism}; trying anyway`);
  // The response on its own line after the server's `334 `: a Microsoft token
  // makes the AUTH line itself longer than some servers (Dovecot) accept.
  w.send(`AUTH ${o.mechanism}`);
  let r = await reply();
  if (r.code === 334) {
    w.send(b64, '<redacted>');
    r = await reply();
  }
  if (r.code === 334) {
    // An error challenge (JSON, base64) as Gmail and Outlook send; answer empty to get the final code.
    showChallenge(o, r.lines.join(''));
    w.send('');
    r = await reply();
  }
  w.send('QUIT');
  await reply().catch(() => undefined);
  return r.code === 235;
}

async function imap(o: ProbeOptions, w: Wire, implicit: boolean, b64: string): Promise<boolean> {
  /** Lines up to the tagged answer; the tagged line. */
  const tagged = async (tag: string, onContinue?: (text: string) => void): Promise<string> => {
    for (;;) {
      const line = await w.read();
      if (line.startsWith(`${tag} `)) return line.slice(tag.length + 1);
      if (line.startsWith('+') && onContinue) onContinue(line.slice(2));
    }
  };
  const greeting = await w.read();
  if (!/^\* (OK|PREAUTH)\b/i.test(greeting)) throw new ProbeFailed(`greeting: ${greeting}`);
  if (!implicit) {
    w.send('a1 STARTTLS');
    const r = await tagged('a1');
    if (!/^OK\b/i.test(r)) throw new ProbeFailed(`STARTTLS: ${r}`);
    await w.upgrade();
  }
  w.send('a2 CAPABILITY');
  await tagged('a2');
  // Without SASL-IR: the response goes after the server's empty continuation.
  let sent = false;
  w.send(`a3 AUTHENTICATE ${o.mechanism}`);
  const result = await tagged('a3', (text) => {
    if (!sent) {
      sent = true;
      w.send(b64, '<redacted>');
    } else {
      showChallenge(o, text);
      w.send('');
    }
  });
  w.send('a4 LOGOUT');
  await tagged('a4').catch(() => undefined);
  return /^OK\b/i.test(result);
}
