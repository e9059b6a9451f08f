import { stringField } from '../admin/registry.js';
import { normalizeUser } from '../config/patterns.js';
import { MailtokendError } from '../errors.js';
import { VERSION } from '../version.js';
import type { DaemonContext } from './context.js';

/** How long an operator action (import, refresh) waits to report the refresh it caused. */
const ACTION_WAIT_MS = 30_000;

/** The configured account named by a request's `user`, or a clear error. */
export function configuredKey(context: DaemonContext, user: string): string {
  const key = normalizeUser(user);
  if (!context.config.accounts.some((a) => normalizeUser(a.user) === key)) {
    throw new MailtokendError('unknown-account', `${user} is not configured in ${context.config.file}`);
  }
  return key;
}

/** The admin commands of the core daemon: ping, status, token, import, refresh, revoke. */
export function installCoreCommands(context: DaemonContext): void {
  const { admin, pool } = context;
  admin.register('ping', async () => ({ pong: true, pid: process.pid, version: VERSION }));
  admin.register('status', async (request) => {
    // Filters are applied here, so a filtered status of 10,000 accounts sends only the rows asked for.
    const users = Array.isArray(request.users) ? new Set(request.users.filter((u): u is string => typeof u === 'string').map(normalizeUser)) : undefined;
    const state = typeof request.state === 'string' ? request.state : undefined;
    const provider = typeof request.provider === 'string' ? request.provider : undefined;
    const rows = await pool.status();
    if (!users?.size && !state && !provider) return { accounts: rows };
    return { accounts: rows.filter((a) => (!users?.size || users.has(a.key)) && (!state || a.state === state) && (!provider || a.provider === provider)) };
  });
  admin.register('token', async (request) => {
    const result = await pool.token(configuredKey(context, stringField(request, 'user')), context.config.requestTimeoutMs);
    if (result.kind !== 'token') throw new MailtokendError(result.code, result.message);
    return { accessToken: result.accessToken, expiresAt: result.expiresAt };
  });
  admin.register('import', async (request) => {
    const key = configuredKey(context, stringField(request, 'user'));
    const refreshToken = stringField(request, 'refreshToken').trim();
    if (refreshToken === '') throw new MailtokendError('import-empty', 'no refresh token was given');
    return { result: await pool.grant(key, refreshToken, ACTION_WAIT_MS) };
  });
  admin.register('refresh', async (request) => ({
    result: await pool.refresh(configuredKey(context, stringField(request, 'user')), ACTION_WAIT_MS),
  }));
  admin.register('revoke', async (request) => ({
    result: await pool.revoke(configuredKey(context, stringField(request, 'user')), request.remote === true),
  }));
  admin.register('crash-worker', async (request) => {
    const shard = request.shard;
    if (typeof shard !== 'number' || !Number.isInteger(shard)) throw new MailtokendError('admin-bad-request', '"crash-worker" needs a numeric "shard"');
    await pool.crash(shard);
    return {};
  });
}
