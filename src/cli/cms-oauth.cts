#!/usr/bin/env node
/**
 * `cms-oauth`: fetch a token from the daemon, a drop-in for cloud_mdir_sync's
 * `cms_oauth_main.py`. Like it, it always sends the plain CMS request
 * `PROTO USER` (no options, no newline), half-closes, and derives every output
 * format from the XOAUTH2 reply itself, so it also works against a CMS daemon.
 *
 * Start-up time is benchmarked (msmtp, mutt and mbsync run it for every
 * connection, and it must stay within 1.15x of `node -e 0`), so it loads as
 * little as it can. It is CommonJS (this `.cts` compiles to `cms-oauth.cjs`,
 * the package's `bin`): Node runs a CommonJS main file without starting its
 * ES module loader, which alone cost more than the whole budget
 * (doc/benchmarks.md, client). No project module either (each costs a file
 * load and compile; the few protocol rules it needs are restated below and
 * test/cms-oauth.test.ts checks them against src/protocol.ts), and of the
 * builtins only net. `dist/src/cli/cms-oauth.js` (cms-oauth.ts) is a
 * wrapper kept for the command lines that name it.
 */
import { connect } from 'node:net';

export interface CmsOauthIo {
  stdout: { write(chunk: Uint8Array): unknown };
  stderr: { write(chunk: string): unknown };
  env: Readonly<Record<string, string | undefined>>;
  /** Whole-exchange deadline; tests shorten it. */
  timeoutMs?: number;
}

const PROG = 'cms-oauth';
type Proto = 'SMTP' | 'IMAP' | 'POP';
const PROTOS: readonly Proto[] = ['SMTP', 'IMAP', 'POP'];
const OUTPUTS = ['xoauth2', 'xoauth2-b64', 'token', 'oauthbearer'] as const;
type Output = (typeof OUTPUTS)[number];
const DEFAULT_TIMEOUT_MS = 10_000;
const MAX_REPLY_BYTES = 64 * 1024;

const USAGE = `usage: ${PROG} [-h] --user USER [--cms_sock PATH] [--proto {SMTP,IMAP,POP}]
                 [--output {xoauth2,xoauth2-b64,token,oauthbearer}] [--no_newline]
                 [--test-smtp HOST[:PORT] | --test-imap HOST[:PORT]] [--ca FILE]
                 [--tls {starttls,implicit}]`;

const HELP = `${USAGE}

Print an OAuth2 access token for USER, fetched from the mailtokend (or
cloud_mdir_sync) credential socket.

options:
  -h, --help            show this help message and exit
  --user USER           the account to get a token for, ie user@domain.com
  --cms_sock PATH       the daemon's UNIX socket (also --cms-sock); default
                        $XDG_RUNTIME_DIR/mailtokend/mailtokend.sock, or
                        without XDG_RUNTIME_DIR the mailtokend.sock in
                        $XDG_STATE_HOME/mailtokend (~/.local/state/mailtokend)
  --proto {SMTP,IMAP,POP}
                        the protocol the token is for, which selects the
                        OAuth scope (default SMTP)
  --output {xoauth2,xoauth2-b64,token,oauthbearer}
                        xoauth2: the XOAUTH2 string, for callers that base64
                        it themselves (default); xoauth2-b64: the value sent
                        on the wire; token: the bare access token;
                        oauthbearer: the RFC 7628 OAUTHBEARER string
  --no_newline          do not print a newline after the output (also
                        --no-newline)
  --test-smtp HOST[:PORT]
                        instead of printing the token, log in to this SMTP
                        server with it (default port 587) and print the
                        dialogue; exit 0 only when the server accepts it
  --test-imap HOST[:PORT]
                        the same with an IMAP server (default port 993)
  --ca FILE             also trust this CA (PEM) for the test login
  --tls {starttls,implicit}
                        for the test login: implicit TLS (default on ports
                        465 and 993) or STARTTLS (default elsewhere)

With --test-smtp/--test-imap the token is asked for that protocol, and
--output oauthbearer logs in with OAUTHBEARER instead of XOAUTH2.
`;

