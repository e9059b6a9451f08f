import { availableParallelism } from 'node:os';
import { ConfigError, CONFIG_INVALID, formatProblem, type ConfigProblem } from './errors.js';
import { formatKeyPath } from './keypath.js';
import type { KeyLocator } from './locate.js';
import { defaultAdminSocket, defaultStateDir, expandPath, socketPathProblem, type Env } from './paths.js';
import { matchesAccountPattern, normalizeUser, socketServes } from './patterns.js';
import { resolveProviders, type ResolvedProviders } from './providers.js';
import { Report } from './report.js';
import { accountSchema, rootSchema, tableArraySchema, tableSchema, webSchema, type AccountInput } from './schema.js';
import { resolveSockets } from './sockets.js';
import { resolveStore } from './store.js';
import { resolveAppOnly } from '../secrets/app-only-config.js';
import { isTemplateUser } from '../templates/templates.js';
import { PROTOS, type AccountConfig, type Config, type SocketConfig } from './types.js';

/** Under exim's 5 s readsocket timeout, so exim sees our answer rather than its own timeout. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 4_000;
export const EXIM_READSOCKET_TIMEOUT_MS = 5_000;
export const DEFAULT_REFRESH_AHEAD_MS = 10 * 60_000;
export const DEFAULT_WEB_LISTEN = { host: '127.0.0.1', port: 8080 } as const;
export const MAX_WORKERS = 64;
/** How often auth_notify_cmd is run again while an account stays unauthenticated. */
export const DEFAULT_AUTH_NOTIFY_INTERVAL_MS = 15 * 60_000;

/**
 * Turns a parsed TOML document into a Config, or throws a ConfigError listing
 * every problem found. Each table is validated separately and the cross-key
 * rules run on whatever passed, so one mistake does not hide another.
 */
export function resolveConfig(doc: Record<string, unknown>, file: string, env: Env, locator: KeyLocator): Config {
  const report = new Report(locator);
  const root = report.check(rootSchema, doc, []);

  const stateDir = expandOr(root?.state_dir, env) ?? defaultStateDir(env);
  const adminSocket = expandOr(root?.admin_socket, env) ?? defaultAdminSocket(stateDir);
  const adminProblem = socketPathProblem(adminSocket);
  if (adminProblem !== undefined) report.error(['admin_socket'], adminProblem);

  const requestTimeoutMs = root?.request_timeout ?? DEFAULT_REQUEST_TIMEOUT_MS;
  if (requestTimeoutMs >= EXIM_READSOCKET_TIMEOUT_MS) {
    report.warn(['request_timeout'], "exim's readsocket gives up after 5s; a longer wait only helps other clients");
  }
  const refreshAheadMs = root?.refresh_ahead ?? DEFAULT_REFRESH_AHEAD_MS;

  const webTable = doc['web'] === undefined ? undefined : report.check(tableSchema, doc['web'], ['web']);
  const web = webTable === undefined ? undefined : report.check(webSchema, webTable, ['web']);
  const store = resolveStore(doc['store'], env, report);
  const resolved = resolveProviders(doc['provider'], report);
  const providers = resolved.providers;
  const sockets = resolveSockets(doc['socket'], env, stateDir, adminSocket, report);
  const all = resolveAccounts(doc['account'], resolved, refreshAheadMs, report, env);
  const accounts = all.filter((a) => !isTemplateUser(a.user));
  const templates = all.filter((a) => isTemplateUser(a.user));
  servedProtocols(accounts, sockets, report, templates);
  templateProtocols(templates, sockets);

  if (report.errors.length > 0) throw new ConfigError(CONFIG_INVALID, file, byLine(report.errors));
  return {
    file,
    stateDir,
    workers: root?.workers ?? Math.min(MAX_WORKERS, availableParallelism()),
    requestTimeoutMs,
    refreshAheadMs,
    logLevel: root?.log_level ?? 'info',
    adminSocket,
    notify: {
      ...(root?.auth_notify_cmd !== undefined && { authCmd: root.auth_notify_cmd }),
      authIntervalMs: root?.auth_notify_interval ?? DEFAULT_AUTH_NOTIFY_INTERVAL_MS,
      ...(root?.error_notify_cmd !== undefined && { errorCmd: root.error_notify_cmd }),
    },
    web: { listen: web?.listen ?? { ...DEFAULT_WEB_LISTEN } },
    store,
    sockets,
    accounts,
    ...(templates.length > 0 && { templates }),
    providers,
    warnings: byLine(report.warnings).map((w) => formatProblem(file, w)),
  };
}

function expandOr(path: string | undefined, env: Env): string | undefined {
  return path === undefined ? undefined : expandPath(path, env);
}

function resolveAccounts(
  raw: unknown,
  providers: ResolvedProviders,
  refreshAheadMs: number,
  report: Report,
  env: Env,
): AccountConfig[] {
  const tables = raw === undefined ? [] : (report.check(tableArraySchema, raw, ['account']) ?? []);
  if (tables.length === 0) report.warn(['account'], 'no [[account]] is configured; the daemon will serve nothing');
  const seen = new Map<string, number>();
  const accounts: AccountConfig[] = [];
  tables.forEach((table, index) => {
    const input = report.check(accountSchema, table, ['account', index]);
    if (input === undefined) return;
    const key = normalizeUser(input.user);
    const first = seen.get(key);
    if (first !== undefined) {
      const other = ['account', first];
      report.error(['account', index, 'user'], `duplicate account "${input.user}"; already defined as ${formatKeyPath(other)} (line ${report.line(other)})`);
    } else {
      seen.set(key, index);
    }
    const account = resolveAccount(input, index, providers, refreshAheadMs, report, env);
    if (account !== undefined) accounts.push(account);
  });
  return accounts;
}

