/**
 * The floor: the least a Node UNIX-socket server can do per request in the
 * daemon's protocol. It reads a request up to its newline or the client's
 * half-close and answers with a constant XOAUTH2 string (one per size given,
 * in turn: the sizes of the daemon's real replies), then closes; no parsing,
 * no lookup, no logging. The daemon's figures are printed as a
 * ratio to this server's, measured by the same load generator on the same
 * machine.
 *
 *   node dist/bench/reference-server.js --socket PATH [--reply-sizes 180,1400]
 *
 * Prints `ready` on stdout when listening; SIGTERM closes it.
 */
import { createServer, type Socket } from 'node:net';
import { unlinkSync } from 'node:fs';
import { parseFlags, referenceReplies, replySizes } from './common.js';

const LF = 0x0a;

const flags = parseFlags(process.argv.slice(2));
const path = flags.get('socket');
if (!path) throw new Error('reference-server: --socket PATH is required');
const replies = referenceReplies(replySizes(flags.get('reply-sizes')));
let served = 0;

const server = createServer({ allowHalfOpen: true }, (conn: Socket) => {
  let answered = false;
  const answer = (): void => {
    if (answered) return;
    answered = true;
    conn.end(replies[served++ % replies.length]);
  };
  conn.on('data', (chunk: Buffer) => {
    if (chunk.indexOf(LF) >= 0) answer();
  });
  conn.on('end', answer);
  conn.on('error', () => conn.destroy());
});

try {
  unlinkSync(path);
} catch {
  // Nothing left from an earlier run.
}
server.listen({ path, backlog: 4096 }, () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
