import { accountPatternProblem, matchesAccountPattern, normalizeUser } from '../config/patterns.js';
import type { AccountConfig, Config, ProviderConfig } from '../config/types.js';
import type { AccountSpec } from '../host/messages.js';

/**
 * Domain templates (doc/app-only.md): an `[[account]]` whose `user` is
 * `"@example.com"` or `"*"` is not an account but a template; the first
 * request for an address it matches creates that account, up to
 * `max_accounts` per template. With app-only credentials (client
 * credentials, service account) one config entry serves a whole domain.
 */

export const DEFAULT_TEMPLATE_MAX_ACCOUNTS = 1000;

export function isTemplateUser(user: string): boolean {
  return user === '*' || user.startsWith('@');
}

/** The problem with a template `user`, or undefined (same rules as socket patterns). */
export function templateUserProblem(user: string): string | undefined {
  return accountPatternProblem(user);
}

/** The spec of the account a template makes for `address`. */
export function templateSpec(template: AccountConfig, provider: ProviderConfig, address: string): AccountSpec {
  return {
    key: normalizeUser(address),
    user: address,
    loginAs: undefined,
    provider,
    clientId: template.clientId,
    clientSecret: template.clientSecret,
    tenant: template.tenant,
    protocols: template.protocols,
    refreshAheadMs: template.refreshAheadMs,
    ...(template.auth !== undefined && { auth: template.auth }),
    ...(template.certificate !== undefined && { certificate: template.certificate }),
    ...(template.serviceAccount !== undefined && { serviceAccount: template.serviceAccount }),
  };
}

export interface TemplateLog {
  info(fields: Record<string, unknown>, msg: string): void;
  warn(fields: Record<string, unknown>, msg: string): void;
}

/** What the manager needs from the pool. */
export interface AccountAdder {
  add(spec: AccountSpec): Promise<void>;
}

interface Live {
  template: AccountConfig;
  created: Map<string, AccountSpec>;
  /** Warned once that the cap is reached (then again after a reload). */
  capLogged: boolean;
}

/**
 * Creates template accounts on demand, main thread. Only consulted for
 * addresses that are not configured accounts, so the socket's fast path never
 * sees it. One creation per address at a time; a full template refuses with
 * one clear warning line.
 */
export class TemplateManager {
  #live: Live[] = [];
  #providers: Record<string, ProviderConfig> = {};
  readonly #pending = new Map<string, Promise<boolean>>();

  constructor(
    config: Config,
    private readonly pool: AccountAdder,
    private readonly log: TemplateLog,
  ) {
    this.apply(config);
  }

  get active(): boolean {
    return this.#live.length > 0;
  }

  /**
   * After a reload: the templates that exist now. Accounts a kept template
   * created (same template user) stay, unless a real account now takes
   * their address. Returns their specs, for the pool's new account list.
   */
  apply(config: Config): AccountSpec[] {
    const configured = new Set(config.accounts.map((a) => normalizeUser(a.user)));
    const previous = new Map(this.#live.map((l) => [normalizeUser(l.template.user), l]));
    this.#providers = config.providers;
    this.#live = (config.templates ?? []).map((template) => {
      const old = previous.get(normalizeUser(template.user));
      const created = new Map<string, AccountSpec>();
      const provider = config.providers[template.provider];
      if (old && provider) {
        for (const spec of old.created.values()) {
          if (!configured.has(spec.key) && created.size < (template.maxAccounts ?? DEFAULT_TEMPLATE_MAX_ACCOUNTS)) {
            created.set(spec.key, templateSpec(template, provider, spec.user));
          }
        }
      }
      return { template, created, capLogged: false };
    });
    return this.#live.flatMap((l) => [...l.created.values()]);
  }

  /** How many accounts each template made, for status. */
  counts(): Array<{ template: string; accounts: number; max: number }> {
    return this.#live.map((l) => ({ template: l.template.user, accounts: l.created.size, max: l.template.maxAccounts ?? DEFAULT_TEMPLATE_MAX_ACCOUNTS }));
  }

  /**
   * The account for `user` if a template matches it: created now (true), or
   * refused (false: no template matches, or the matching one is full).
   * Templates are tried in config order; the first match decides.
   */
  ensure(user: string): Promise<boolean> {
    const key = normalizeUser(user);
    for (const live of this.#live) if (live.created.has(key)) return Promise.resolve(true);
    const pending = this.#pending.get(key);
    if (pending) return pending;
    const live = this.#live.find((l) => matchesAccountPattern(l.template.user, key));
    if (!live) return Promise.resolve(false);
    const max = live.template.maxAccounts ?? DEFAULT_TEMPLATE_MAX_ACCOUNTS;
    if (live.created.size + this.#pendingFor(live) >= max) {
      const fields = { template: live.template.user, account: key, max_accounts: max };
      if (!live.capLogged) this.log.warn(fields, `template ${live.template.user} reached max_accounts = ${max}; refusing new addresses until it is raised`);
      else this.log.info(fields, `template ${live.template.user} is full (max_accounts = ${max}); account not created`);
      live.capLogged = true;
      return Promise.resolve(false);
    }
    const provider = this.#providers[live.template.provider];
    if (!provider) return Promise.resolve(false);
    const spec = templateSpec(live.template, provider, user);
    const work = this.pool
      .add(spec)
      .then(() => {
        live.created.set(key, spec);
        this.log.info({ template: live.template.user, account: key, accounts: live.created.size, max_accounts: max }, 'account created from template');
        return true;
      })
      .finally(() => this.#pending.delete(key));
    this.#pending.set(key, work);
    return work;
  }

  #pendingFor(live: Live): number {
    let n = 0;
    for (const key of this.#pending.keys()) if (matchesAccountPattern(live.template.user, key)) n++;
    return n;
  }
}
