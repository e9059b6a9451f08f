import { parseArgs } from 'node:util';
import { adminCall } from '../admin/client.js';
import type { ActionResult } from '../host/messages.js';
import { normalizeUser, type Config } from '../config/index.js';
import { MailtokendError } from '../errors.js';
import { googleScopes, microsoftScopes } from '../providers/scopes.js';
import { openConfiguredStore, storeDescription } from '../cluster/open.js';
import { loadStoreKey } from '../store/index.js';
import { configPathFrom, EXIT, readConfig, UsageError } from './context.js';

export const IMPORT_HELP = `usage: mailtokend import USER [--config FILE] < refresh-token

Store a refresh token read from standard input as USER's grant, so an account
signed in with another tool (cloud_mdir_sync, pizauth, oama, sasl-xoauth2,
mutt_oauth2.py) needs no new sign-in. With the daemon running, the grant is
handed to it and refreshed at once; otherwise it is written to the store and
used at the next start.`;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').trim();
}

export async function importGrant(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' } }, allowPositionals: true });
  if (positionals.length !== 1) throw new UsageError('import takes exactly one USER');
  const user = positionals[0]!;
  const config = await readConfig(configPathFrom(values.config, env), env);
  const account = config.accounts.find((a) => normalizeUser(a.user) === normalizeUser(user));
  if (!account) throw new MailtokendError('unknown-account', `${user} is not configured in ${config.file}; add an [[account]] for it first`);
  if (process.stdin.isTTY) process.stderr.write(`Paste the refresh token for ${user}, then press Ctrl-D:\n`);
  const refreshToken = await readStdin();
  if (refreshToken === '' || /\s/.test(refreshToken)) {
    throw new MailtokendError('import-empty', 'expected exactly one refresh token (no spaces) on standard input');
  }
  try {
    const { result } = await adminCall<{ result: ActionResult }>(config.adminSocket, { cmd: 'import', user, refreshToken });
    const why = result.error ? ` (${result.error.code}: ${result.error.message})` : '';
    process.stdout.write(`${user}: ${result.message}${why}\n`);
    return result.ok ? EXIT.ok : EXIT.failure;
  } catch (error) {
    if (!(error instanceof MailtokendError) || error.code !== 'admin-unreachable') throw error;
  }
  await storeDirectly(config, normalizeUser(user), account.provider, account.providerType, account.protocols, refreshToken, env);
  process.stdout.write(`${user}: grant stored in ${storeDescription(config)}; the daemon will use it when it starts\n`);
  return EXIT.ok;
}

async function storeDirectly(
  config: Config,
  key: string,
  provider: string,
  providerType: 'google' | 'microsoft',
  protocols: Config['accounts'][number]['protocols'],
  refreshToken: string,
  env: NodeJS.ProcessEnv,
): Promise<void> {
  const { key: storeKey } = await loadStoreKey({ stateDir: config.stateDir, env });
  // The file store, or PostgreSQL when [store] names it: running instances of a cluster pick the grant up.
  const store = await openConfiguredStore(config, storeKey);
  try {
    const scopes = providerType === 'google' ? googleScopes() : microsoftScopes(protocols);
    await store.save(key, { provider, refreshToken, scopes });
  } finally {
    await store.close();
  }
}
