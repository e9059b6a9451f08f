import { stringField, type AdminRegistry } from '../admin/registry.js';
import type { AdminRequest } from '../admin/protocol.js';
import { normalizeUser } from '../config/patterns.js';
import type { DaemonContext } from '../daemon/context.js';
import { configuredKey } from '../daemon/core-commands.js';
import { MailtokendError } from '../errors.js';
import type { DeviceStartResult, SignInOutcome, SignInUrlResult } from '../host/messages.js';
import { aadstsCode, GOOGLE_DEVICE_UNSUPPORTED, oneLine } from '../providers/errors.js';
import { send, redirect, type WebRequest, type WebRoute } from '../web/server.js';
import { SignInAttempts, type AttemptStatus, type SignInMode } from './attempts.js';
import { dashboardPage } from '../dashboard/page.js';
import { confirmPage, resultPage } from './pages.js';
import { PENDING_LIFETIME_MS, PendingSignIns } from './pending.js';
import { callbackPaths, exactPath, redirectHosts, redirectUriOf } from './redirect.js';

/** The longest a `login-wait` holds its connection before answering "still pending". */
const MAX_WAIT_MS = 25_000;
const HTML = 'text/html; charset=utf-8';

/** What a finished callback or paste reports. */
export interface Completion {
  ok: boolean;
  code: string;
  message: string;
  user?: string;
}

export interface StartedSignIn {
  id: string;
  user: string;
  mode: SignInMode;
  /** Browser and paste: the provider URL to open. */
  url?: string;
  redirectUri?: string;
  /** Device: what to show. */
  userCode?: string;
  verificationUri?: string;
  message?: string;
  expiresAt: number;
}

/**
 * Signing accounts in, in the main thread: pending states and attempts, the
 * admin commands `mailtokend login` uses, and the web listener's account
 * list, `/auth/USER` and callback routes. Provider calls run in the
 * account's worker (ShardSignIn); nothing here ever holds a token.
 */
export class SignInService {
  readonly pending: PendingSignIns;
  readonly attempts: SignInAttempts;

  constructor(
    private readonly context: DaemonContext,
    now: () => number = Date.now,
  ) {
    this.pending = new PendingSignIns(now);
    this.attempts = new SignInAttempts(now);
  }

  install(): void {
    this.#registerAdmin(this.context.admin);
    const web = this.context.web;
    if (web) {
      web.addRoutes(this.routes());
      this.context.events.on('config', ({ reload }) => {
        if (reload) web.setExtraHosts(redirectHosts(this.context.config));
      });
    }
  }

  async start(user: string, mode: SignInMode): Promise<StartedSignIn> {
    const { config, pool, log, web } = this.context;
    const key = configuredKey(this.context, user);
    const account = config.accounts.find((a) => normalizeUser(a.user) === key)!;
    const provider = config.providers[account.provider]!;
    if (mode === 'device') {
      if (provider.type === 'google') throw new MailtokendError('device-unsupported', GOOGLE_DEVICE_UNSUPPORTED);
      return this.#startDevice(key, account.user);
    }
    if (mode === 'browser' && !web) {
      throw new MailtokendError(
        'web-unavailable',
        `the web listener is not running (the daemon log says why), so no browser can come back to it; use: mailtokend login --paste ${account.user}`,
      );
    }
    const redirectUri = redirectUriOf(provider, config, web);
    const id = this.attempts.create({ key, user: account.user, mode, lifetimeMs: PENDING_LIFETIME_MS });
    const pending = this.pending.create({ attempt: id, key, user: account.user, redirectUri });
    const result = (await pool.signIn({ op: 'signin-url', key, redirectUri, state: pending.state, codeChallenge: pending.codeChallenge })) as SignInUrlResult;
    if (!('url' in result)) {
      this.pending.dropAttempt(id);
      this.attempts.settle(id, result);
      throw new MailtokendError(result.code, `could not start the sign-in: ${result.message}`);
    }
    log.info({ account: key, mode, redirectUri }, 'sign-in started');
    return { id, user: account.user, mode, url: result.url, redirectUri, expiresAt: pending.expiresAt };
  }

