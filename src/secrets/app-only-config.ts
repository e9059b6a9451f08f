import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { expandPath, type Env } from '../config/paths.js';
import type { Report } from '../config/report.js';
import type {
  AppOnlyAuth,
  CertificateCredential,
  ProviderAppOnlyDefaults,
  ProviderConfig,
  ServiceAccountKey,
} from '../config/types.js';
import { describeSource, pickSource, readSecret, SecretError } from './secrets.js';

/** The app-only and secret-source keys, as they appear in an account or provider table. */
export interface AppOnlyInput {
  client_secret_file?: string | undefined;
  client_secret_env?: string | undefined;
  client_secret_cmd?: string[] | undefined;
  auth?: 'user' | AppOnlyAuth | undefined;
  certificate_file?: string | undefined;
  private_key_file?: string | undefined;
  service_account_file?: string | undefined;
}

/** A provider section's app-only keys, kept for its accounts to inherit. */
export function appOnlyDefaults(input: AppOnlyInput): { appOnly?: ProviderAppOnlyDefaults } {
  const d: ProviderAppOnlyDefaults = {
    ...(input.auth !== undefined && { auth: input.auth }),
    ...(input.client_secret_file !== undefined && { clientSecretFile: input.client_secret_file }),
    ...(input.client_secret_env !== undefined && { clientSecretEnv: input.client_secret_env }),
    ...(input.client_secret_cmd !== undefined && { clientSecretCmd: input.client_secret_cmd }),
    ...(input.certificate_file !== undefined && { certificateFile: input.certificate_file }),
    ...(input.private_key_file !== undefined && { privateKeyFile: input.private_key_file }),
    ...(input.service_account_file !== undefined && { serviceAccountFile: input.service_account_file }),
  };
  return Object.keys(d).length > 0 ? { appOnly: d } : {};
}

export interface AppOnlyResolved {
  clientSecret?: string;
  auth?: AppOnlyAuth;
  certificate?: CertificateCredential;
  serviceAccount?: ServiceAccountKey;
}

/** Tenants msal-node refuses for client credentials (`missing_tenant_id_error`): they name no directory. */
const MULTI_TENANT = new Set(['common', 'organizations', 'consumers']);

export const MICROSOFT_APP_ONLY_SCOPE_HOST = 'https://outlook.office365.com';

type KeyPath = (string | number)[];

/**
 * Resolves an account's secret and app-only credentials: the account's own
 * keys win over its provider section's (a secret set on the account in any
 * form replaces the section's in any form). Files and commands are read here,
 * once per config load; their contents never reach a message.
 */
