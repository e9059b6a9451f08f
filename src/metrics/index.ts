import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { RequestMetrics } from './requests.js';
import type { AccountState } from '../../actors/answer.js';
import type { DaemonContext, Feature } from '../daemon/context.js';
import type { RefreshReport } from '../host/messages.js';
import { VERSION } from '../version.js';
import { send } from '../web/server.js';

const STATES: readonly AccountState[] = ['unauthenticated', 'valid', 'refreshing', 'expired'];

/**
 * The daemon's Prometheus metrics, on a registry of its own. Labels are
 * bounded: socket paths, protocols, result codes, provider section names,
 * shard numbers. No metric carries an account address or a token.
 */
export class DaemonMetrics {
  readonly registry = new Registry();
  readonly #requests: RequestMetrics;
  readonly #refreshes: Counter<'provider' | 'result'>;
  readonly #providerSeconds: Histogram<'provider' | 'result'>;
  readonly #workerRestarts: Counter<'shard'>;
  readonly #reloads: Counter<'result'>;
  readonly #clockJumps: Counter;

  constructor(countByState: () => Record<AccountState, number>) {
    const registers = [this.registry];
    this.#requests = new RequestMetrics(this.registry);
    new Gauge({
      name: 'mailtokend_accounts',
      help: 'Accounts by state.',
      labelNames: ['state'],
      registers,
      collect() {
        const counts = countByState();
        for (const state of STATES) this.set({ state }, counts[state] ?? 0);
      },
    });
    this.#refreshes = new Counter({
      name: 'mailtokend_refreshes_total',
      help: 'Refresh attempts by provider section and result (ok, transient: retried with backoff, revoked: needs a sign-in).',
      labelNames: ['provider', 'result'],
      registers,
    });
    this.#providerSeconds = new Histogram({
      name: 'mailtokend_provider_request_duration_seconds',
      help: "Time of a refresh call to the provider, including the provider library's own retries, by provider section and result.",
      labelNames: ['provider', 'result'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.#workerRestarts = new Counter({
      name: 'mailtokend_worker_restarts_total',
      help: 'Worker threads that died and were replaced, by shard.',
      labelNames: ['shard'],
      registers,
    });
    this.#reloads = new Counter({
      name: 'mailtokend_config_reloads_total',
      help: 'Configuration reloads (reload command or SIGHUP), by result (ok, refused).',
      labelNames: ['result'],
      registers,
    });
    this.#clockJumps = new Counter({
      name: 'mailtokend_clock_jumps_total',
      help: 'Wall clock jumps against the monotonic clock (suspend and resume, clock steps); each re-arms every account.',
      registers,
    });
    new Gauge({ name: 'mailtokend_info', help: 'Always 1; the version is a label.', labelNames: ['version'], registers }).set({ version: VERSION }, 1);
    collectDefaultMetrics({ register: this.registry });
  }

  request(socket: string, protocol: string, result: string, ms: number): void {
    this.#requests.record(socket, protocol, result, ms);
  }

  refresh(report: RefreshReport): void {
    this.#refreshes.inc({ provider: report.provider, result: report.result });
    if (report.providerMs !== undefined) this.#providerSeconds.observe({ provider: report.provider, result: report.result }, report.providerMs / 1000);
  }

  workerRestarted(shard: number): void {
    this.#workerRestarts.inc({ shard: String(shard) });
  }

  reloaded(ok: boolean): void {
    this.#reloads.inc({ result: ok ? 'ok' : 'refused' });
  }

  clockJumped(): void {
    this.#clockJumps.inc();
  }

  /** Touches every label set the config implies, so series exist (at 0) before the first request. */
  declareSockets(sockets: Array<{ path: string; protocols: readonly string[] }>): void {
    for (const socket of sockets) for (const protocol of socket.protocols) this.#requests.declare(socket.path, protocol, 'ok');
  }
}

/** GET /metrics on the web listener, fed by the daemon's events. */
export const installMetrics: Feature = (context: DaemonContext) => {
  const metrics = new DaemonMetrics(() => context.replica.countByState());
  const { events } = context;
  events.on('request', (e) => metrics.request(e.socket, e.proto, e.result, e.ms));
  events.on('refresh', (report) => metrics.refresh(report));
  events.on('worker', (e) => {
    if (e.event === 'lost' && e.shard >= 0) metrics.workerRestarted(e.shard);
  });
  events.on('config', ({ reload }) => {
    if (reload) metrics.reloaded(true);
    metrics.declareSockets(context.config.sockets);
  });
  events.on('reload-refused', () => metrics.reloaded(false));
  events.on('clock', () => metrics.clockJumped());
  if (!context.web) {
    context.log.warn('no web listener: GET /metrics is unavailable');
    return;
  }
  context.web.addRoutes([
    {
      method: 'GET',
      path: /^\/metrics$/,
      handle: async ({ res }) => send(res, 200, metrics.registry.contentType, await metrics.registry.metrics()),
    },
  ]);
};