// The argparse rules of CMS's client: `--opt VALUE` or `--opt=VALUE`, any
// unambiguous prefix of a long option, last one wins, `-h` / `--help` at once.
// Plus our dashed spellings. Hand-rolled: node:util's parseArgs knows no
// prefixes, and importing it costs start-up time.
type OptName = 'user' | 'cms_sock' | 'proto' | 'output' | 'no_newline' | 'help' | 'test_smtp' | 'test_imap' | 'ca' | 'tls';
const TAKES_VALUE: Readonly<Record<OptName, boolean>> = {
  user: true,
  cms_sock: true,
  proto: true,
  output: true,
  no_newline: false,
  help: false,
  test_smtp: true,
  test_imap: true,
  ca: true,
  tls: true,
};
const LONG_NAMES: Readonly<Record<string, OptName>> = {
  user: 'user',
  cms_sock: 'cms_sock',
  'cms-sock': 'cms_sock',
  proto: 'proto',
  output: 'output',
  no_newline: 'no_newline',
  'no-newline': 'no_newline',
  help: 'help',
  'test-smtp': 'test_smtp',
  test_smtp: 'test_smtp',
  'test-imap': 'test_imap',
  test_imap: 'test_imap',
  ca: 'ca',
  tls: 'tls',
};

function longOption(name: string): OptName {
  const exact = LONG_NAMES[name];
  if (exact !== undefined) return exact;
  const matches = new Set(Object.keys(LONG_NAMES).filter((k) => name !== '' && k.startsWith(name)).map((k) => LONG_NAMES[k]));
  const [only] = matches;
  if (only === undefined) throw new UsageError(`unrecognized arguments: --${escapeForLog(name)}`);
  if (matches.size > 1) throw new UsageError(`ambiguous option: --${name} could match ${[...matches].map((m) => `--${m}`).join(', ')}`);
  return only;
}

function scanArgs(argv: readonly string[]): Partial<Record<OptName, string>> | 'help' {
  const values: Partial<Record<OptName, string>> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '-h') return 'help';
    if (!arg.startsWith('--') || arg === '--') throw new UsageError(`unrecognized arguments: ${escapeForLog(arg)}`);
    const eq = arg.indexOf('=');
    const opt = longOption(arg.slice(2, eq === -1 ? undefined : eq));
    if (opt === 'help') return 'help';
    let value = eq === -1 ? undefined : arg.slice(eq + 1);
    if (!TAKES_VALUE[opt]) {
      if (value !== undefined) throw new UsageError(`argument --${opt}: ignored explicit argument "${escapeForLog(value)}"`);
      value = '';
    } else if (value === undefined) {
      value = argv[++i];
      if (value === undefined || value.startsWith('-')) throw new UsageError(`argument --${opt}: expected one argument`);
    }
    values[opt] = value;
  }
  return values;
}

class UsageError extends Error {}

// --- Restated from src/protocol.ts (see the header for why). ---

const MAX_USER_BYTES = 254;
const USER_RE = /^[^\p{C}\p{Z}]+@[^\p{C}\p{Z}]+$/u;
// Same answer for ASCII users, without building the Unicode property tables.
const ASCII_USER_RE = /^[\x21-\x7e]+@[\x21-\x7e]+$/;
// CMS checks `user=\S+\x01auth=\S+ (\S+)\x01\x01` at the start; we want the
// whole reply to be exactly what the daemon's formatReply() produces.
const REPLY_RE = /^user=([^\x00-\x20\x7f]+)\x01auth=Bearer ([\x21-\x7e]+)\x01\x01$/;

function isValidUser(user: string): boolean {
  return Buffer.byteLength(user, 'utf8') <= MAX_USER_BYTES && (ASCII_USER_RE.test(user) || USER_RE.test(user));
}

/** Printable ASCII for stderr; `\`, `"` and other bytes escaped, cut near `max`. */
function escapeForLog(text: string, max = 100): string {
  const bytes = Buffer.from(text, 'utf8');
  let out = '';
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] as number;
    const piece =
      b === 0x5c ? '\\\\' : b === 0x22 ? '\\"' : b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
    if (out.length + piece.length > max) return `${out}...(+${bytes.length - i} bytes)`;
    out += piece;
  }
  return out;
}

function parseReply(data: Buffer): { user: string; token: string } | null {
  const text = data.toString('utf8');
  // Invalid UTF-8 decodes to U+FFFD and so does not survive the round trip.
  const m = Buffer.from(text, 'utf8').equals(data) ? REPLY_RE.exec(text) : null;
  if (m === null) return null;
  const [, user = '', token = ''] = m;
  return isValidUser(user) ? { user, token } : null;
}

