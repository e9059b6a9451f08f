import type { Config } from './config/types.js';
import { normalizeUser } from './config/patterns.js';
import type { AccountSpec } from './host/messages.js';

/** The per-account data a worker needs, resolved from the config. */
export function accountSpecs(config: Config): AccountSpec[] {
  return config.accounts.map((account) => {
    const provider = config.providers[account.provider];
    if (!provider) throw new Error(`account ${account.user}: provider ${account.provider} missing after validation`);
    const normalized = normalizeUser(account.user);
    return {
      // The address itself when it is already normal: one string for both, per account.
      key: normalized === account.user ? account.user : normalized,
      user: account.user,
      loginAs: account.loginAs,
      provider,
      clientId: account.clientId,
      clientSecret: account.clientSecret,
      tenant: account.tenant,
      protocols: account.protocols,
      refreshAheadMs: account.refreshAheadMs,
      ...(account.auth !== undefined && { auth: account.auth }),
      ...(account.certificate !== undefined && { certificate: account.certificate }),
      ...(account.serviceAccount !== undefined && { serviceAccount: account.serviceAccount }),
    };
  });
}
