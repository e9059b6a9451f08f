import type { AccountState } from '../../actors/answer.js';
import { normalizeUser } from '../config/index.js';
import type { DaemonContext, Feature } from '../daemon/context.js';
import { MailtokendError } from '../errors.js';
import { ClockWatch } from './clock-watch.js';
import { secretRedactor } from './redact.js';
import { DEFAULT_REFRESH_RATE, MAX_REFRESH_RATE, RefreshAllJob } from './refresh-all.js';
import { Reloader } from './reload.js';
import { SystemdNotifier } from './systemd.js';

const STATES: readonly AccountState[] = ['unauthenticated', 'valid', 'refreshing', 'expired'];

/**
 * Running mailtokend as a service: `reload`, `shutdown` and `refresh --all`
 * on the admin socket, systemd readiness, the suspend/clock-jump watchdog,
 * and feeding the log redactor with the secrets the main thread sees.
 * (`status`, `refresh USER` and `revoke [--remote] USER` are core commands.)
 */
export const installOps: Feature = (context) => {
  const { admin, events, log } = context;
  const notifier = new SystemdNotifier(context.env, log);
  const reloader = new Reloader(context, notifier);
  const refreshAll = new RefreshAllJob(context);
  const clock = new ClockWatch({
    onJump: (jumpMs, now) => {
      log.warn({ jumpMs }, 'wall clock jumped (suspend, resume or clock change); re-arming every account');
      events.emit('clock', { jumpMs });
      context.pool.wake(now).catch((error: unknown) => log.error({ error: error instanceof Error ? error.message : String(error) }, 'could not wake the accounts'));
    },
  });

  rememberConfigSecrets(context);
  events.on('config', ({ reload }) => {
    rememberConfigSecrets(context);
    if (!reload) void notifier.ready(`serving ${context.config.accounts.length} accounts on ${context.front.paths.length} sockets`);
  });
  // Owned by the account key itself (the string the replica already holds): an address always
  // has an `@`, the config's owners (`config:…`) never do, so they cannot collide.
  events.on('account', (update) => secretRedactor.remember(update.key, update.accessToken));
  events.on('removed', ({ key }) => secretRedactor.forget(key));

  admin.register('reload', async (request) => ({ ...(await reloader.reload(typeof request.via === 'string' ? request.via : 'admin')) }));

  admin.register('shutdown', async () => {
    // Answer first: the admin socket closes during the shutdown.
    setImmediate(() => context.requestShutdown('admin shutdown'));
    return { pid: process.pid };
  });

  admin.register('refresh-all', async (request) => {
    const rate = request.rate === undefined ? DEFAULT_REFRESH_RATE : request.rate;
    if (typeof rate !== 'number' || !(rate > 0) || rate > MAX_REFRESH_RATE) {
      throw new MailtokendError('admin-bad-request', `"rate" must be a number of refreshes per second, above 0 and at most ${MAX_REFRESH_RATE}`);
    }
    const provider = optionalString(request.provider, 'provider');
    const state = optionalString(request.state, 'state');
    if (state !== undefined && !STATES.includes(state as AccountState)) {
      throw new MailtokendError('admin-bad-request', `"state" must be one of ${STATES.join(', ')}`);
    }
    const job = await refreshAll.start({ rate, provider, state: state as AccountState | undefined });
    if (request.wait === false) {
      return { started: job.progress.total, rate, etaSeconds: Math.ceil(job.progress.total / rate) };
    }
    return { summary: await job.done };
  });

  context.onShutdown(async () => {
    clock.stop();
    refreshAll.cancel();
    await notifier.stopping();
  });
  clock.start();
};

function optionalString(value: unknown, name: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value === '') throw new MailtokendError('admin-bad-request', `"${name}" must be a string`);
  return value;
}

/** Client secrets of the config in force, so no log line can carry one. */
function rememberConfigSecrets(context: DaemonContext): void {
  for (const provider of Object.values(context.config.providers)) {
    secretRedactor.remember(`config:provider:${provider.name}`, provider.clientSecret, 1);
  }
  for (const account of context.config.accounts) {
    secretRedactor.remember(`config:account:${normalizeUser(account.user)}`, account.clientSecret, 1);
  }
}
