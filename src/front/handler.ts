import type { SocketConfig } from '../config/types.js';
import { normalizeUser, socketServes } from '../config/patterns.js';
import type { AccountPool } from '../host/pool.js';
import type { Logger } from '../log.js';
import { escapeForLog, formatCheckedReply, formatErrorReply, formatReply, parseRequest, type TokenRequest } from '../protocol.js';
import type { TokenReplica } from './replica.js';

/** Every way a request can end; counted and logged, looked up in doc/errors.md. */
export type RequestResult =
  | 'ok'
  | 'bad-request'
  | 'too-long'
  | 'idle-timeout'
  | 'protocol-not-allowed'
  | 'account-not-allowed'
  | 'unknown-account'
  | 'needs-auth'
  | 'temporarily-unavailable';

export interface RequestOutcome {
  result: RequestResult;
  reply: Buffer;
}

/** A listening socket as the handler sees it: its config and a per-socket ACL cache. */
export interface SocketRoute {
  config: SocketConfig;
  /** `accounts = ["*"]` (the default): every account, no lookup per request. */
  servesEveryone: boolean;
  allowed: Map<string, boolean>;
}

/** A route for `config` (and after a reload changed it: a fresh one). */
export function socketRoute(config: SocketConfig): SocketRoute {
  return { config, servesEveryone: config.accounts.includes('*'), allowed: new Map() };
}

const EMPTY = Buffer.alloc(0);

/**
 * Turns one request into one reply. A good token in the replica answers at
 * once; anything else goes to the account's actor in its worker, bounded by
 * the request timeout.
 */
export class RequestHandler {
  #accounts: ReadonlySet<string>;
  /** Accounts made from domain templates since the last setAccounts (src/templates/). */
  #created = new Set<string>();
  /** Creates a template account for an unknown address; undefined when no template is configured. */
  #fromTemplate: ((user: string) => Promise<boolean>) | undefined;

  constructor(
    private readonly replica: TokenReplica,
    private readonly pool: AccountPool,
    accounts: Iterable<string>,
    private readonly requestTimeoutMs: number,
    private readonly log: Logger,
    private readonly onResult: (route: SocketRoute, proto: string, result: RequestResult, ms: number) => void = () => undefined,
  ) {
    this.#accounts = new Set(accounts);
  }

  /** The configured accounts the front serves now (templates' accounts not included). */
  accounts(): Iterable<string> {
    return this.#accounts;
  }

  /** After a reload: the accounts that exist now. */
  setAccounts(accounts: Iterable<string>): void {
    this.#accounts = new Set(accounts);
    this.#created = new Set();
  }

  /** Domain templates: asked only for addresses that are not configured accounts. */
  setTemplates(create: ((user: string) => Promise<boolean>) | undefined): void {
    this.#fromTemplate = create;
  }

  handle(route: SocketRoute, data: Buffer, started: number): RequestOutcome | Promise<RequestOutcome> {
    const parsed = parseRequest(data);
    if (!parsed.ok) {
      this.log.warn({ socket: route.config.path, result: parsed.code, reason: parsed.reason, ms: Date.now() - started }, 'bad request closed');
      return this.#done(route, '-', parsed.code, EMPTY, started);
    }
    const request = parsed.request;
    if (!route.config.protocols.includes(request.proto)) {
      return this.#refuse(route, request, 'protocol-not-allowed', `protocol ${request.proto} is not served on this socket`, started);
    }
    const key = normalizeUser(request.user);
    if (!this.#allowed(route, key)) {
      // The client is told the same as for an unknown account: a socket does not reveal others' accounts.
      return this.#refuse(route, request, 'account-not-allowed', `${key} is not served on this socket`, started);
    }
    if (!this.#accounts.has(key) && !this.#created.has(key)) {
      if (this.#fromTemplate !== undefined) return this.#viaTemplate(this.#fromTemplate, route, request, key, started);
      return this.#refuse(route, request, 'unknown-account', `${key} is not configured`, started);
    }
    const token = this.replica.usableToken(key, Date.now());
    // parseRequest checked the user and the replica checked the token: no need to check again per reply.
    if (token !== undefined) return this.#done(route, request.proto, 'ok', formatCheckedReply(request, token), started, key);
    return this.#slow(route, request, key, started);
  }

  /** First request for an address a template may cover: create its account, then serve as usual. */
  async #viaTemplate(
    create: (user: string) => Promise<boolean>,
    route: SocketRoute,
    request: TokenRequest,
    key: string,
    started: number,
  ): Promise<RequestOutcome> {
    let created: boolean;
    try {
      created = await create(request.user);
    } catch (error) {
      this.log.error({ account: key, error: error instanceof Error ? error.message : String(error) }, 'could not create the account from its template');
      return this.#refuse(route, request, 'temporarily-unavailable', `${key} could not be created from its template`, started);
    }
    if (!created) return this.#refuse(route, request, 'unknown-account', `${key} is not configured`, started);
    this.#created.add(key);
    return this.#slow(route, request, key, started);
  }

  async #slow(route: SocketRoute, request: TokenRequest, key: string, started: number): Promise<RequestOutcome> {
    const waitMs = Math.max(0, this.requestTimeoutMs - (Date.now() - started));
    let result;
    try {
      result = await withDeadline(this.pool.token(key, waitMs), waitMs + 500);
    } catch (error) {
      this.log.error({ account: key, error: error instanceof Error ? error.message : String(error) }, 'token request failed in its worker');
      result = undefined;
    }
    if (result === undefined) {
      return this.#refuse(route, request, 'temporarily-unavailable', `no answer for ${key} within ${waitMs} ms`, started);
    }
    if (result.kind === 'token') return this.#done(route, request.proto, 'ok', formatReply(request, result.accessToken), started, key);
    return this.#refuse(route, request, result.code, result.message, started);
  }

  #allowed(route: SocketRoute, key: string): boolean {
    // One lookup fewer in a 10,000-entry table per request (doc/benchmarks.md, sixth pass).
    if (route.servesEveryone) return true;
    let allowed = route.allowed.get(key);
    if (allowed === undefined) {
      allowed = socketServes(route.config, key);
      // Only accounts that exist are cached: a client asking for random addresses must not grow the map without bound.
      if (this.#accounts.has(key) || this.#created.has(key)) route.allowed.set(key, allowed);
    }
    return allowed;
  }

  #refuse(route: SocketRoute, request: TokenRequest, result: RequestResult, message: string, started: number): RequestOutcome {
    const account = escapeForLog(request.user);
    this.log.info({ socket: route.config.path, proto: request.proto, account, result, ms: Date.now() - started }, message);
    const clientCode = result === 'account-not-allowed' ? 'unknown-account' : result;
    const clientMessage = result === 'account-not-allowed' ? `${normalizeUser(request.user)} is not configured` : message;
    const reply = request.errReply ? formatErrorReply(clientCode, clientMessage) : EMPTY;
    return this.#done(route, request.proto, result, reply, started);
  }

  #done(route: SocketRoute, proto: string, result: RequestResult, reply: Buffer, started: number, account?: string): RequestOutcome {
    const ms = Date.now() - started;
    this.onResult(route, proto, result, ms);
    if (result === 'ok' && this.log.isLevelEnabled('debug')) {
      this.log.debug({ socket: route.config.path, proto, account, result, ms }, 'token served');
    }
    return { result, reply };
  }
}

function withDeadline<T>(work: Promise<T>, ms: number): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => resolve(undefined), ms);
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
