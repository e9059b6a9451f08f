import { ConfidentialClientApplication, LogLevel } from '@azure/msal-node';
import { aadstsCode, ProviderError } from './errors.js';
import { tracedNetworkClient, type ResponseTrace } from './http.js';
import { classifyMsalError } from './microsoft.js';
import { DEFAULT_EXPIRES_IN_MS, type ProviderAccount, type RefreshOutcome } from './types.js';

/**
 * The Outlook resource of each Microsoft cloud, keyed by the authority host:
 * app-only tokens are asked for `{resource}/.default` (Exchange Online's
 * SMTP.SendAsApp, IMAP.AccessAsApp, POP.AccessAsApp application permissions).
 */
const OUTLOOK_RESOURCE: Record<string, string> = {
  'login.microsoftonline.com': 'https://outlook.office365.com',
  'login.microsoftonline.us': 'https://outlook.office365.us',
  'login.partner.microsoftonline.cn': 'https://partner.outlook.cn',
  'login.chinacloudapi.cn': 'https://partner.outlook.cn',
};

export function appOnlyScope(authority: string): string {
  const host = new URL(authority).host;
  return `${OUTLOOK_RESOURCE[host] ?? OUTLOOK_RESOURCE['login.microsoftonline.com']}/.default`;
}

/**
 * Entra answers that no retry can fix: the app's credentials or its standing
 * in the tenant are wrong, and an operator must act. The account goes
 * `unauthenticated` with the provider's error.
 */
const APP_REFUSED = new Set([
  'AADSTS90002', // tenant not found
  'AADSTS50059', // no tenant in the request
  'AADSTS700016', // app not found in the directory (no service principal / consent)
  'AADSTS7000215', // invalid client secret
  'AADSTS7000222', // client secret expired
  'AADSTS7000218', // no credential sent
  'AADSTS700027', // client assertion refused (signature, key unknown)
  'AADSTS700024', // client assertion outside its time range
  'AADSTS65001', // consent missing
  'AADSTS500011', // resource principal not found in the tenant
  'AADSTS1002012', // scope not {resource}/.default
  'AADSTS7000112', // application disabled
]);

export type MetadataSource = (authority: string, signal: AbortSignal) => Promise<string>;

/**
 * One app-only token through msal-node's ConfidentialClientApplication
 * (`acquireTokenByClientCredential`). `skipCache`: the account machine decides
 * when a token is due, so msal must not answer from its own cache. A new
 * client per call keeps accounts apart (msal-node would otherwise reuse one
 * client assertion for 10 minutes, which is harmless but hides key rotation).
 */
export async function acquireClientCredentials(
  account: ProviderAccount,
  settings: { authority: string; tenant: string; now?: () => number },
  metadata: MetadataSource,
  signal: AbortSignal,
): Promise<RefreshOutcome> {
  const now = settings.now ?? Date.now;
  const tenant = account.tenant ?? settings.tenant;
  const authority = `${settings.authority.replace(/\/+$/, '')}/${tenant}`;
  const trace: ResponseTrace = {};
  const scopes = [appOnlyScope(settings.authority)];
  try {
    const authorityMetadata = await metadata(authority, signal);
    const credential = account.certificate
      ? { clientCertificate: { thumbprintSha256: account.certificate.thumbprintSha256, privateKey: account.certificate.privateKey } }
      : account.clientSecret
        ? { clientSecret: account.clientSecret }
        : undefined;
    if (credential === undefined) {
      throw new ProviderError('revoked', 'no-credential', `no client secret or certificate configured for ${account.user}`);
    }
    const app = new ConfidentialClientApplication({
      auth: { clientId: account.clientId, authority, knownAuthorities: [new URL(authority).host], authorityMetadata, ...credential },
      system: {
        networkClient: tracedNetworkClient(signal, trace),
        loggerOptions: { logLevel: LogLevel.Error, piiLoggingEnabled: false, loggerCallback: () => undefined },
      },
    });
    const result = await app.acquireTokenByClientCredential({ scopes, skipCache: true });
    if (!result || typeof result.accessToken !== 'string' || result.accessToken.length === 0) {
      throw new ProviderError('transient', 'bad-response', 'token response had no access_token');
    }
    const expiresInMs = result.expiresOn ? result.expiresOn.getTime() - now() : DEFAULT_EXPIRES_IN_MS;
    return { accessToken: result.accessToken, expiresInMs: expiresInMs > 0 ? expiresInMs : DEFAULT_EXPIRES_IN_MS, scopes: result.scopes };
  } catch (error) {
    const classified = classifyMsalError(error, trace, now());
    const aadsts = aadstsCode(classified.message) ?? classified.providerCode;
    // msal-node's own refusals before any request (e.g. missing_tenant_id_error) are configuration errors too.
    const code = (error as { errorCode?: unknown } | null)?.errorCode;
    if (classified.kind === 'transient' && (APP_REFUSED.has(aadsts) || code === 'missing_tenant_id_error' || code === 'invalid_client')) {
      throw new ProviderError('revoked', aadsts, classified.message, { status: classified.status, cause: error });
    }
    throw classified;
  }
}
