/**
 * Hostile socket input for scenario 1, and the judge of each reply. Pure:
 * request i is the same bytes on every run (a seeded generator), so a
 * finding can be replayed.
 *
 * A reply to a hostile request may be empty, an `ERR` line of printable
 * ASCII, or (when the request was in fact valid) a token reply that names
 * exactly the user the request named. Anything else is a bad reply: it names
 * another user, echoes control bytes, or has no valid shape.
 */

export type ReplyFormat = 'xoauth2' | 'b64' | 'token' | 'oauthbearer';

export interface HostileRequest {
  kind: string;
  data: Buffer;
  /** Half-close after writing (exim); false: the request ends with a newline and the client waits. */
  halfClose: boolean;
  /** The user the request names, if it would be served at all; a token reply must name exactly this one. */
  user?: string;
  /** The reply format its options ask for. */
  format?: ReplyFormat;
}

export type Verdict =
  | { kind: 'empty'; why?: undefined }
  | { kind: 'error'; why?: undefined }
  | { kind: 'token'; user: string; token: string; why?: undefined }
  | { kind: 'bad'; why: string };

/** Every this many requests, a valid one for a known account. */
export const GOOD_EVERY = 100;
/** Every this many requests, a 1 MiB line. */
export const HUGE_EVERY = 2_000;