  async #startDevice(key: string, user: string): Promise<StartedSignIn> {
    const { pool, log } = this.context;
    const id = this.attempts.create({ key, user, mode: 'device', lifetimeMs: 15 * 60_000 });
    this.attempts.setFlow(id, id);
    const started = (await pool.signIn({ op: 'device-start', key, flow: id })) as DeviceStartResult;
    if (!('prompt' in started)) {
      this.attempts.settle(id, started);
      throw new MailtokendError(started.code, `could not start the device sign-in: ${started.message}`);
    }
    log.info({ account: key, mode: 'device' }, 'sign-in started');
    void (pool.signIn({ op: 'device-wait', key, flow: id }) as Promise<SignInOutcome>).then(
      (outcome) => this.#finish(id, key, outcome, 'device'),
      (error: unknown) => this.#finish(id, key, { ok: false, code: 'worker-lost', message: errorText(error), state: 'unknown' }, 'device'),
    );
    const { prompt } = started;
    return {
      id,
      user,
      mode: 'device',
      userCode: prompt.userCode,
      verificationUri: prompt.verificationUri,
      message: prompt.message,
      expiresAt: Date.now() + prompt.expiresInMs,
    };
  }

  /**
   * A provider's redirect, from the browser (`via` web) or pasted into
   * `login --paste` (with its attempt). The state must exist, be unexpired,
   * belong to that attempt and have been sent to this path; only then is it
   * used up and the code redeemed in the account's worker.
   */
  async complete(params: URLSearchParams, path: string | undefined, via: 'web' | 'paste', attempt?: string): Promise<Completion> {
    const { log, pool } = this.context;
    const state = params.get('state');
    if (!state) return this.#refused(via, 'signin-no-state', 'the address has no state parameter: it is not a sign-in redirect of this daemon');
    const peeked = this.pending.peek(state);
    if (peeked && path !== undefined && new URL(peeked.redirectUri).pathname !== path) {
      return this.#refused(via, 'signin-wrong-path', `the redirect came to ${path}, but this sign-in was sent to ${new URL(peeked.redirectUri).pathname}`);
    }
    const taken = this.pending.take(state, attempt);
    if (!taken.ok) {
      const why =
        taken.reason === 'wrong-attempt'
          ? 'the address belongs to another sign-in than this one'
          : taken.reason === 'expired'
            ? 'the sign-in expired (10 minutes); start it again'
            : 'unknown or already used sign-in state; start the sign-in again';
      return this.#refused(via, taken.reason === 'expired' ? 'signin-expired' : 'signin-bad-state', why);
    }
    const { pending } = taken;
    const error = params.get('error');
    if (error) {
      const description = oneLine(params.get('error_description') ?? '');
      const code = aadstsCode(description) ?? error;
      const outcome: SignInOutcome = { ok: false, code, message: `the provider refused the sign-in: ${error}${description ? ` (${description})` : ''}`, state: 'unknown' };
      this.#finish(pending.attempt, pending.key, outcome, via);
      return { ok: false, code, message: outcome.message, user: pending.user };
    }
    const code = params.get('code');
    if (!code) {
      const outcome: SignInOutcome = { ok: false, code: 'signin-no-code', message: 'the redirect carried neither a code nor an error', state: 'unknown' };
      this.#finish(pending.attempt, pending.key, outcome, via);
      return { ok: false, code: outcome.code, message: outcome.message, user: pending.user };
    }
    let outcome: SignInOutcome;
    try {
      outcome = (await pool.signIn({ op: 'signin-redeem', key: pending.key, code, redirectUri: pending.redirectUri, codeVerifier: pending.codeVerifier })) as SignInOutcome;
    } catch (err) {
      outcome = { ok: false, code: 'worker-lost', message: errorText(err), state: 'unknown' };
    }
    this.#finish(pending.attempt, pending.key, outcome, via);
    log.debug({ account: pending.key }, 'sign-in callback handled');
    return { ok: outcome.ok, code: outcome.code, message: outcome.message, user: pending.user };
  }

  /** A pasted address: the full URL the browser ended on, or just its query. */
  async paste(id: string, text: string): Promise<AttemptStatus> {
    const attempt = this.attempts.get(id);
    if (!attempt) throw new MailtokendError('signin-unknown', 'no such sign-in (it ended more than 10 minutes ago, or the daemon restarted); start again');
    if (attempt.status !== 'pending') return attempt;
    const pasted = parsePasted(text);
    if (!pasted) throw new MailtokendError('signin-bad-paste', "that is not an address: paste the whole address from the browser's address bar");
    const done = await this.complete(pasted.params, pasted.path, 'paste', id);
    const now = this.attempts.get(id);
    // A refusal that did not end the attempt (wrong or used state) is this paste's answer alone.
    if (!done.ok && now?.status === 'pending') return { ...now, status: 'failed', code: done.code, message: done.message };
    return now ?? { id, user: attempt.user, mode: attempt.mode, status: done.ok ? 'ok' : 'failed', code: done.code, message: done.message };
  }

  cancel(id: string): void {
    const attempt = this.attempts.get(id);
    if (!attempt || attempt.status !== 'pending') return;
    this.pending.dropAttempt(id);
    if (attempt.flow) void this.context.pool.signIn({ op: 'device-cancel', key: attempt.key, flow: attempt.flow }).catch(() => undefined);
    this.attempts.settle(id, { ok: false, code: 'cancelled', message: 'the sign-in was cancelled' });
  }

  #finish(attempt: string, key: string, outcome: SignInOutcome, via: string): void {
    this.attempts.settle(attempt, outcome);
    this.pending.dropAttempt(attempt);
    if (outcome.ok) this.context.log.info({ account: key, via, identity: outcome.identity, to: outcome.state }, 'account signed in');
    else this.context.log.warn({ account: key, via, error: outcome.code, detail: outcome.message }, 'sign-in failed; the account is unchanged');
  }

  #refused(via: string, code: string, message: string): Completion {
    this.context.log.warn({ via, error: code, detail: message }, 'sign-in redirect refused; no account touched');
    return { ok: false, code, message };
  }

  #registerAdmin(admin: AdminRegistry): void {
    admin.register('login-start', async (request) => {
      const mode = modeOf(request);
      return { ...(await this.start(stringField(request, 'user'), mode)) };
    });
    admin.register('login-wait', async (request) => {
      const id = stringField(request, 'id');
      const waitMs = typeof request.waitMs === 'number' ? Math.min(Math.max(0, request.waitMs), MAX_WAIT_MS) : MAX_WAIT_MS;
      const status = await this.attempts.wait(id, waitMs);
      if (!status) throw new MailtokendError('signin-unknown', 'no such sign-in (it ended long ago, or the daemon restarted); start again');
      return { attempt: publicStatus(status) };
    });
    admin.register('login-paste', async (request) => ({
      attempt: publicStatus(await this.paste(stringField(request, 'id'), stringField(request, 'url'))),
    }));
    admin.register('login-cancel', async (request) => {
      this.cancel(stringField(request, 'id'));
      return {};
    });
  }

  routes(): WebRoute[] {
    const service = this;
    const callback: WebRoute = {
      method: 'GET',
      // Computed per request: redirect URIs change with a reload.
      get path() {
        const paths = callbackPaths(service.context.config, service.context.web);
        paths.delete('/');
        return exactPath(paths);
      },
      handle: (request) => this.#callbackPage(request),
    };
    return [
      { method: 'GET', path: /^\/$/, handle: (request) => this.#index(request) },
      { method: 'GET', path: /^\/auth\/([^/]+)$/, handle: (request) => this.#auth(request, false) },
      { method: 'POST', path: /^\/auth\/([^/]+)$/, handle: (request) => this.#auth(request, true) },
      callback,
    ];
  }

  async #index(request: WebRequest): Promise<void> {
    const { url } = request;
    // A redirect URI of http://localhost:PORT/ (Microsoft's desktop default) comes back to the root.
    if ((url.searchParams.has('state') || url.searchParams.has('code') || url.searchParams.has('error')) && callbackPaths(this.context.config, this.context.web).has('/')) {
      return this.#callbackPage(request);
    }
    const accounts = await this.context.pool.status();
    // The dashboard (src/dashboard/): the account list with its Sign in links, live.
    send(request.res, 200, HTML, dashboardPage(accounts, Date.now(), url.searchParams));
  }

  async #auth(request: WebRequest, confirmed: boolean): Promise<void> {
    const user = request.params[0] ?? '';
    const site = request.req.headers['sec-fetch-site'];
    // Another site may link here, but only a click on our own page starts a sign-in from there.
    if (!confirmed && (site === 'cross-site' || site === 'same-site')) return send(request.res, 200, HTML, confirmPage(user));
    let started: StartedSignIn;
    try {
      started = await this.start(user, 'browser');
    } catch (error) {
      const status = error instanceof MailtokendError && error.code === 'unknown-account' ? 404 : 502;
      return send(request.res, status, HTML, resultPage(false, `Cannot sign ${user} in`, errorText(error)));
    }
    redirect(request.res, started.url!);
  }

  async #callbackPage(request: WebRequest): Promise<void> {
    const done = await this.complete(request.url.searchParams, request.url.pathname, 'web');
    const who = done.user ?? 'the account';
    if (done.ok) return send(request.res, 200, HTML, resultPage(true, `${who} is signed in`, 'mailtokend stored the new grant and serves tokens for this account now.'));
    send(request.res, 400, HTML, resultPage(false, `Sign-in of ${who} failed`, `${done.message} [${done.code}]`));
  }
}

