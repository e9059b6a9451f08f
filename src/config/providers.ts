import { quote } from './fields.js';
import type { Report } from './report.js';
import { appOnlyDefaults, type AppOnlyInput } from '../secrets/app-only-config.js';
import { googleProviderSchema, microsoftProviderSchema, tableSchema } from './schema.js';
import type { GoogleProviderConfig, MicrosoftProviderConfig, ProviderConfig, ProviderType } from './types.js';

/** Google's public endpoints; a section may point them at a test provider. */
export const GOOGLE_DEFAULTS = {
  authUrl: 'https://accounts.google.com/o/oauth2/v2/auth',
  tokenUrl: 'https://oauth2.googleapis.com/token',
  revokeUrl: 'https://oauth2.googleapis.com/revoke',
} as const;

export const MICROSOFT_DEFAULTS = {
  authority: 'https://login.microsoftonline.com',
  tenant: 'common',
} as const;

/** Enough to keep thousands of accounts moving without looking like abuse to the provider. */
export const DEFAULT_MAX_CONCURRENT_REFRESHES = 16;

const TYPES: readonly ProviderType[] = ['google', 'microsoft'];

function isProviderType(value: unknown): value is ProviderType {
  return TYPES.some((t) => t === value);
}

export interface ResolvedProviders {
  providers: Record<string, ProviderConfig>;
  /**
   * Sections that exist but were refused. Accounts naming them are not
   * checked further: "unknown provider" or "no client_id" would only repeat
   * the section's own problem in misleading words.
   */
  broken: Set<string>;
}

/**
 * The `[provider.*]` sections, resolved. `google` and `microsoft` always exist
 * (with defaults when absent) so an account can name them without a section;
 * any other name is a further provider of an explicit `type` (a national
 * cloud, a second app registration, a test provider).
 */
export function resolveProviders(raw: unknown, report: Report): ResolvedProviders {
  const providers: Record<string, ProviderConfig> = {
    google: google('google', {}),
    microsoft: microsoft('microsoft', {}),
  };
  const broken = new Set<string>();
  const sections = raw === undefined ? {} : report.check(tableSchema, raw, ['provider']);
  for (const [name, section] of Object.entries(sections ?? {})) {
    const path = ['provider', name];
    const table = report.check(tableSchema, section, path);
    const type = table === undefined ? undefined : providerType(name, table['type'], report);
    let provider: ProviderConfig | undefined;
    if (type === 'google') {
      const input = report.check(googleProviderSchema, table, path);
      provider = input && google(name, input);
    } else if (type === 'microsoft') {
      const input = report.check(microsoftProviderSchema, table, path);
      provider = input && microsoft(name, input);
    }
    if (provider === undefined) broken.add(name);
    else providers[name] = provider;
  }
  return { providers, broken };
}

/** The section's type: implied by the built-in names, required for any other. */
function providerType(name: string, type: unknown, report: Report): ProviderType | undefined {
  const path = ['provider', name, 'type'];
  if (type !== undefined && !isProviderType(type)) {
    report.error(path, `expected one of ${TYPES.join(', ')}, got ${typeof type === 'string' ? quote(type) : String(type)}`);
    return undefined;
  }
  if (isProviderType(name)) {
    if (type !== undefined && type !== name) {
      report.error(path, `the built-in provider "${name}" is always of type "${name}"; give a ${type} provider its own section name`);
      return undefined;
    }
    return name;
  }
  if (type === undefined) report.error(path, `missing required key: provider "${name}" needs type = "google" or "microsoft"`);
  return type;
}

interface CommonInput extends AppOnlyInput {
  client_id?: string | undefined;
  client_secret?: string | undefined;
  redirect_uri?: string | undefined;
  max_concurrent_refreshes?: number | undefined;
}

function common(name: string, input: CommonInput) {
  return {
    name,
    ...(input.client_id !== undefined && { clientId: input.client_id }),
    ...(input.client_secret !== undefined && { clientSecret: input.client_secret }),
    ...(input.redirect_uri !== undefined && { redirectUri: input.redirect_uri }),
    maxConcurrentRefreshes: input.max_concurrent_refreshes ?? DEFAULT_MAX_CONCURRENT_REFRESHES,
    ...appOnlyDefaults(input),
  };
}

function google(
  name: string,
  input: CommonInput & { auth_url?: string | undefined; token_url?: string | undefined; revoke_url?: string | undefined },
): GoogleProviderConfig {
  return {
    ...common(name, input),
    type: 'google',
    authUrl: input.auth_url ?? GOOGLE_DEFAULTS.authUrl,
    tokenUrl: input.token_url ?? GOOGLE_DEFAULTS.tokenUrl,
    revokeUrl: input.revoke_url ?? GOOGLE_DEFAULTS.revokeUrl,
  };
}

function microsoft(name: string, input: CommonInput & { authority?: string | undefined; tenant?: string | undefined }): MicrosoftProviderConfig {
  return {
    ...common(name, input),
    type: 'microsoft',
    authority: input.authority ?? MICROSOFT_DEFAULTS.authority,
    tenant: input.tenant ?? MICROSOFT_DEFAULTS.tenant,
  };
}
