/**
 * `npm run bench` ends with one table of issue 7's targets, read from the
 * scenarios' results files: each row must come from the right figure (the
 * right concurrency level, the 50,000-account point), a miss must read as a
 * miss, and a scenario that produced nothing must not read as met.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { targetRows, targetTable, type TargetRow } from '../bench/suite.js';

function level(concurrency: number, rps: number, p99: number, cpuPerRequest: number) {
  return { concurrency, mailtokend: {}, reference: {}, ratio: { rps, p50: 1.1, p99, cpuPerRequest } };
}

function results() {
  return {
    // Level 64 first: rows must be found by concurrency, not by position.
    serving: { levels: [level(64, 0.79, 1.07, 1.34), level(1, 0.5, 3, 2), level(16, 0.88, 1.33, 1.35)] },
    memory: { perAccount: [{ accounts: 10_000, kibPerAccount: 6.1 }, { accounts: 50_000, kibPerAccount: 4.73 }] },
    start: { settings: { accounts: 10_000 }, answered: 10_000, allAnsweredMs: 3190, reference: { allAnsweredMs: 1550 } },
    storm: {
      settings: { capPerProvider: 20 },
      late100ms: 0,
      empty: 0,
      expiredTokensServed: 0,
      maxInFlight: { google: 20, microsoft: 19 },
      refreshesPerAccountPerLifetime: 1,
      targets: { noneLateEmptyExpired: true, capRespected: true, refreshesPerLifetimeAtMost1_1: true },
    },
    client: { ratio: 1.12 },
  };
}

function find(rows: TargetRow[], start: string): TargetRow {
  const row = rows.find((r) => r.target.startsWith(start));
  if (!row) throw new Error(`no row ${start}`);
  return row;
}

test('each target is judged on its own figure', () => {
  const rows = targetRows(results());
  assert.is(rows.length, 12);
  assert.equal(find(rows, 'serving, concurrency 16: req/s'), { scenario: 'serving', target: 'serving, concurrency 16: req/s ≥ 0.8× reference', figure: '0.88×', met: true });
  assert.is(find(rows, 'serving, concurrency 16: CPU').met, true);
  assert.is(find(rows, 'serving, concurrency 16: p99').met, true);
  assert.is(find(rows, 'serving, concurrency 64: req/s').figure, '0.79×');
  assert.is(find(rows, 'serving, concurrency 64: req/s').met, false);
  assert.is(find(rows, 'serving, concurrency 64: p99').met, true);
  assert.equal(find(rows, 'memory'), { scenario: 'memory', target: 'memory: ≤ 5 KiB per idle account at 50,000', figure: '4.73 KiB', met: true });
  assert.equal(find(rows, 'start'), { scenario: 'start', target: 'start: 10,000 accounts served within 2 s', figure: '3.19 s (reference server 1.55 s)', met: false });
  assert.is(find(rows, 'storm: 0 requests').figure, '0 / 0 / 0');
  assert.is(find(rows, 'storm: 0 requests').met, true);
  assert.is(find(rows, 'storm: refreshes in flight').figure, '20 / 19 (cap 20)');
  assert.is(find(rows, 'storm: refreshes in flight').met, true);
  assert.is(find(rows, 'storm: ≤ 1.1').figure, '1.00');
  assert.is(find(rows, 'storm: ≤ 1.1').met, true);
  assert.is(find(rows, 'client').met, true);
});

test('a storm with late replies misses its target', () => {
  const r = results();
  r.storm.late100ms = 3;
  r.storm.targets.noneLateEmptyExpired = false;
  const row = find(targetRows(r), 'storm: 0 requests');
  assert.is(row.figure, '3 / 0 / 0');
  assert.is(row.met, false);
});

test('a scenario without results, or a start that did not answer every account, has no figure', () => {
  const r: Partial<ReturnType<typeof results>> = results();
  delete r.memory;
  r.start!.answered = 9_999;
  const rows = targetRows(r);
  assert.equal(find(rows, 'memory'), { scenario: 'memory', target: 'memory: ≤ 5 KiB per idle account at 50,000', figure: '—', met: null });
  assert.is(find(rows, 'start').met, null);
  const table = targetTable(rows);
  assert.match(table, '| memory: ≤ 5 KiB per idle account at 50,000 | — | no figure |');
  assert.match(table, '| serving, concurrency 64: req/s ≥ 0.8× reference | 0.79× | **no** |');
  assert.match(table, '| client: ≤ 1.15× `node -e 0` | 1.12× | yes |');
});

test.run();
