import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.js';
import { hostAllowed, sameOrigin } from './guard.js';

export interface WebRequest {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  /** Groups of the route's pattern. */
  params: string[];
}

export interface WebRoute {
  method: 'GET' | 'POST';
  /** Matched against the path only; anchored. */
  path: RegExp;
  handle(request: WebRequest): void | Promise<void>;
}

/** Headers every answer carries: nothing is cached, framed or sniffed. */
const SAFE_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'self'; frame-ancestors 'none'; form-action 'self' https: http://127.0.0.1:* http://localhost:*",
};

export function send(res: ServerResponse, status: number, contentType: string, body: string | Buffer, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...SAFE_HEADERS, 'content-type': contentType, 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

export function redirect(res: ServerResponse, location: string): void {
  res.writeHead(302, { ...SAFE_HEADERS, location, 'content-length': 0 });
  res.end();
}

/**
 * The loopback web listener: sign-in redirects, the dashboard and metrics.
 * Routes are added by the features that need them; the server itself only
 * guards Host (DNS rebinding) and, for POSTs, the origin (CSRF).
 */
export class WebServer {
  readonly #server: Server;
  readonly #routes: WebRoute[] = [];
  #extraHosts: ReadonlySet<string>;

  private constructor(
    private readonly log: Logger,
    extraHosts: Iterable<string>,
  ) {
    this.#extraHosts = new Set([...extraHosts].map((h) => h.toLowerCase()));
    this.#server = createServer((req, res) => void this.#dispatch(req, res));
    this.#server.headersTimeout = 10_000;
    this.#server.requestTimeout = 30_000;
  }

  static async start(listen: { host: string; port: number }, extraHosts: Iterable<string>, log: Logger): Promise<WebServer> {
    const web = new WebServer(log, extraHosts);
    await new Promise<void>((resolve, reject) => {
      web.#server.once('error', reject);
      web.#server.listen(listen.port, listen.host, () => {
        web.#server.off('error', reject);
        resolve();
      });
    });
    return web;
  }

  get address(): { host: string; port: number } {
    const address = this.#server.address() as AddressInfo;
    return { host: address.address, port: address.port };
  }

  /** The base URL people open, e.g. http://127.0.0.1:8080 */
  get baseUrl(): string {
    const { host, port } = this.address;
    return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  }

  addRoutes(routes: WebRoute[]): void {
    this.#routes.push(...routes);
  }

  setExtraHosts(hosts: Iterable<string>): void {
    this.#extraHosts = new Set([...hosts].map((h) => h.toLowerCase()));
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  async #dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!hostAllowed(req, this.#extraHosts)) {
      this.log.warn({ host: req.headers.host, path: req.url?.split('?')[0] }, 'web request with a foreign Host refused');
      return send(res, 421, 'text/plain; charset=utf-8', 'This listener answers only requests for its own loopback address.\n');
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    let pathMatched = false;
    for (const route of this.#routes) {
      const match = route.path.exec(url.pathname);
      if (!match) continue;
      pathMatched = true;
      if (route.method !== method) continue;
      if (method === 'POST' && !sameOrigin(req)) {
        this.log.warn({ path: url.pathname, origin: req.headers.origin }, 'cross-origin POST refused');
        return send(res, 403, 'text/plain; charset=utf-8', 'Cross-origin request refused.\n');
      }
      try {
        await route.handle({ req, res, url, params: match.slice(1).map((p) => decodeURIComponent(p ?? '')) });
      } catch (error) {
        this.log.error({ path: url.pathname, error: error instanceof Error ? error.message : String(error) }, 'web handler failed');
        if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'Internal error; see the daemon log.\n');
      }
      return;
    }
    send(res, pathMatched ? 405 : 404, 'text/plain; charset=utf-8', pathMatched ? 'Method not allowed.\n' : 'Not found.\n');
  }
}