/** A small seeded PRNG (mulberry32), so a run can be repeated with its seed. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PROTOS = ['SMTP', 'IMAP', 'POP'] as const;
const OPTIONS = ['b64', 'token', 'oauthbearer', 'err'] as const;
const CONTROL = [0x00, 0x01, 0x07, 0x08, 0x09, 0x0b, 0x0c, 0x0d, 0x1b, 0x7f];

type Builder = (r: () => number, known: string, unknown: string, other: string) => Omit<HostileRequest, 'kind'>;

const pick = <T>(r: () => number, list: readonly T[]): T => list[Math.floor(r() * list.length)]!;
const ascii = (s: string): Buffer => Buffer.from(s, 'utf8');
const line = (s: string, halfClose = true): Omit<HostileRequest, 'kind'> => ({ data: ascii(halfClose ? s : `${s}\n`), halfClose });

function randomBytes(r: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(r() * 256);
  return b;
}

function formatOf(options: readonly string[]): ReplyFormat {
  return (options.find((o) => o !== 'err') as ReplyFormat | undefined) ?? 'xoauth2';
}

const BUILDERS: Record<string, Builder> = {
  random: (r) => ({ data: randomBytes(r, 1 + Math.floor(r() * 4096)), halfClose: true }),
  'random-line': (r) => ({ data: Buffer.concat([randomBytes(r, 1 + Math.floor(r() * 900)), ascii('\n')]), halfClose: false }),
  'wrong-case': (r, known) => {
    const v = pick(r, [`smtp ${known}`, `Smtp ${known}`, `SMTP ${known.toUpperCase()}`, `IMAP,B64 ${known}`, `SMTP,Err ${known}`]);
    // An upper-cased address is the same account: served, and the reply names it as the client wrote it.
    return v === `SMTP ${known.toUpperCase()}` ? { ...line(v), user: known.toUpperCase(), format: 'xoauth2' } : line(v);
  },
  tab: (r, known) => line(pick(r, [`SMTP\t${known}`, `SMTP ${known}\t`, `\tSMTP ${known}`, `SMTP,err\t${known}`])),
  cr: (r, known) => {
    if (r() < 0.3) return { ...line(`SMTP ${known}\r`, false), user: known, format: 'xoauth2' }; // CRLF: valid
    return line(pick(r, [`SMTP\r${known}`, `SMTP ${known}\r`, `\rSMTP ${known}`, `SMTP ${known}\r\rX`]));
  },
  nul: (r, known, unknown) => line(pick(r, [`SMTP ${known}\0`, `SMTP \0${known}`, `SMTP ${unknown}\0${known}`, `\0SMTP ${known}`, `SMTP,err ${known}\0`])),
  control: (r, known) => {
    const c = String.fromCharCode(pick(r, CONTROL));
    return line(pick(r, [`SMTP ${known}${c}`, `SMTP ${c}${known}`, `SMTP${c} ${known}`, `SMTP ${known}\x01auth=Bearer forged\x01\x01`, `SMTP,err ${known}${c}`, `SMTP \x1b[2J${known}`]));
  },
  'two-lines': (r, known, unknown, other) => {
    // The daemon reads up to the first newline (doc/architecture.md): a reply may only be for the first line's user.
    const [first, text] = pick(r, [
      [unknown, `SMTP ${unknown}\nSMTP ${known}\n`],
      [known, `SMTP ${known}\nSMTP ${other}\n`],
      [other, `SMTP ${other}\nSMTP ${known}`],
      [known, `SMTP ${known}\n\n`],
      [unknown, `SMTP,err ${unknown}\nSMTP,err ${known}`],
    ] as const);
    return { ...line(text), user: first, format: 'xoauth2' };
  },
  'long-user': (r, known) => {
    const local = 'a'.repeat(200 + Math.floor(r() * 900));
    return line(pick(r, [`SMTP ${local}@gmail.test`, `SMTP ${local}${known}`, `SMTP,err ${local}@contoso.test`, `SMTP ${known}${'x'.repeat(300)}`]));
  },
  options: (r, known) => {
    const n = Math.floor(r() * 40);
    const opts = Array.from({ length: n }, () => pick(r, [...OPTIONS, 'x', '', 'B64', 'token=1', 'err,err']));
    const valid = [...new Set(opts)].filter((o) => (OPTIONS as readonly string[]).includes(o));
    const chosen = r() < 0.3 ? valid.filter((o, i) => o === 'err' || valid.findIndex((p) => p !== 'err') === i) : opts;
    const text = `${pick(r, PROTOS)}${chosen.length ? `,${chosen.join(',')}` : ''} ${known}`;
    return { ...line(text), user: known, format: formatOf(chosen) };
  },
  utf8: (r, known) => {
    const bad = pick(r, [[0xff], [0xfe, 0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xc3]]);
    const [local, domain] = known.split('@') as [string, string];
    const at = Math.floor(r() * 3);
    const parts = at === 0 ? [ascii(`SMTP ${local}`), Buffer.from(bad), ascii(`@${domain}`)] : at === 1 ? [ascii(`SMTP ${known}`), Buffer.from(bad)] : [Buffer.from(bad), ascii(` ${known}`)];
    return { data: Buffer.concat(parts), halfClose: true };
  },
  unknown: (r, _known, unknown) => {
    const opts = r() < 0.5 ? ',err' : '';
    return { ...line(`${pick(r, PROTOS)}${opts} ${unknown}`, r() < 0.5), user: unknown, format: 'xoauth2' };
  },
  spoof: (r, known, unknown, other) =>
    line(pick(r, [`SMTP ${known} ${other}`, `SMTP ${unknown} ${known}`, `SMTP user=${other}\x01 ${known}`, `SMTP ${known},${other}`, `SMTP,${known} ${other}`, `SMTP ${other}@${known}`])),
  'almost-valid': (r, known) => {
    // Valid requests in every form a client may send them: served, naming exactly the user asked.
    const opts = pick(r, [[], ['b64'], ['token'], ['oauthbearer'], ['err'], ['b64', 'err']]);
    const text = `${pick(r, PROTOS)}${opts.length ? `,${opts.join(',')}` : ''} ${known}`;
    return { ...line(text, r() < 0.5), user: known, format: formatOf(opts) };
  },
};

const KINDS = Object.keys(BUILDERS);

/** Request number `i` of the hostile stream, for `known` accounts (at least one). */
export function hostileRequest(i: number, known: readonly string[]): HostileRequest {
  const r = seeded(Math.imul(i + 1, 2654435761) ^ 0x5bd1e995);
  const user = known[Math.floor(i / GOOD_EVERY) % known.length]!;
  if (i % GOOD_EVERY === 0) {
    const proto = pick(r, PROTOS.slice(0, 2));
    return { kind: 'good', ...line(`${proto} ${user}`, i % (2 * GOOD_EVERY) === 0), user, format: 'xoauth2' };
  }
  if (i % HUGE_EVERY === HUGE_EVERY - 1) {
    return { kind: 'huge', data: Buffer.concat([ascii('SMTP '), Buffer.alloc(1 << 20, 0x61), ascii(`@gmail.test ${user}\n`)]), halfClose: true };
  }
  const kind = pick(r, KINDS);
  const other = known[(known.indexOf(user) + 1) % known.length]!;
  const unknown = `nobody${Math.floor(r() * 1e6)}@${user.split('@')[1]}`;
  return { kind, ...BUILDERS[kind]!(r, user, unknown, other) };
}