/** RFC 7628, with the authzid escaped as an RFC 5801 saslname. */
function oauthbearer(user: string, token: string): string {
  return `n,a=${user.replace(/=/g, '=3D').replace(/,/g, '=2C')},\x01auth=Bearer ${token}\x01\x01`;
}

interface Options {
  user: string;
  sock: string;
  proto: Proto;
  output: Output;
  newline: boolean;
  /** --test-smtp / --test-imap: log in to this server instead of printing. */
  test?: { kind: 'smtp' | 'imap'; target: string; ca: string | undefined; tls: 'starttls' | 'implicit' | undefined };
}

function parseOptions(argv: readonly string[], env: CmsOauthIo['env']): Options | 'help' {
  const values = scanArgs(argv);
  if (values === 'help') return values;
  const { user, proto = 'SMTP', output = 'xoauth2' } = values;
  if (user === undefined) throw new UsageError('the following arguments are required: --user');
  if (!isValidUser(user)) {
    throw new UsageError(`argument --user: not a mail address without spaces or control characters: "${escapeForLog(user)}"`);
  }
  if (!(PROTOS as readonly string[]).includes(proto)) {
    throw new UsageError(`argument --proto: invalid choice: "${escapeForLog(proto)}" (choose from ${PROTOS.join(', ')})`);
  }
  if (!(OUTPUTS as readonly string[]).includes(output)) {
    throw new UsageError(`argument --output: invalid choice: "${escapeForLog(output)}" (choose from ${OUTPUTS.join(', ')})`);
  }
  // CMS requires --cms_sock; we default to the daemon's default socket.
  const sock = values.cms_sock ?? defaultSocket(env);
  if (sock === undefined) throw new UsageError('--cms_sock is required: neither XDG_RUNTIME_DIR nor HOME is set');
  const opts: Options = { user, sock, proto: proto as Proto, output: output as Output, newline: values.no_newline === undefined };
  const { test_smtp: smtpTarget, test_imap: imapTarget, tls } = values;
  if (smtpTarget !== undefined && imapTarget !== undefined) throw new UsageError('argument --test-imap: not allowed with argument --test-smtp');
  if (tls !== undefined && tls !== 'starttls' && tls !== 'implicit') {
    throw new UsageError(`argument --tls: invalid choice: "${escapeForLog(tls)}" (choose from starttls, implicit)`);
  }
  const target = smtpTarget ?? imapTarget;
  if (target !== undefined) {
    opts.test = { kind: smtpTarget !== undefined ? 'smtp' : 'imap', target, ca: values.ca, tls };
    opts.proto = smtpTarget !== undefined ? 'SMTP' : 'IMAP';
  } else if (values.ca !== undefined || tls !== undefined) {
    throw new UsageError(`argument --${values.ca !== undefined ? 'ca' : 'tls'}: only with --test-smtp or --test-imap`);
  }
  return opts;
}

/**
 * The daemon's socket when its config declares none: a copy of
 * defaultSocketPath() in src/config/paths.ts, not imported because that
 * module pulls in node:os and node:path and start-up time matters here.
 */
function defaultSocket(env: CmsOauthIo['env']): string | undefined {
  const abs = (name: string): string | undefined => {
    const value = env[name];
    return value !== undefined && value.startsWith('/') ? value : undefined;
  };
  const runtime = abs('XDG_RUNTIME_DIR');
  if (runtime !== undefined) return `${runtime}/mailtokend/mailtokend.sock`;
  const home = abs('HOME');
  const state = abs('XDG_STATE_HOME') ?? (home === undefined ? undefined : `${home}/.local/state`);
  return state === undefined ? undefined : `${state}/mailtokend/mailtokend.sock`;
}

type Exchange = { ok: true; reply: Buffer } | { ok: false; message: string };

function connectError(sock: string, err: NodeJS.ErrnoException, connected: boolean): string {
  const where = `"${escapeForLog(sock, 300)}"`;
  if (connected && (err.code === 'EPIPE' || err.code === 'ECONNRESET')) {
    return `the daemon at ${where} reset the connection`;
  }
  switch (err.code) {
    case 'ENOENT':
      return `cannot connect to ${where}: no such socket (is mailtokend running? see --cms_sock)`;
    case 'EACCES':
      return `cannot connect to ${where}: permission denied`;
    case 'ECONNREFUSED':
      return `cannot connect to ${where}: connection refused (not a socket, or a stale one: is mailtokend running?)`;
    default:
      return `cannot connect to ${where}: ${err.code ?? err.message}`;
  }
}

