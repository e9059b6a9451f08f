/**
 * `--scenario client`: wall time of one `cms-oauth --output token` call
 * against the running daemon, next to `node -e 0`, in alternating runs.
 * `cms-oauth` is what the package installs (`bin`: dist/src/cli/cms-oauth.cjs);
 * the ES module wrapper dist/src/cli/cms-oauth.js is timed too, for reference.
 *
 *   node dist/bench/run.js --scenario client [--repeat 40] [--accounts 10] [--out FILE] [--keep]
 *
 * Each call is a fresh `node` process (spawned, waited for); its stdout must
 * be a token the emulator issued to that user. Reported: median and p90 of
 * each, and the ratio of the medians.
 */
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { numberFlag, parseFlags } from './common.js';
import { machine, median, prepare, say, writeResults } from './scenario-common.js';
import { Cleanup, DaemonProcess, waitAllValid } from './setup.js';

const CMS_OAUTH_BIN = fileURLToPath(new URL('../src/cli/cms-oauth.cjs', import.meta.url));
const CMS_OAUTH_ESM = fileURLToPath(new URL('../src/cli/cms-oauth.js', import.meta.url));

function timed(args: string[]): { ms: number; stdout: string; status: number | null } {
  const t = performance.now();
  const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
  return { ms: performance.now() - t, stdout: r.stdout, status: r.status };
}

function p90(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * 0.9))] ?? 0;
}

export async function run(argv: string[]): Promise<number> {
  const f = parseFlags(argv);
  const repeat = Math.floor(numberFlag(f, 'repeat', 40));
  const n = Math.floor(numberFlag(f, 'accounts', 10));
  const host = machine();
  const cleanup = new Cleanup();
  try {
    const p = await prepare(cleanup, { accounts: n, workers: 2, lifetimeS: 3600, maxConcurrentRefreshes: 200, keep: f.has('keep') });
    const daemon = new DaemonProcess(cleanup, p.config.path, p.env);
    await daemon.ready;
    await waitAllValid(p.config.adminSocket, n, 120_000);
    const node: number[] = [];
    const client: number[] = [];
    const esm: number[] = [];
    let bad = 0;
    const call = (script: string, user: string) => timed([script, '--user', user, '--cms_sock', p.config.socket, '--output', 'token']);
    // One unmeasured call of each first: the page cache holds them afterwards.
    timed(['-e', '0']);
    call(CMS_OAUTH_BIN, p.accounts[0]!.user);
    call(CMS_OAUTH_ESM, p.accounts[0]!.user);
    for (let i = 0; i < repeat; i++) {
      const a = p.accounts[i % n]!;
      const order = i % 2 === 0 ? ['node', 'client', 'esm'] : ['esm', 'client', 'node'];
      for (const which of order) {
        if (which === 'node') {
          node.push(timed(['-e', '0']).ms);
        } else {
          const r = call(which === 'client' ? CMS_OAUTH_BIN : CMS_OAUTH_ESM, a.user);
          (which === 'client' ? client : esm).push(r.ms);
          if (r.status !== 0 || !p.emu.isValidAccessToken(r.stdout.trim(), a.user)) bad++;
        }
      }
    }
    const round = (x: number) => Math.round(x * 10) / 10;
    const ratio = Math.round((median(client) / median(node)) * 100) / 100;
    const results = {
      scenario: 'client',
      machine: host,
      settings: { repeat, accounts: n },
      nodeE0Ms: { median: round(median(node)), p90: round(p90(node)), min: round(Math.min(...node)) },
      cmsOauthMs: { median: round(median(client)), p90: round(p90(client)), min: round(Math.min(...client)) },
      ratio,
      esmWrapperMs: { median: round(median(esm)), p90: round(p90(esm)), min: round(Math.min(...esm)) },
      esmWrapperRatio: Math.round((median(esm) / median(node)) * 100) / 100,
      badReplies: bad,
      target: { ratio: 1.15, met: ratio <= 1.15 && bad === 0 },
    };
    const file = writeResults('client', f.get('out'), results);
    process.stdout.write(
      `\nclient: node -e 0 median ${results.nodeE0Ms.median} ms (p90 ${results.nodeE0Ms.p90}), cms-oauth --output token median ${results.cmsOauthMs.median} ms ` +
        `(p90 ${results.cmsOauthMs.p90}); ratio ${ratio}×; via the ESM wrapper (cms-oauth.js) median ${results.esmWrapperMs.median} ms, ` +
        `${results.esmWrapperRatio}×; ${bad} bad replies over ${2 * repeat} calls\nload average ${host.loadAverage.join(' ')} at start, ${loadavg().map((x) => x.toFixed(2)).join(' ')} at end\nresults in ${file}\n`,
    );
    return bad === 0 ? 0 : 1;
  } finally {
    for (const problem of await cleanup.run()) say(`cleanup: ${problem}`);
  }
}