/** The daemon feature: sign-in admin commands and web routes. */
export function installSignIn(context: DaemonContext): void {
  new SignInService(context).install();
}

function modeOf(request: AdminRequest): SignInMode {
  const mode = request.mode ?? 'browser';
  if (mode === 'browser' || mode === 'paste' || mode === 'device') return mode;
  throw new MailtokendError('admin-bad-request', '"login-start" takes mode "browser", "paste" or "device"');
}

function publicStatus(status: AttemptStatus & { key?: string; flow?: string }): AttemptStatus {
  const { id, user, mode, status: s, code, message, identity } = status;
  return { id, user, mode, status: s, ...(code !== undefined && { code }), ...(message !== undefined && { message }), ...(identity !== undefined && { identity }) };
}

/**
 * Accepts a full URL (any host: the page may have failed to load), or only
 * its query (`?code=…&state=…`), which has no path to check.
 */
export function parsePasted(text: string): { params: URLSearchParams; path?: string } | undefined {
  const trimmed = text.trim().replace(/^<|>$/g, '');
  if (trimmed === '') return undefined;
  try {
    const url = new URL(trimmed);
    return { params: url.searchParams, path: url.pathname };
  } catch {
    const query = trimmed.startsWith('?') ? trimmed.slice(1) : trimmed;
    if (!/(^|&)state=/.test(query)) return undefined;
    return { params: new URLSearchParams(query) };
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
