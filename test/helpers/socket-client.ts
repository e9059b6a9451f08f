/**
 * The one-connection socket client of the tests, the reliability suite and
 * its client processes. It imports nothing but `node:net`, so a process that
 * only sends requests (reliability/clients.ts) stays light.
 */
import { connect } from 'node:net';

export interface SocketReply {
  bytes: Buffer;
  text: string;
  ms: number;
  /** The client gave up (the server neither answered nor closed). */
  timedOut: boolean;
  error?: string;
}

export interface SendOptions {
  /** Half-close after writing, as exim's readsocket and cms-oauth do (default true). */
  halfClose?: boolean;
  timeoutMs?: number;
}

/** Connects, writes `data`, optionally half-closes, and collects every byte until the server closes. */
export function sendRaw(path: string, data: string | Buffer, opts: SendOptions = {}): Promise<SocketReply> {
  const started = performance.now();
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let error: string | undefined;
    let timedOut = false;
    const conn = connect({ path, allowHalfOpen: true });
    const timer = setTimeout(() => {
      timedOut = true;
      conn.destroy();
    }, opts.timeoutMs ?? 8_000);
    conn.on('connect', () => {
      if (opts.halfClose === false) conn.write(data);
      else conn.end(data);
    });
    conn.on('data', (c: Buffer) => chunks.push(c));
    conn.on('end', () => conn.end());
    conn.on('error', (e: NodeJS.ErrnoException) => (error ??= e.code ?? e.message));
    conn.on('close', () => {
      clearTimeout(timer);
      const bytes = Buffer.concat(chunks);
      resolve({ bytes, text: bytes.toString('latin1'), ms: performance.now() - started, timedOut, ...(error ? { error } : {}) });
    });
  });
}
