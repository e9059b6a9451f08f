/**
 * The one-line socket protocol of cloud_mdir_sync's CredentialServer
 * (`credsrv.py`), extended with options. Pure: no I/O. The `cms-oauth`
 * client restates the few rules it needs instead of importing this module
 * (its start-up time is benchmarked); test/cms-oauth.test.ts keeps the two in
 * step.
 *
 * Request: `PROTO[,OPT...] USER`, CMS's grammar `([^ ,]+)(?:,(\S+))? (\S+@\S+)`.
 * We accept a strict subset of what CMS accepts: CMS's `re.match` is anchored
 * only at the start and ignores unknown options; we reject trailing text,
 * unknown options and control bytes, so what we log and echo back in the reply
 * is exactly what the client meant. CMS's own client (`PROTO USER`, no newline)
 * and exim's `${readsocket{..}{SMTP user@domain}}` fall inside the subset.
 */
import { isUtf8 } from 'node:buffer';
import { MailtokendError } from './errors.js';

export type Proto = 'SMTP' | 'IMAP' | 'POP';
export type ReplyFormat = 'xoauth2' | 'b64' | 'token' | 'oauthbearer';

export interface TokenRequest {
  proto: Proto;
  user: string;
  format: ReplyFormat;
  /** `err` option: on failure reply `ERR <code> <message>\n` instead of nothing. */
  errReply: boolean;
}

export type ParseResult =
  | { ok: true; request: TokenRequest }
  | {
      ok: false;
      code: 'bad-request' | 'too-long';
      /** Safe to log: client bytes only ever appear through {@link escapeForLog}. */
      reason: string;
    };

/** Longest request, terminator included. A real one is under 300 bytes. */
export const MAX_REQUEST_BYTES = 1024;
/** RFC 5321 caps a forward path at 256 octets, i.e. 254 for the address. */
export const MAX_USER_BYTES = 254;

const PROTOS: ReadonlySet<string> = new Set<Proto>(['SMTP', 'IMAP', 'POP']);
const FORMAT_OPTIONS: ReadonlySet<string> = new Set<ReplyFormat>(['b64', 'token', 'oauthbearer']);
const LF = 0x0a;

// CMS's `\S+@\S+`, restricted to printable characters: no control, format,
// private-use, unassigned or separator code points (that covers NUL, \x01,
// tab, CR, DEL, NBSP, U+2028 ...), since the user is echoed into the reply.
const USER_RE = /^[^\p{C}\p{Z}]+@[^\p{C}\p{Z}]+$/u;
// The same answer for an all-ASCII user (no ASCII printable is C or Z), at a
// fraction of the cost of the Unicode property classes: checked per request.
const ASCII_USER_RE = /^[\x21-\x7e]+@[\x21-\x7e]+$/;
const LINE_RE = /^([^ ,]+)(?:,([^ ]+))? ([^ ]+)$/;
const TOKEN_RE = /^[\x21-\x7e]+$/;

/** True if `user` may appear in a request and in a reply. */
export function isValidUser(user: string): boolean {
  return Buffer.byteLength(user, 'utf8') <= MAX_USER_BYTES && (ASCII_USER_RE.test(user) || USER_RE.test(user));
}

/** Index of the first `\n` in `data`, or -1: the server stops reading there. */
export function findRequestEnd(data: Buffer): number {
  return data.indexOf(LF);
}

function bad(reason: string): ParseResult {
  return { ok: false, code: 'bad-request', reason };
}

/**
 * Parse one request: the bytes received up to the client's half-close, or up
 * to and including the first newline (`\n` or `\r\n`). Never throws.
 *
 * Bytes after the first newline make the request bad: the protocol carries
 * one request per connection and one reply, so a second line is a confused or
 * pipelining client; answering only the first would hide its mistake. A
 * server that reads up to {@link findRequestEnd} never passes such bytes.
 */
