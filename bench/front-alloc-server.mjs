// The socket front alone (listener + handler + replica, stub logger, no pool) for
// bench/front-alloc.mjs. Usage: node --min-semi-space-size=1 --max-semi-space-size=1 front-alloc-server.mjs DISTDIR SOCKET
import { PerformanceObserver, constants } from 'node:perf_hooks';
const [dist, sock] = process.argv.slice(2);
const { SocketListener } = await import(`${dist}/src/front/listener.js`);
const { RequestHandler } = await import(`${dist}/src/front/handler.js`);
const { TokenReplica } = await import(`${dist}/src/front/replica.js`);
const noop = () => undefined;
const log = { info: noop, warn: noop, error: noop, debug: noop, isLevelEnabled: () => false };
const replica = new TokenReplica();
const users = JSON.parse(process.env.USERS);
const now = Date.now();
for (const u of users) replica.apply({ key: u, state: 'valid', accessToken: 'ya29.' + 'x'.repeat(150), usableUntil: now + 3600e3, expiresAt: now + 3600e3, lifetimeMs: 3600e3, lastRefreshAt: now });
const handler = new RequestHandler(replica, {}, users, 4000, log, () => undefined);
const route = { config: { path: sock, mode: 0o600, protocols: ['SMTP', 'IMAP'], accounts: ['*'] }, servesEveryone: true, allowed: new Map() };
const l = new SocketListener(route, handler, log);
await l.listen();
let scav = 0, scavMs = 0;
new PerformanceObserver((list) => { for (const e of list.getEntries()) if (e.detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) { scav++; scavMs += e.duration; } }).observe({ entryTypes: ['gc'] });
process.stdout.write('ready\n');
process.stdin.on('data', () => { const c = process.cpuUsage(); process.stdout.write(JSON.stringify({ scav, scavMs, cpuUs: c.user + c.system }) + '\n'); });