/** Send the request, half-close, read the reply until the daemon closes. */
function exchange(sock: string, request: string, timeoutMs: number): Promise<Exchange> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let connected = false;
    const conn = connect({ path: sock });
    const finish = (result: Exchange): void => {
      clearTimeout(timer);
      conn.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => {
      finish({ ok: false, message: `no reply from "${escapeForLog(sock, 300)}" within ${timeoutMs / 1000} s` });
    }, timeoutMs);
    conn.on('connect', () => {
      connected = true;
      conn.end(request);
    });
    conn.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_REPLY_BYTES) {
        finish({ ok: false, message: `reply from "${escapeForLog(sock, 300)}" is over ${MAX_REPLY_BYTES} bytes` });
      } else {
        chunks.push(chunk);
      }
    });
    conn.on('end', () => finish({ ok: true, reply: Buffer.concat(chunks) }));
    conn.on('error', (err: NodeJS.ErrnoException) => finish({ ok: false, message: connectError(sock, err, connected) }));
  });
}

function render(opts: Options, reply: Buffer, user: string, token: string): Buffer {
  switch (opts.output) {
    case 'xoauth2':
      return reply;
    case 'xoauth2-b64':
      return Buffer.from(reply.toString('base64'), 'ascii');
    case 'token':
      return Buffer.from(token, 'ascii');
    case 'oauthbearer':
      return Buffer.from(oauthbearer(user, token), 'utf8');
  }
}

/** Run the command; resolves to the exit status (2 for usage errors, as argparse). */
export async function main(argv: readonly string[], io: CmsOauthIo): Promise<number> {
  let opts: Options | 'help';
  try {
    opts = parseOptions(argv, io.env);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.stderr.write(`${USAGE}\n${PROG}: error: ${err.message}\n`);
    return 2;
  }
  if (opts === 'help') {
    io.stdout.write(Buffer.from(HELP));
    return 0;
  }

  // Exactly what CMS's client sends: f"{args.proto} {args.user}".
  const result = await exchange(opts.sock, `${opts.proto} ${opts.user}`, io.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const sock = `"${escapeForLog(opts.sock, 300)}"`;
  if (!result.ok) {
    io.stderr.write(`${PROG}: ${result.message}\n`);
    return 1;
  }
  if (result.reply.length === 0) {
    io.stderr.write(
      `${PROG}: no token for ${opts.user} from ${sock}: the daemon refused or has no valid grant; see its log\n`,
    );
    return 1;
  }
  const parsed = parseReply(result.reply);
  if (parsed === null) {
    // Never echo the reply: it may hold a token.
    io.stderr.write(`${PROG}: invalid reply (${result.reply.length} bytes) from ${sock}: not an XOAUTH2 string\n`);
    return 1;
  }
  if (opts.test !== undefined) {
    // Loaded only here: the token-printing path keeps its start-up time.
    const { probe } = await import('./cms-oauth-probe.js');
    const oauthbearerMode = opts.output === 'oauthbearer';
    return probe({
      ...opts.test,
      user: parsed.user,
      mechanism: oauthbearerMode ? 'OAUTHBEARER' : 'XOAUTH2',
      response: oauthbearerMode ? oauthbearer(parsed.user, parsed.token) : result.reply.toString('utf8'),
      timeoutMs: io.timeoutMs ?? DEFAULT_TIMEOUT_MS * 3,
      out: (line) => io.stdout.write(Buffer.from(`${line}\n`)),
      err: (line) => io.stderr.write(`${line}\n`),
    });
  }
  const out = render(opts, result.reply, parsed.user, parsed.token);
  io.stdout.write(opts.newline ? Buffer.concat([out, Buffer.from('\n')]) : out);
  return 0;
}

/** Runs the command as a program: process I/O, exit status on exit. */
export function runCli(): void {
  // process.stdout/stderr are getters that build a stream on first use: touch
  // only the one that gets written to.
  const io: CmsOauthIo = {
    stdout: { write: (chunk) => process.stdout.write(chunk) },
    stderr: { write: (chunk) => process.stderr.write(chunk) },
    env: process.env,
  };
  main(process.argv.slice(2), io).then(
    (status) => {
      process.exitCode = status;
    },
    (err: unknown) => {
      process.stderr.write(`${PROG}: internal error: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}

// The program itself (also through npm's bin symlink, whatever its name), not
// an import by the ESM wrapper or a test.
if (require.main === module) runCli();
