import { z } from 'zod';
import {
  accountPattern,
  address,
  authority,
  duration,
  fileMode,
  group,
  integer,
  listenAddress,
  pathText,
  protocol,
  quote,
  notifyCommand,
  instanceName,
  postgresUrl,
  tenant,
  text,
  url,
} from './fields.js';
import { LOG_LEVELS } from './types.js';
import { accountPatternProblem, isAddress } from './patterns.js';

/**
 * The TOML shape, one strict schema per table. Each table is checked on its
 * own (see resolve.ts) so one bad account does not hide the problems of the
 * others. Nested tables are `z.unknown()` here and checked by their own schema.
 */

/** exim's readsocket gives up after 5 s; waiting longer than a minute helps no client. */
export const MAX_REQUEST_TIMEOUT_MS = 60_000;

export const rootSchema = z.strictObject({
  state_dir: pathText.optional(),
  workers: integer(1, 64).optional(),
  request_timeout: duration({ positive: true, max: MAX_REQUEST_TIMEOUT_MS }),
  refresh_ahead: duration(),
  log_level: z.enum(LOG_LEVELS).optional(),
  admin_socket: pathText.optional(),
  auth_notify_cmd: notifyCommand,
  auth_notify_interval: duration({ positive: true }),
  error_notify_cmd: notifyCommand,
  web: z.unknown().optional(),
  store: z.unknown().optional(),
  socket: z.unknown().optional(),
  account: z.unknown().optional(),
  provider: z.unknown().optional(),
});

export const webSchema = z.strictObject({
  listen: listenAddress,
});

/** `[store]`: where grants live; the embedded file store unless PostgreSQL is named (src/config/store.ts). */
export const storeSchema = z.strictObject({
  postgres: postgresUrl,
  postgres_url_file: pathText.optional(),
  instance: instanceName.optional(),
  lease: duration({ positive: true }),
});

export const socketSchema = z.strictObject({
  path: pathText,
  mode: fileMode,
  group,
  protocols: z.array(protocol).min(1).optional(),
  accounts: z.array(accountPattern).min(1).optional(),
});

/** How an account gets tokens: a user's sign-in (default) or app-only credentials (doc/app-only.md). */
export const AUTH_KINDS = ['user', 'client_credentials', 'service_account'] as const;

/** Secrets may come from a file, an environment variable or a command instead of the config (src/secrets/). */
const secretKeys = {
  client_secret_file: pathText.optional(),
  client_secret_env: text().optional(),
  client_secret_cmd: notifyCommand,
};

/** App-only credentials, on an account or a provider section. */
const appOnlyKeys = {
  ...secretKeys,
  auth: z.enum(AUTH_KINDS).optional(),
  certificate_file: pathText.optional(),
  private_key_file: pathText.optional(),
  service_account_file: pathText.optional(),
};

export const accountSchema = z.strictObject({
  // An address, or a domain template: "@example.com" or "*" (src/templates/).
  user: text((v) => (v === '*' || v.startsWith('@') ? accountPatternProblem(v) : isAddress(v) ? undefined : `expected a mail address like alice@example.com, got ${quote(v)}`)),
  max_accounts: integer(1, 1_000_000).optional(),
  provider: text(),
  client_id: text().optional(),
  client_secret: text().optional(),
  tenant: tenant.optional(),
  refresh_ahead: duration(),
  login_as: address.optional(),
  ...appOnlyKeys,
});

const providerCommon = {
  // The type was already checked to pick this schema; here it is only allowed.
  type: z.string().optional(),
  client_id: text().optional(),
  client_secret: text().optional(),
  redirect_uri: url('any').optional(),
  max_concurrent_refreshes: integer(1, 1000).optional(),
  ...appOnlyKeys,
};

export const googleProviderSchema = z.strictObject({
  ...providerCommon,
  auth_url: url('endpoint').optional(),
  token_url: url('endpoint').optional(),
  revoke_url: url('endpoint').optional(),
});

export const microsoftProviderSchema = z.strictObject({
  ...providerCommon,
  authority,
  tenant: tenant.optional(),
});

/** An array of tables (`[[socket]]`, or `socket = [{...}]`). */
export const tableArraySchema = z.array(z.record(z.string(), z.unknown()));

/** A table (`[web]`, `[provider]`, `[provider.x]`). */
export const tableSchema = z.record(z.string(), z.unknown());

export type RootInput = z.output<typeof rootSchema>;
export type SocketInput = z.output<typeof socketSchema>;
export type AccountInput = z.output<typeof accountSchema>;
export type GoogleProviderInput = z.output<typeof googleProviderSchema>;
export type MicrosoftProviderInput = z.output<typeof microsoftProviderSchema>;
