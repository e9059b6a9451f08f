import { accountMachine } from '../../actors/account.js';
import { stringField } from '../admin/registry.js';
import { normalizeUser } from '../config/patterns.js';
import type { DaemonContext, Feature } from '../daemon/context.js';
import { configuredKey } from '../daemon/core-commands.js';
import { MailtokendError } from '../errors.js';
import { TransitionHistory } from '../history/history.js';
import { send, type WebRequest, type WebRoute } from '../web/server.js';
import { AccountBook, MAX_PAGE } from './book.js';
import { DASHBOARD_JS } from './client.js';
import { describeMachine } from './graph.js';
import { DASHBOARD_CSS, FAVICON_SVG, filterOf, PAGE_SIZE } from './page.js';
import { ChangeStream } from './stream.js';

const JSON_TYPE = 'application/json; charset=utf-8';

function json(request: WebRequest, status: number, body: unknown): void {
  send(request.res, status, JSON_TYPE, JSON.stringify(body));
}

/**
 * The dashboard: transition history (also `mailtokend status USER --history`
 * through the admin command `history`), the JSON API, the event stream and
 * the page's script and style. The page itself is `GET /`, which the
 * sign-in feature answers (a sign-in may come back to `/`) with
 * `dashboardPage`.
 *
 * Everything is fed by the account events on the main thread: no polling,
 * no worker round trip to draw a page, nothing at all while nobody watches.
 */
export class Dashboard {
  readonly history = new TransitionHistory();
  readonly book = new AccountBook();
  readonly stream: ChangeStream;
  readonly machine = describeMachine(accountMachine);

  constructor(private readonly context: DaemonContext) {
    this.stream = new ChangeStream(() => this.book.page({}, 0, 1).counts);
  }

  async install(): Promise<void> {
    const { events, admin, web, pool } = this.context;
    // Loaded only when asked for: the inspector library stays out of a normal daemon.
    if (this.context.env.MAILTOKEND_INSPECT === '1') (await import('./inspect.js')).installInspector(this.context);
    this.#configure();
    events.on('config', () => this.#configure());
    events.on('removed', ({ key }) => {
      this.book.remove(key);
      this.history.forget(key);
    });
    events.on('account', (update) => {
      const transition = this.history.record(update);
      const row = this.book.apply(update);
      if (row) this.stream.change(row, transition);
    });
    void pool.status().then(
      (rows) => this.book.seed(rows),
      () => undefined,
    );
    admin.register('history', async (request) => {
      const key = configuredKey(this.context, stringField(request, 'user'));
      return { user: this.book.get(key)?.user ?? key, history: this.history.of(key) };
    });
    this.context.onShutdown(async () => this.stream.close());
    web?.addRoutes(this.routes());
  }

  #configure(): void {
    const providers = new Map(this.context.config.accounts.map((a) => [normalizeUser(a.user), a.provider]));
    this.book.setProviders(providers);
  }

  routes(): WebRoute[] {
    const account = /^\/api\/accounts\/([^/]+)$/;
    return [
      { method: 'GET', path: /^\/dashboard\.js$/, handle: ({ res }) => send(res, 200, 'text/javascript; charset=utf-8', DASHBOARD_JS) },
      { method: 'GET', path: /^\/dashboard\.css$/, handle: ({ res }) => send(res, 200, 'text/css; charset=utf-8', DASHBOARD_CSS) },
      { method: 'GET', path: /^\/favicon\.(?:svg|ico)$/, handle: ({ res }) => send(res, 200, 'image/svg+xml', FAVICON_SVG) },
      { method: 'GET', path: /^\/api\/machine$/, handle: (request) => json(request, 200, this.machine) },
      {
        method: 'GET',
        path: /^\/api\/accounts$/,
        handle: (request) => {
          const query = request.url.searchParams;
          const filter = filterOf(query);
          const limit = Math.min(MAX_PAGE, Number(query.get('limit') ?? PAGE_SIZE) || PAGE_SIZE);
          json(request, 200, this.book.page(filter, filter.offset, limit));
        },
      },
      { method: 'GET', path: account, handle: (request) => this.#account(request) },
      { method: 'GET', path: /^\/api\/events$/, handle: ({ res }) => this.stream.open(res) },
      { method: 'POST', path: /^\/api\/accounts\/([^/]+)\/refresh$/, handle: (request) => this.#action(request, 'refresh') },
      { method: 'POST', path: /^\/api\/accounts\/([^/]+)\/revoke$/, handle: (request) => this.#action(request, 'revoke') },
    ];
  }

  #key(request: WebRequest): string | undefined {
    try {
      return configuredKey(this.context, request.params[0] ?? '');
    } catch (error) {
      if (error instanceof MailtokendError) {
        json(request, 404, { code: error.code, message: error.message });
        return undefined;
      }
      throw error;
    }
  }

  async #account(request: WebRequest): Promise<void> {
    const key = this.#key(request);
    if (key === undefined) return;
    const row = this.book.get(key) ?? (await this.#statusRow(key));
    if (!row) return json(request, 404, { code: 'unknown-account', message: `${key} has not started yet` });
    json(request, 200, { account: row, history: this.history.of(key) });
  }

  async #statusRow(key: string) {
    const rows = await this.context.pool.status();
    this.book.seed(rows);
    return this.book.get(key);
  }

  async #action(request: WebRequest, what: 'refresh' | 'revoke'): Promise<void> {
    const key = this.#key(request);
    if (key === undefined) return;
    // The page follows the outcome over the event stream; the answer only says it was taken.
    const result = what === 'refresh' ? await this.context.pool.refresh(key, 0) : await this.context.pool.revoke(key, false);
    this.context.log.info({ account: key, via: 'dashboard', action: what, state: result.state }, `dashboard ${what}`);
    const { ok, state, message, error } = result;
    json(request, 200, { ok, state, message, ...(error && { error: { code: error.code, message: error.message, at: error.at } }) });
  }
}

/** The daemon feature. */
export const installDashboard: Feature = (context) => new Dashboard(context).install();
