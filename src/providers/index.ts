import type { ProviderConfig } from '../config/types.js';
import { GoogleProvider } from './google.js';
import { MicrosoftProvider } from './microsoft.js';
import type { ProviderClient } from './types.js';

export { ProviderError } from './errors.js';
export type { ProviderAccount, ProviderClient, RefreshOutcome } from './types.js';

/** One client per provider section; they hold no per-account state. */
export function createProvider(config: ProviderConfig): ProviderClient {
  return config.type === 'google'
    ? new GoogleProvider({ authUrl: config.authUrl, tokenUrl: config.tokenUrl })
    : new MicrosoftProvider({ authority: config.authority, tenant: config.tenant });
}
