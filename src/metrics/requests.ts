import { Counter, Histogram, type MetricObjectWithValues, type MetricType, type MetricValueWithName, type Registry } from 'prom-client';

/** Seconds; the fast path answers in well under a millisecond, a wait for a worker takes up to the request timeout. */
export const REQUEST_BUCKETS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

interface Tally {
  readonly labels: { socket: string; protocol: string; result: string };
  count: number;
  /** How much of `count` prom-client has been given. */
  pushed: number;
}

interface Latency {
  /** Observations per bucket (not cumulative); the last slot is above every bound. */
  readonly buckets: number[];
  sum: number;
  count: number;
}

type LatencyValue = MetricValueWithName<'socket' | 'le'> & { sharedLabels?: { socket: string } };

/**
 * A histogram whose observations are plain additions on the hot path;
 * prom-client only sees them when /metrics is read. prom-client's own
 * `observe` (and Counter `inc`) validates and hashes a label object per call:
 * about a fifth of the request path's own CPU (doc/benchmarks.md, serving).
 */
class RequestLatency extends Histogram<'socket' | 'le'> {
  readonly #bySocket = new Map<string, Latency>();
  readonly #name: string;
  readonly #help: string;

  constructor(name: string, help: string, registry: Registry) {
    super({ name, help, labelNames: ['socket'], buckets: [...REQUEST_BUCKETS], registers: [registry] });
    this.#name = name;
    this.#help = help;
  }

  #header(): Omit<MetricObjectWithValues<LatencyValue>, 'values'> {
    // prom-client's typings declare `type` as a numeric enum; the runtime (and the Registry) use the string every metric carries.
    const { type } = this as unknown as { type: MetricType };
    return { name: this.#name, help: this.#help, type, aggregator: 'sum', collect: () => undefined };
  }

  record(socket: string, seconds: number): void {
    let series = this.#bySocket.get(socket);
    if (series === undefined) {
      series = { buckets: new Array<number>(REQUEST_BUCKETS.length + 1).fill(0), sum: 0, count: 0 };
      this.#bySocket.set(socket, series);
    }
    let i = 0;
    while (i < REQUEST_BUCKETS.length && seconds > (REQUEST_BUCKETS[i] as number)) i++;
    series.buckets[i] = (series.buckets[i] as number) + 1;
    series.sum += seconds;
    series.count++;
  }

  /** Values in the layout of prom-client's own Histogram: cumulative `le` buckets, +Inf, _sum, _count per socket. */
  #values(): LatencyValue[] {
    const name = this.#name;
    const values: LatencyValue[] = [];
    for (const [socket, series] of this.#bySocket) {
      const sharedLabels = { socket };
      let cumulative = 0;
      REQUEST_BUCKETS.forEach((le, i) => {
        cumulative += series.buckets[i] as number;
        values.push({ labels: { le }, sharedLabels, value: cumulative, metricName: `${name}_bucket` });
      });
      values.push({ labels: { le: '+Inf' }, sharedLabels, value: series.count, metricName: `${name}_bucket` });
      values.push({ labels: {}, sharedLabels, value: series.sum, metricName: `${name}_sum` });
      values.push({ labels: {}, sharedLabels, value: series.count, metricName: `${name}_count` });
    }
    return values;
  }

  /** What the Registry prints for /metrics (it prefers this method, as for prom-client's Histogram). */
  async getForPromString(): Promise<MetricObjectWithValues<LatencyValue>> {
    return { ...this.#header(), values: this.#values() };
  }

  override async get(): Promise<MetricObjectWithValues<MetricValueWithName<'socket' | 'le'>>> {
    const values = this.#values().map(({ sharedLabels, labels, ...rest }) => ({ ...rest, labels: { ...labels, ...sharedLabels } }));
    return { ...this.#header(), values };
  }
}

/**
 * mailtokend_token_requests_total and mailtokend_token_request_duration_seconds.
 * Per request: three Map lookups of strings the caller already holds and a
 * few additions; no label object, no string building.
 */
export class RequestMetrics {
  readonly #tallies = new Map<string, Map<string, Map<string, Tally>>>();
  readonly #requests: Counter<'socket' | 'protocol' | 'result'>;
  readonly #latency: RequestLatency;

  constructor(registry: Registry) {
    const tallies = this.#tallies;
    this.#requests = new Counter({
      name: 'mailtokend_token_requests_total',
      help: 'Token requests on the MTA sockets, by socket path, protocol and result (ok or a doc/errors.md code).',
      labelNames: ['socket', 'protocol', 'result'],
      registers: [registry],
      collect() {
        for (const byProto of tallies.values()) {
          for (const byResult of byProto.values()) {
            for (const tally of byResult.values()) {
              if (tally.count === tally.pushed) continue;
              this.inc(tally.labels, tally.count - tally.pushed);
              tally.pushed = tally.count;
            }
          }
        }
      },
    });
    this.#latency = new RequestLatency(
      'mailtokend_token_request_duration_seconds',
      'Time from reading a token request to its answer, by socket path.',
      registry,
    );
  }

  record(socket: string, protocol: string, result: string, ms: number): void {
    this.#tally(socket, protocol, result).count++;
    this.#latency.record(socket, ms / 1000);
  }

  /** Makes the series exist (at 0) before the first request. */
  declare(socket: string, protocol: string, result: string): void {
    this.#tally(socket, protocol, result);
    this.#requests.inc({ socket, protocol, result }, 0);
  }

  #tally(socket: string, protocol: string, result: string): Tally {
    let byProto = this.#tallies.get(socket);
    if (byProto === undefined) this.#tallies.set(socket, (byProto = new Map()));
    let byResult = byProto.get(protocol);
    if (byResult === undefined) byProto.set(protocol, (byResult = new Map()));
    let tally = byResult.get(result);
    if (tally === undefined) byResult.set(result, (tally = { labels: { socket, protocol, result }, count: 0, pushed: 0 }));
    return tally;
  }
}
