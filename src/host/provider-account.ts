import type { ProviderAccount } from '../providers/types.js';
import type { AccountSpec } from './messages.js';

/** What a provider call needs of an account (no store or scheduling state). */
export function providerAccount(spec: AccountSpec): ProviderAccount {
  return {
    user: spec.user,
    loginAs: spec.loginAs,
    providerName: spec.provider.name,
    clientId: spec.clientId,
    clientSecret: spec.clientSecret,
    tenant: spec.tenant,
    protocols: spec.protocols,
    ...(spec.auth !== undefined && { auth: spec.auth }),
    ...(spec.certificate !== undefined && { certificate: spec.certificate }),
    ...(spec.serviceAccount !== undefined && { serviceAccount: spec.serviceAccount }),
  };
}
