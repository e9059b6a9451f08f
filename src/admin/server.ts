import { createServer, type Server } from 'node:net';
import { MailtokendError } from '../errors.js';
import { applySocketPermissions, prepareSocketPath } from '../front/socket-files.js';
import type { Logger } from '../log.js';
import { MAX_ADMIN_REQUEST_BYTES, type AdminRequest, type AdminResponse } from './protocol.js';

type Dispatch = (request: AdminRequest) => Promise<AdminResponse>;

/** Listens on the admin socket (mode 0600) and answers one JSON request per connection. */
export class AdminServer {
  readonly #server: Server;

  private constructor(
    readonly path: string,
    handler: Dispatch,
    private readonly log: Logger,
  ) {
    this.#server = createServer({ allowHalfOpen: true }, (conn) => {
      const chunks: Buffer[] = [];
      let size = 0;
      conn.setTimeout(10_000, () => conn.destroy());
      conn.on('error', () => conn.destroy());
      conn.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_ADMIN_REQUEST_BYTES) conn.destroy();
        else chunks.push(chunk);
      });
      conn.on('end', () => {
        conn.setTimeout(0);
        void this.#answer(Buffer.concat(chunks), handler).then((response) => {
          if (!conn.destroyed) conn.end(JSON.stringify(response));
        });
      });
    });
  }

  static async start(path: string, handler: Dispatch, log: Logger): Promise<AdminServer> {
    const server = new AdminServer(path, handler, log);
    await prepareSocketPath(path, undefined);
    const previous = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.#server.once('error', reject);
        server.#server.listen(path, () => resolve());
      });
    } finally {
      process.umask(previous);
    }
    await applySocketPermissions(path, 0o600, undefined);
    return server;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  async #answer(data: Buffer, handler: Dispatch): Promise<AdminResponse> {
    let request: AdminRequest;
    try {
      request = JSON.parse(data.toString('utf8')) as AdminRequest;
      if (typeof request !== 'object' || request === null || typeof request.cmd !== 'string') throw new Error('no cmd');
    } catch {
      return { ok: false, code: 'admin-bad-request', message: 'expected one JSON object with a "cmd"' };
    }
    try {
      return await handler(request);
    } catch (error) {
      const code = error instanceof MailtokendError ? error.code : 'internal';
      const message = error instanceof Error ? error.message : String(error);
      // Not `code`: that field name is redacted (authorization codes).
      this.log.error({ cmd: request.cmd, error: code, detail: message }, 'admin command failed');
      return { ok: false, code, message };
    }
  }
}
