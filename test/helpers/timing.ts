/** Per-test timing on stderr when E2E_TIMING=1, to keep the e2e set fast. */
import type { Test } from 'uvu';

const t0 = Date.now();

export function timeTests(test: Test, file = ''): void {
  if (process.env.E2E_TIMING !== '1') return;
  let started = Date.now();
  test.before(() => {
    process.stderr.write(`\n[at ${Date.now() - t0} ms] ${file} ready\n`);
  });
  test.before.each(() => {
    started = Date.now();
  });
  test.after.each((ctx) => {
    process.stderr.write(`\n[${Date.now() - started} ms] ${String((ctx as { __test__?: unknown }).__test__ ?? '')}\n`);
  });
  test.after(() => {
    process.stderr.write(`\n[at ${Date.now() - t0} ms] ${file} done\n`);
  });
}