function resolveAccount(
  input: AccountInput,
  index: number,
  { providers, broken }: ResolvedProviders,
  refreshAheadMs: number,
  report: Report,
  env: Env,
): AccountConfig | undefined {
  const at = ['account', index];
  if (broken.has(input.provider)) return undefined;
  if (!Object.hasOwn(providers, input.provider)) {
    const known = Object.keys(providers).sort().join(', ');
    report.error([...at, 'provider'], `unknown provider "${input.provider}"; known: ${known}`);
    return undefined;
  }
  const provider = providers[input.provider]!;
  const section = `[provider.${formatKeyPath([input.provider])}]`;
  // Secrets from *_file / *_env / *_cmd, and app-only credentials (src/secrets/app-only-config.ts).
  const appOnly = resolveAppOnly(input, provider, input.user, at, report, env);
  const clientSecret = appOnly?.clientSecret;
  const clientId = input.client_id ?? provider.clientId ?? appOnly?.serviceAccount?.clientEmail;
  let ok = appOnly !== undefined;
  if (isTemplateUser(input.user) && input.login_as !== undefined) {
    report.error([...at, 'login_as'], 'login_as cannot be set on a template: each address it creates is its own mailbox');
    ok = false;
  } else if (!isTemplateUser(input.user) && input.max_accounts !== undefined) {
    report.error([...at, 'max_accounts'], `max_accounts is only for templates (user = "@domain" or "*"), not ${input.user}`);
    ok = false;
  }
  if (clientId === undefined) {
    report.error([...at, 'client_id'], `no client_id for ${input.user}: set client_id here or in ${section}`);
    ok = false;
  }
  if (provider.type === 'google') {
    // Google refuses a token refresh without the secret, even for "installed" apps.
    if (clientSecret === undefined && appOnly?.auth !== 'service_account' && appOnly !== undefined) {
      report.error([...at, 'client_secret'], `no client_secret for ${input.user}: Google requires one; set it here or in ${section}`);
      ok = false;
    }
    for (const key of ['tenant', 'login_as'] as const) {
      if (input[key] !== undefined) {
        report.error([...at, key], `${key} is only for Microsoft accounts; ${input.user} uses the Google provider "${provider.name}"`);
        ok = false;
      }
    }
  }
  if (!ok || clientId === undefined) return undefined;
  return {
    user: input.user,
    provider: provider.name,
    providerType: provider.type,
    clientId,
    ...(clientSecret !== undefined && { clientSecret }),
    ...(provider.type === 'microsoft' && { tenant: input.tenant ?? provider.tenant }),
    refreshAheadMs: input.refresh_ahead ?? refreshAheadMs,
    ...(input.login_as !== undefined && { loginAs: input.login_as }),
    ...(input.max_accounts !== undefined && { maxAccounts: input.max_accounts }),
    ...(appOnly?.auth !== undefined && { auth: appOnly.auth }),
    ...(appOnly?.certificate !== undefined && { certificate: appOnly.certificate }),
    ...(appOnly?.serviceAccount !== undefined && { serviceAccount: appOnly.serviceAccount }),
    protocols: [],
  };
}

/**
 * Fills each account's protocols from the sockets that serve it, and warns
 * about accounts no socket serves and socket patterns that match no account:
 * both are allowed (a config may be half-written) but usually a typo.
 */
function servedProtocols(accounts: AccountConfig[], sockets: SocketConfig[], report: Report, templates: AccountConfig[] = []): void {
  accounts.forEach((account, index) => {
    const served = sockets.filter((s) => socketServes(s, account.user));
    account.protocols = sharedProtocols(PROTOS.filter((p) => served.some((s) => s.protocols.includes(p))));
    if (served.length === 0) report.warn(['account', index, 'user'], `no socket serves ${account.user}; its token is kept fresh but nobody can ask for it`);
  });
  sockets.forEach((socket, index) => {
    socket.accounts.forEach((pattern, j) => {
      // A pattern a domain template covers will match the accounts it creates.
      const templated = templates.some((t) => t.user === '*' || normalizeUser(t.user) === normalizeUser(pattern) || matchesAccountPattern(t.user, pattern));
      if (pattern !== '*' && !templated && !accounts.some((a) => matchesAccountPattern(pattern, a.user))) {
        report.warn(['socket', index, 'accounts', j], `"${pattern}" matches no configured account`);
      }
    });
  });
}

/** One list object per combination: a config with 50,000 accounts has a few, not 50,000. */
function sharedProtocols(protocols: AccountConfig['protocols']): AccountConfig['protocols'] {
  const key = protocols.join(',');
  let shared = protocolLists.get(key);
  if (!shared) protocolLists.set(key, (shared = Object.freeze(protocols) as AccountConfig['protocols']));
  return shared;
}
const protocolLists = new Map<string, AccountConfig['protocols']>();

/**
 * A template's protocols: those of every socket that could serve one of its
 * addresses (a `*` pattern, its domain, or an address at its domain).
 */
function templateProtocols(templates: AccountConfig[], sockets: SocketConfig[]): void {
  for (const t of templates) {
    const domain = t.user === '*' ? undefined : t.user.toLowerCase();
    const served = sockets.filter((s) =>
      s.accounts.some((p) => p === '*' || domain === undefined || p.toLowerCase() === domain || p.toLowerCase().endsWith(domain)),
    );
    t.protocols = PROTOS.filter((p) => served.some((s) => s.protocols.includes(p)));
  }
}

/** Problems in file order; those without a line last. */
function byLine(problems: readonly ConfigProblem[]): ConfigProblem[] {
  const rank = (p: ConfigProblem): number => (p.line > 0 ? p.line : Number.MAX_SAFE_INTEGER);
  return [...problems].sort((a, b) => rank(a) - rank(b));
}
