import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
// Main-thread allocation and CPU per request of the socket front, two builds alternating:
//   npm run build && cp -r dist dist-base   (then change, rebuild)
//   node bench/front-alloc.mjs [NEW_DIST] [OLD_DIST]
// With a 1 MiB young generation each scavenge is ~1 MiB allocated, so
// scavenges per 1,000 requests ~ KiB allocated per request. See doc/benchmarks.md.
const root = fileURLToPath(new URL('..', import.meta.url));
const SERVER = fileURLToPath(new URL('./front-alloc-server.mjs', import.meta.url));
const LOADJS = `${root}dist/bench/load.js`;
const [NEW = `${root}dist`, OLD = `${root}dist-base`] = process.argv.slice(2);
const users = Array.from({ length: 1000 }, (_, i) => `user${String(i).padStart(4, '0')}@gmail.test`);
writeFileSync(`/tmp/front-alloc-users-${process.pid}.json`, JSON.stringify(users));
async function one(dist) {
  const sock = `/tmp/front-alloc-${process.pid}.sock`;
  const srv = spawn(process.execPath, ['--max-semi-space-size=1', '--min-semi-space-size=1', SERVER, dist, sock], { env: { ...process.env, USERS: JSON.stringify(users) }, stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = [];
  let wake;
  srv.stdout.on('data', (d) => { for (const l of d.toString().trim().split('\n')) { lines.push(l); wake?.(); } });
  const next = () => new Promise((r) => { if (lines.length) return r(lines.shift()); wake = () => { wake = undefined; r(lines.shift()); }; });
  await next();
  // warm-up
  spawnSync(process.execPath, [LOADJS, '--socket', sock, '--users', `/tmp/front-alloc-users-${process.pid}.json`, '--concurrency', '16', '--duration', '1', '--warmup', '0']);
  srv.stdin.write('x'); const a = JSON.parse(await next());
  const r = spawnSync(process.execPath, [LOADJS, '--socket', sock, '--users', `/tmp/front-alloc-users-${process.pid}.json`, '--concurrency', '16', '--duration', '4', '--warmup', '0']);
  srv.stdin.write('x'); const b = JSON.parse(await next());
  srv.kill();
  const res = JSON.parse(r.stdout.toString().trim().split('\n').pop());
  const n = res.requests;
  return { dist: dist.split('/').pop(), requests: n, fail: res.failures, scavPerKReq: +(1000 * (b.scav - a.scav) / n).toFixed(2), scavMsAvg: +((b.scavMs - a.scavMs) / Math.max(1, b.scav - a.scav)).toFixed(2), cpuUsPerReq: Math.round((b.cpuUs - a.cpuUs) / n) };
}
const out = [];
for (let i = 0; i < 3; i++) for (const d of i % 2 ? [NEW, OLD] : [OLD, NEW]) { const x = await one(d); console.log(JSON.stringify(x)); out.push(x); }
