import { connect } from 'node:net';
import { MailtokendError } from '../errors.js';
import type { AdminRequest, AdminResponse, AdminSuccess } from './protocol.js';

/** Sends one request to the daemon's admin socket and returns its answer. */
export function adminRequest(path: string, request: AdminRequest, timeoutMs = 60_000): Promise<AdminResponse> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const conn = connect(path);
    conn.setTimeout(timeoutMs, () => {
      conn.destroy();
      reject(new MailtokendError('admin-timeout', `the daemon did not answer on ${path} within ${timeoutMs / 1000} s`));
    });
    conn.on('connect', () => conn.end(`${JSON.stringify(request)}\n`));
    conn.on('data', (chunk: Buffer) => chunks.push(chunk));
    conn.on('error', (error: NodeJS.ErrnoException) => {
      const why =
        error.code === 'ENOENT' || error.code === 'ECONNREFUSED'
          ? `no daemon is running (nothing answers on ${path}); start it with: mailtokend serve`
          : error.code === 'EACCES'
            ? `permission denied on ${path}: run as the daemon's user`
            : `${error.code ?? 'error'} on ${path}`;
      reject(new MailtokendError('admin-unreachable', why, { cause: error }));
    });
    conn.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as AdminResponse);
      } catch (error) {
        reject(new MailtokendError('admin-bad-reply', `the daemon sent an unreadable answer on ${path}`, { cause: error }));
      }
    });
  });
}

/** Like adminRequest, but a refusal becomes a MailtokendError with the daemon's code. */
export async function adminCall<T extends Record<string, unknown>>(path: string, request: AdminRequest, timeoutMs?: number): Promise<AdminSuccess & T> {
  const response = await adminRequest(path, request, timeoutMs);
  if (!response.ok) throw new MailtokendError(response.code, response.message);
  return response as AdminSuccess & T;
}