export function parseRequest(data: Buffer): ParseResult {
  if (data.length > MAX_REQUEST_BYTES) {
    return { ok: false, code: 'too-long', reason: `request longer than ${MAX_REQUEST_BYTES} bytes` };
  }
  let end = data.length;
  const lf = findRequestEnd(data);
  if (lf !== -1) {
    if (lf !== data.length - 1) {
      return bad(`data after the request line: ${quote(data.subarray(lf + 1))}`);
    }
    end = lf > 0 && data[lf - 1] === 0x0d ? lf - 1 : lf;
  }
  const line = data.subarray(0, end);
  if (line.length === 0) return bad('empty request');
  for (let i = 0; i < line.length; i++) {
    const b = line[i] as number;
    if (b < 0x20 || b === 0x7f) {
      return bad(`control byte \\x${hex(b)} at offset ${i} in ${quote(line)}`);
    }
  }
  if (!isUtf8(line)) return bad(`invalid UTF-8 in ${quote(line)}`);
  const text = line.toString('utf8');

  const m = LINE_RE.exec(text);
  if (m === null) return bad(`not "PROTO[,OPT...] USER": ${quote(text)}`);
  const [, proto = '', opts, user = ''] = m;

  // CMS compares the protocol exactly (`proto not in account.protocols`).
  if (!PROTOS.has(proto)) return bad(`unknown protocol ${quote(proto)} (SMTP, IMAP or POP)`);

  let format: ReplyFormat = 'xoauth2';
  let errReply = false;
  const seen = new Set<string>();
  for (const opt of opts === undefined ? [] : opts.split(',')) {
    if (seen.has(opt)) return bad(`option ${quote(opt)} given twice`);
    seen.add(opt);
    if (opt === 'err') {
      errReply = true;
    } else if (FORMAT_OPTIONS.has(opt)) {
      if (format !== 'xoauth2') return bad(`more than one reply format: ${quote(opts ?? '')}`);
      format = opt as ReplyFormat;
    } else {
      // CMS ignores options; we refuse, so a typo never silently yields a
      // reply in a format the client cannot use.
      return bad(`unknown option ${quote(opt)} (b64, token, oauthbearer, err)`);
    }
  }

  if (!isValidUser(user)) return bad(`invalid user ${quote(user)}`);
  return { ok: true, request: { proto: proto as Proto, user, format, errReply } };
}

// RFC 5801 gs2 saslname: ',' and '=' in the authzid must be escaped.
function gs2Name(user: string): string {
  return user.replace(/=/g, '=3D').replace(/,/g, '=2C');
}

/**
 * The reply for a granted request, without newline. Throws MailtokendError
 * (`invalid-user`, `invalid-token`) rather than send a reply a client would
 * misparse; the message never contains the token.
 */
export function formatReply(req: TokenRequest, accessToken: string): Buffer {
  if (!isValidUser(req.user)) {
    throw new MailtokendError('invalid-user', `cannot reply for invalid user ${quote(req.user)}`);
  }
  if (!isValidToken(accessToken)) {
    throw new MailtokendError('invalid-token', 'access token is empty or not printable ASCII');
  }
  return formatCheckedReply(req, accessToken);
}

/** Whether an access token can go into a reply (non-empty printable ASCII). */
export function isValidToken(accessToken: string): boolean {
  return TOKEN_RE.test(accessToken);
}

/**
 * `formatReply` without its checks, for the serving fast path: `req` must come
 * from `parseRequest` (which checked the user) and `accessToken` must have
 * passed `isValidToken` (the replica checks each token once, when it arrives).
 */
export function formatCheckedReply(req: TokenRequest, accessToken: string): Buffer {
  const xoauth2 = `user=${req.user}\x01auth=Bearer ${accessToken}\x01\x01`;
  switch (req.format) {
    case 'xoauth2':
      return Buffer.from(xoauth2, 'utf8');
    case 'b64':
      return Buffer.from(Buffer.from(xoauth2, 'utf8').toString('base64'), 'ascii');
    case 'token':
      return Buffer.from(accessToken, 'ascii');
    case 'oauthbearer':
      return Buffer.from(`n,a=${gs2Name(req.user)},\x01auth=Bearer ${accessToken}\x01\x01`, 'utf8');
    default: {
      const never: never = req.format;
      throw new MailtokendError('invalid-format', `unknown reply format ${quote(String(never))}`);
    }
  }
}

/** `ERR <code> <message>\n`, printable ASCII, one line, whatever the input. */
export function formatErrorReply(code: string, message: string): Buffer {
  const safeCode = code.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 64) || 'error';
  const safeMessage =
    message
      .replace(/\s+/gu, ' ')
      .replace(/[^\x20-\x7e]/gu, '?')
      .trim()
      .slice(0, 200) || 'no details';
  return Buffer.from(`ERR ${safeCode} ${safeMessage}\n`, 'ascii');
}

/**
 * Printable-ASCII rendering of untrusted bytes for logs and stderr: `\` and
 * `"` are backslash-escaped (so the result can sit inside quotes), any other
 * byte outside 0x20-0x7e becomes `\xNN` (strings are taken as UTF-8), and the
 * output stops near `max` characters with a note of how many bytes were cut.
 */
export function escapeForLog(data: Buffer | string, max = 100): string {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let out = '';
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] as number;
    const piece =
      b === 0x5c ? '\\\\' : b === 0x22 ? '\\"' : b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${hex(b)}`;
    if (out.length + piece.length > max) return `${out}...(+${bytes.length - i} bytes)`;
    out += piece;
  }
  return out;
}

function quote(data: Buffer | string): string {
  return `"${escapeForLog(data)}"`;
}

function hex(b: number): string {
  return b.toString(16).padStart(2, '0');
}
