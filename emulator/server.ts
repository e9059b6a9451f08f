/**
 * The HTTPS server: parses each request, keeps the counters, applies
 * injected faults around the provider handlers, logs one line per request
 * (path without query, status, user: never a token, code or secret).
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Ctx } from './context.js';
import type { FaultBook } from './faults.js';
import { googleError, googleRateLimit, googleStatus } from './google.js';
import { BodyTooLarge, json, parseBody, readBody, send, type Reply, type Req } from './http.js';
import { msFaultError, msRateLimit, msStatus } from './microsoft.js';
import { requestUser, route, type Route } from './routes.js';
import type { Fault, Provider, Stats } from './types.js';

export type AdminHandler = (req: Req) => Promise<Reply>;

const ADMIN_PREFIX = '/_emulator/';

/** OAuth error and AADSTS code of an error answer, for the log (never a token or secret). */
function errorNote(reply: Reply): string {
  const b = reply.body;
  if (reply.status < 400 || typeof b !== 'object' || b === null) return '';
  const { error, error_codes: codes } = b as { error?: unknown; error_codes?: unknown };
  if (typeof error !== 'string') return '';
  return Array.isArray(codes) && codes.length ? `error=${error} AADSTS${String(codes[0])}` : `error=${error}`;
}

export class EmulatorServer {
  private readonly server: Server;
  private readonly timers = new Set<NodeJS.Timeout>();
  private counters: Stats = { requests: 0, refreshes: {}, reusedRefreshTokens: {}, inFlight: 0, maxInFlight: { google: 0, microsoft: 0 } };
  private readonly inFlight: Record<Provider, number> = { google: 0, microsoft: 0 };
  admin: AdminHandler = async () => json(404, { error: 'not_found' });

  constructor(
    private readonly ctx: Ctx,
    private readonly faults: FaultBook,
    tls: { key: string; cert: string },
    private readonly log?: (line: string) => void,
  ) {
    this.server = createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
      this.handle(req, res).catch((e: unknown) => {
        this.log?.(`emulator internal error: ${e instanceof Error ? e.message : String(e)}`);
        if (!res.headersSent && !res.destroyed) send(res, json(500, { error: 'server_error' }));
      });
    });
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve((this.server.address() as AddressInfo).port);
      });
    });
  }

  stats(): Stats {
    return {
      requests: this.counters.requests,
      refreshes: { ...this.counters.refreshes },
      reusedRefreshTokens: { ...this.counters.reusedRefreshTokens },
      inFlight: this.inFlight.google + this.inFlight.microsoft,
      maxInFlight: { ...this.counters.maxInFlight },
    };
  }

  resetStats(): void {
    this.counters = { requests: 0, refreshes: {}, reusedRefreshTokens: {}, inFlight: 0, maxInFlight: { ...this.inFlight } };
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    // Hung and kept-alive connections would hold close() open forever.
    this.server.closeAllConnections();
    await closed;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.timers.delete(t);
        resolve();
      }, ms);
      this.timers.add(t);
    });
  }

  private async parse(req: IncomingMessage): Promise<Req> {
    const url = new URL(req.url ?? '/', 'https://emulator.invalid');
    const raw = req.method === 'GET' || req.method === 'HEAD' ? '' : await readBody(req);
    const { form, json: body } = parseBody(raw, req.headers['content-type']);
    return { method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, form, json: body, headers: req.headers };
  }

  private async handle(raw: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = Date.now();
    const path = new URL(raw.url ?? '/', 'https://emulator.invalid').pathname;
    let leave = (): void => undefined;
    const finish = (reply: Reply, extra = ''): void => {
      leave();
      if (res.destroyed) return;
      send(res, reply);
      const note = [reply.note, errorNote(reply), extra].filter(Boolean).join(' ');
      this.log?.(`${raw.method} ${path} ${reply.status} ${Date.now() - started}ms${note ? ` ${note}` : ''}`);
    };
    let req: Req;
    try {
      req = await this.parse(raw);
    } catch (e) {
      if (e instanceof BodyTooLarge) return finish(json(413, { error: 'invalid_request', error_description: 'Request body too large.' }));
      throw e;
    }
    if (path.startsWith(ADMIN_PREFIX)) return finish(await this.admin(req));
    this.counters.requests += 1;
    const r = route(this.ctx, path);
    if (!r) return finish(json(404, { error: 'not_found', error_description: `No emulated endpoint at ${path}.` }));
    if (!r.endpoint) return finish(r.run(req));

    const user = requestUser(this.ctx, r.endpoint, req);
    if (r.endpoint === 'token') {
      leave = this.enter(r.provider, res);
      if (req.form.get('grant_type') === 'refresh_token' && user) {
        this.counters.refreshes[user] = (this.counters.refreshes[user] ?? 0) + 1;
        const presented = this.ctx.store.token(req.form.get('refresh_token') ?? '');
        if (presented?.used) this.counters.reusedRefreshTokens[user] = (this.counters.reusedRefreshTokens[user] ?? 0) + 1;
      }
    }
    const fault = this.faults.take(r.provider, r.endpoint, user);
    if (!fault) return finish(r.run(req));
    const tag = `fault=${fault.kind}`;
    switch (fault.kind) {
      case 'reset':
        this.log?.(`${raw.method} ${path} reset ${tag}`);
        raw.socket.destroy();
        return;
      case 'hang':
        this.log?.(`${raw.method} ${path} hang ${tag}`);
        return;
      case 'delay':
        await this.sleep(fault.ms);
        return finish(r.run(req), tag);
      default:
        return finish(this.faultReply(r, req, fault), tag);
    }
  }

  /**
   * Counts a token request in flight until its answer is sent or its socket
   * gone. Returns the leave function: the answer is counted out when it is
   * handed to the socket, because 'finish' may come after the client has read it.
   */
  private enter(provider: Provider, res: ServerResponse): () => void {
    this.inFlight[provider] += 1;
    const m = this.counters.maxInFlight;
    m[provider] = Math.max(m[provider], this.inFlight[provider]);
    let done = false;
    const leave = (): void => {
      if (done) return;
      done = true;
      this.inFlight[provider] -= 1;
    };
    res.once('close', leave);
    return leave;
  }

  private faultReply(r: Route, req: Req, f: Fault): Reply {
    const g = r.provider === 'google';
    switch (f.kind) {
      case 'status':
        return g ? googleStatus(f.status, f.html) : msStatus(this.ctx, req, f.status, f.html);
      case 'rate-limit':
        return g ? googleRateLimit(f.retryAfter) : msRateLimit(this.ctx, req, f.retryAfter);
      case 'error':
        if (g) {
          const status = f.status ?? (f.error === 'invalid_client' ? 401 : 400);
          const text = f.description ?? (f.error === 'invalid_grant' ? 'Token has been expired or revoked.' : f.error === 'invalid_client' ? 'Unauthorized' : 'Bad Request');
          return googleError(status, f.error, text);
        }
        return msFaultError(this.ctx, req, f);
      default:
        return json(500, { error: 'server_error' });
    }
  }
}