export function resolveAppOnly(
  input: AppOnlyInput & { client_secret?: string | undefined; tenant?: string | undefined; login_as?: string | undefined },
  provider: ProviderConfig,
  user: string,
  at: KeyPath,
  report: Report,
  env: Env,
): AppOnlyResolved | undefined {
  const d = provider.appOnly ?? {};
  let ok = true;
  const fail = (key: string, message: string): void => {
    report.error([...at, key], message);
    ok = false;
  };

  // The secret: account keys first, else the section's.
  const own = pickSource({ value: input.client_secret, file: input.client_secret_file, env: input.client_secret_env, cmd: input.client_secret_cmd }, 'client_secret');
  const inherited = pickSource(
    { value: provider.clientSecret, file: d.clientSecretFile, env: d.clientSecretEnv, cmd: d.clientSecretCmd },
    'client_secret',
  );
  let clientSecret: string | undefined;
  if (typeof own === 'string') fail('client_secret', own);
  else if (typeof inherited === 'string') fail('client_secret', `${inherited} in [provider.${provider.name}]`);
  else {
    const source = own ?? inherited;
    if (source !== undefined) {
      const key = source.kind === 'value' ? 'client_secret' : `client_secret_${source.kind}`;
      const expanded = source.kind === 'file' ? { ...source, path: expandPath(source.path, env) ?? source.path } : source;
      try {
        clientSecret = readSecret(expanded, env);
      } catch (error) {
        if (!(error instanceof SecretError)) throw error;
        fail(key, `no client_secret for ${user}: ${describeSource(expanded)}: ${error.message}`);
      }
    }
  }

  const auth = input.auth ?? d.auth ?? 'user';
  const certFile = input.certificate_file ?? (input.private_key_file === undefined ? d.certificateFile : undefined);
  const keyFile = input.private_key_file ?? (input.certificate_file === undefined ? d.privateKeyFile : undefined);
  const saFile = input.service_account_file ?? d.serviceAccountFile;
  const out: AppOnlyResolved = { ...(clientSecret !== undefined && { clientSecret }) };

  if (auth === 'user') {
    for (const [key, value] of [['certificate_file', input.certificate_file], ['private_key_file', input.private_key_file], ['service_account_file', input.service_account_file]] as const) {
      if (value !== undefined) fail(key, `${key} needs auth = "${key === 'service_account_file' ? 'service_account' : 'client_credentials'}"`);
    }
    return ok ? out : undefined;
  }
  if (auth === 'client_credentials') {
    if (provider.type !== 'microsoft') {
      fail('auth', `auth = "client_credentials" is for Microsoft accounts; for Google use auth = "service_account"`);
      return undefined;
    }
    const tenant = input.tenant ?? provider.tenant;
    if (MULTI_TENANT.has(tenant.toLowerCase())) {
      fail('tenant', `client credentials need the tenant of the mailboxes (a GUID or domain), not "${tenant}"; set tenant here or in [provider.${provider.name}]`);
    }
    if (input.login_as !== undefined) fail('login_as', 'login_as has no meaning with app-only credentials: the app, not a user, signs in');
    if (saFile !== undefined && input.service_account_file !== undefined) fail('service_account_file', 'service_account_file is for Google service accounts');
    if ((certFile === undefined) !== (keyFile === undefined)) {
      fail(certFile === undefined ? 'certificate_file' : 'private_key_file', 'a certificate needs both certificate_file and private_key_file');
    } else if (certFile !== undefined && keyFile !== undefined) {
      if (clientSecret !== undefined) fail('client_secret', 'set either a client secret or a certificate, not both');
      const certificate = readCertificate(expandPath(certFile, env) ?? certFile, expandPath(keyFile, env) ?? keyFile);
      if (typeof certificate === 'string') fail('certificate_file', certificate);
      else out.certificate = certificate;
    } else if (clientSecret === undefined) {
      fail('client_secret', `no credential for ${user}: client credentials need client_secret (or client_secret_file/_env/_cmd) or certificate_file + private_key_file`);
    }
    out.auth = 'client_credentials';
    return ok ? out : undefined;
  }
  // service_account
  if (provider.type !== 'google') {
    fail('auth', `auth = "service_account" is for Google accounts; for Microsoft use auth = "client_credentials"`);
    return undefined;
  }
  if (saFile === undefined) {
    fail('service_account_file', `no service_account_file for ${user}: set it here or in [provider.${provider.name}]`);
    return undefined;
  }
  const key = readServiceAccount(expandPath(saFile, env) ?? saFile);
  if (typeof key === 'string') fail('service_account_file', key);
  else out.serviceAccount = key;
  out.auth = 'service_account';
  return ok ? out : undefined;
}

function readCertificate(certFile: string, keyFile: string): CertificateCredential | string {
  let certPem: string;
  let keyPem: string;
  try {
    certPem = readFileSync(certFile, 'utf8');
  } catch (error) {
    return `cannot read ${certFile} (${(error as NodeJS.ErrnoException).code ?? 'error'})`;
  }
  try {
    keyPem = readFileSync(keyFile, 'utf8');
  } catch (error) {
    return `cannot read private_key_file ${keyFile} (${(error as NodeJS.ErrnoException).code ?? 'error'})`;
  }
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch {
    return `${certFile} is not a PEM certificate`;
  }
  try {
    const key = createPrivateKey(keyPem);
    if (!cert.checkPrivateKey(key)) return `the private key in ${keyFile} does not belong to the certificate in ${certFile}`;
  } catch {
    return `private_key_file ${keyFile} is not a PEM private key`;
  }
  return { privateKey: keyPem, certificate: certPem, thumbprintSha256: createHash('sha256').update(cert.raw).digest('hex') };
}

function readServiceAccount(file: string): ServiceAccountKey | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code !== undefined ? `cannot read ${file} (${code})` : `${file} is not JSON`;
  }
  const o = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>;
  if (o['type'] !== 'service_account' || typeof o['client_email'] !== 'string' || typeof o['private_key'] !== 'string') {
    return `${file} is not a service account key (expected type "service_account" with client_email and private_key)`;
  }
  try {
    createPrivateKey(o['private_key']);
  } catch {
    return `${file}: private_key is not a PEM private key`;
  }
  return {
    clientEmail: o['client_email'],
    privateKey: o['private_key'],
    ...(typeof o['private_key_id'] === 'string' && { privateKeyId: o['private_key_id'] }),
    ...(typeof o['token_uri'] === 'string' && { tokenUri: o['token_uri'] }),
  };
}