const XOAUTH2 = /^user=(.*)\x01auth=Bearer ([\x21-\x7e]+)\x01\x01$/su;
const OAUTHBEARER = /^n,a=(.*),\x01auth=Bearer ([\x21-\x7e]+)\x01\x01$/su;
const ERR = /^ERR [A-Za-z0-9._-]+ [\x20-\x7e]+\n$/;
const PRINTABLE_USER = /^[^\p{C}\p{Z}]+$/u;

/** A reply for a report: short, and never more than 8 characters of a token (or of a bare or base64 reply). */
function show(b: Buffer): string {
  const text = b.subarray(0, 80).toString('latin1');
  const bare = /^[\x21-\x7e]{17,}$/.test(text);
  const safe = bare ? `${text.slice(0, 8)}…` : text.replace(/(Bearer )([\x21-\x7e]{0,8})[\x21-\x7e]*/g, '$1$2…');
  return JSON.stringify(safe);
}

/** What the reply to `req` is, and whether it is allowed. */
export function judgeReply(req: HostileRequest, reply: Buffer): Verdict {
  if (reply.length === 0) return { kind: 'empty' };
  if (reply.subarray(0, 4).toString('latin1') === 'ERR ') {
    return ERR.test(reply.toString('latin1')) ? { kind: 'error' } : { kind: 'bad', why: `ERR reply with bytes outside printable ASCII: ${show(reply)}` };
  }
  if (req.user === undefined) return { kind: 'bad', why: `a token reply to a request that names no servable user: ${show(reply)}` };
  let text: string;
  switch (req.format ?? 'xoauth2') {
    case 'token': {
      const token = reply.toString('latin1');
      return /^[\x21-\x7e]+$/.test(token) ? { kind: 'token', user: req.user, token } : { kind: 'bad', why: `bare token reply with control bytes: ${show(reply)}` };
    }
    case 'b64': {
      const b64 = reply.toString('latin1');
      if (!/^[A-Za-z0-9+/]+=*$/.test(b64)) return { kind: 'bad', why: `b64 reply that is not base64: ${show(reply)}` };
      text = Buffer.from(b64, 'base64').toString('utf8');
      break;
    }
    default:
      text = reply.toString('utf8');
  }
  const m = (req.format === 'oauthbearer' ? OAUTHBEARER : XOAUTH2).exec(text);
  if (!m) return { kind: 'bad', why: `reply of no valid shape: ${show(reply)}` };
  const named = req.format === 'oauthbearer' ? m[1]!.replace(/=2C/g, ',').replace(/=3D/g, '=') : m[1]!;
  if (!PRINTABLE_USER.test(named)) return { kind: 'bad', why: `reply echoes control bytes in the user: ${show(reply)}` };
  if (named !== req.user) return { kind: 'bad', why: `reply names ${JSON.stringify(named)}, the request named ${JSON.stringify(req.user)}` };
  return { kind: 'token', user: named, token: m[2]! };
}
