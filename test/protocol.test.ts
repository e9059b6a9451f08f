import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MailtokendError } from '../src/errors.js';
import {
  MAX_REQUEST_BYTES,
  escapeForLog,
  findRequestEnd,
  formatErrorReply,
  formatReply,
  parseRequest,
  type ParseResult,
  type TokenRequest,
} from '../src/protocol.js';

const USER = 'user@example.com';
const TOKEN = 'ya29.a0AfB_byC-token~/+=';
const b = (s: string): Buffer => Buffer.from(s, 'latin1');

function ok(data: Buffer | string): TokenRequest {
  const r = parseRequest(typeof data === 'string' ? Buffer.from(data) : data);
  if (!r.ok) throw new Error(`expected ok, got ${r.code}: ${r.reason}`);
  return r.request;
}

function rejected(data: Buffer | string): Extract<ParseResult, { ok: false }> {
  const r = parseRequest(typeof data === 'string' ? b(data) : data);
  if (r.ok) throw new Error(`expected a rejection for ${escapeForLog(data)}`);
  return r;
}

test('the request CMS clients send: PROTO USER, no terminator', () => {
  assert.equal(ok('SMTP user@example.com'), { proto: 'SMTP', user: USER, format: 'xoauth2', errReply: false });
  assert.is(ok('IMAP user@example.com').proto, 'IMAP');
  assert.is(ok('POP user@example.com').proto, 'POP');
});

test('a trailing LF or CRLF ends the request (nc -U)', () => {
  assert.equal(ok('SMTP user@example.com\n'), ok('SMTP user@example.com'));
  assert.equal(ok('SMTP user@example.com\r\n'), ok('SMTP user@example.com'));
});

test('every option and combination', () => {
  const cases: Array<[string, TokenRequest['format'], boolean]> = [
    ['SMTP,b64', 'b64', false],
    ['SMTP,token', 'token', false],
    ['SMTP,oauthbearer', 'oauthbearer', false],
    ['SMTP,err', 'xoauth2', true],
    ['IMAP,b64,err', 'b64', true],
    ['IMAP,err,token', 'token', true],
    ['POP,oauthbearer,err', 'oauthbearer', true],
  ];
  for (const [head, format, errReply] of cases) {
    const r = ok(`${head} ${USER}`);
    assert.is(r.format, format, head);
    assert.is(r.errReply, errReply, head);
    assert.is(r.user, USER);
  }
});

test('options are strict: unknown, empty, repeated, two formats', () => {
  for (const head of ['SMTP,bogus', 'SMTP,B64', 'SMTP,,b64', 'SMTP,b64,', 'SMTP,err,err', 'SMTP,b64,b64', 'SMTP,b64,token', 'SMTP,token,oauthbearer']) {
    assert.is(rejected(`${head} ${USER}`).code, 'bad-request', head);
  }
  assert.match(rejected(`SMTP,bogus ${USER}`).reason, 'unknown option "bogus"');
  assert.match(rejected(`SMTP,b64,token ${USER}`).reason, 'more than one reply format');
});

test('protocol is exact: case, unknown names', () => {
  for (const proto of ['smtp', 'Smtp', 'FTP', 'POP3', 'IMAPS', '']) {
    assert.is(rejected(`${proto} ${USER}`).code, 'bad-request', proto);
  }
  assert.match(rejected(`smtp ${USER}`).reason, 'unknown protocol "smtp"');
});

test('the line shape: one space, nothing around it', () => {
  for (const line of ['SMTP  user@x.org', ' SMTP user@x.org', 'SMTP user@x.org ', 'SMTP user@x.org extra', 'SMTP', 'SMTP ', '', 'SMTP, user@x.org']) {
    assert.is(rejected(line).code, 'bad-request', JSON.stringify(line));
  }
});

test('user: the grammar \\S+@\\S+', () => {
  assert.is(ok('SMTP a@b@c').user, 'a@b@c');
  assert.is(ok('SMTP a@@b').user, 'a@@b');
  assert.is(ok('SMTP first,last@example.com').user, 'first,last@example.com');
  assert.is(ok('SMTP j\u00f6rg@example.com').user, 'j\u00f6rg@example.com');
  for (const user of ['userexample.com', '@example.com', 'user@', '@', '@@', '@a@']) {
    assert.is(rejected(`SMTP ${user}`).code, 'bad-request', user);
  }
});

test('user: control bytes, tabs, CR, NUL, \\x01, DEL, unicode spaces are refused', () => {
  for (const bad of ['\t', '\r', '\x00', '\x01', '\x1b', '\x7f', '\x0b', '\x0c']) {
    const r = rejected(`SMTP user@exa${bad}mple.com`);
    assert.is(r.code, 'bad-request');
    assert.match(r.reason, /control byte \\x[0-9a-f]{2} at offset 13/);
  }
  for (const cp of ['\u00a0', '\u0085', '\u2028', '\u200b', '\u3000', '\ufeff', '\ue000']) {
    assert.is(rejected(Buffer.from(`SMTP user@exa${cp}mple.com`)).code, 'bad-request', escapeForLog(cp));
  }
});

test('invalid UTF-8 is refused', () => {
  for (const seq of ['\xf6', '\xc3', '\xed\xa0\x80', '\xc0\xaf', '\xff']) {
    const r = rejected(`SMTP j${seq}rg@example.com`);
    assert.match(r.reason, 'invalid UTF-8');
  }
});

test('limits: user 254 bytes, request 1 KiB', () => {
  const local = 'a'.repeat(254 - '@example.com'.length);
  assert.is(ok(`SMTP ${local}@example.com`).user.length, 254);
  assert.is(rejected(`SMTP a${local}@example.com`).code, 'bad-request');
  // A multibyte user is counted in bytes.
  assert.is(rejected(Buffer.from(`SMTP ${'\u00f6'.repeat(125)}@ex.com`)).code, 'bad-request');
  const filler = 'SMTP ' + 'x'.repeat(MAX_REQUEST_BYTES - 5);
  assert.is(rejected(filler).code, 'bad-request');
  assert.is(rejected(filler + 'y').code, 'too-long');
  assert.is(rejected(Buffer.alloc(1_000_000, 0x41)).code, 'too-long');
});

test('bytes after the first newline make a bad request', () => {
  for (const data of ['SMTP user@x.org\nIMAP user@x.org', 'SMTP user@x.org\n\n', 'SMTP user@x.org\r\n\r\n', 'SMTP user@x.org\nx']) {
    assert.match(rejected(data).reason, 'data after the request line', JSON.stringify(data));
  }
  assert.is(rejected('\n').code, 'bad-request');
  assert.is(rejected('\r\n').code, 'bad-request');
  assert.is(rejected('SMTP user@x.org\r').code, 'bad-request');
  assert.is(rejected('SMTP user@x.org\r\r\n').code, 'bad-request');
});

test('findRequestEnd finds the first LF', () => {
  assert.is(findRequestEnd(b('SMTP a@b')), -1);
  assert.is(findRequestEnd(b('SMTP a@b\n')), 8);
  assert.is(findRequestEnd(b('SMTP a@b\r\nX\n')), 9);
  assert.is(findRequestEnd(Buffer.alloc(0)), -1);
});

// What CMS's own server regex made of a set of lines, recorded from CMS
// commit 83470508 in test/fixtures/protocol/cms-server-grammar.json: whatever
// we accept, CMS accepts too and reads the same way; what CMS refuses, we refuse.
interface GrammarCase {
  request_b64: string;
  cms: { proto: string; opts: string[]; user: string } | null;
}
const grammar = JSON.parse(readFileSync(new URL('../../test/fixtures/protocol/cms-server-grammar.json', import.meta.url), 'utf8')) as GrammarCase[];

test('we accept a subset of what CMS accepts, and read it the same way', () => {
  let accepted = 0;
  for (const c of grammar) {
    const raw = Buffer.from(c.request_b64, 'base64');
    const r = parseRequest(raw);
    if (!r.ok) continue;
    accepted++;
    const label = escapeForLog(raw);
    assert.ok(c.cms !== null, `CMS rejects ${label} but we accept it`);
    if (c.cms === null) continue;
    assert.is(r.request.proto, c.cms.proto, label);
    assert.is(r.request.user, c.cms.user, label);
    const opts = [...(r.request.format === 'xoauth2' ? [] : [r.request.format]), ...(r.request.errReply ? ['err'] : [])];
    assert.equal([...opts].sort(), [...c.cms.opts].sort(), label);
  }
  assert.is(accepted, 15);
});

test('reply formats, byte-exact', () => {
  const req = (format: TokenRequest['format'], user = USER): TokenRequest => ({ proto: 'SMTP', user, format, errReply: false });
  const xoauth2 = b(`user=user@example.com\x01auth=Bearer ${TOKEN}\x01\x01`);
  assert.equal(formatReply(req('xoauth2'), TOKEN), xoauth2);
  assert.equal(
    formatReply(req('b64'), TOKEN),
    b('dXNlcj11c2VyQGV4YW1wbGUuY29tAWF1dGg9QmVhcmVyIHlhMjkuYTBBZkJfYnlDLXRva2Vufi8rPQEB'),
  );
  assert.equal(formatReply(req('token'), TOKEN), b(TOKEN));
  assert.equal(formatReply(req('oauthbearer'), TOKEN), b(`n,a=user@example.com,\x01auth=Bearer ${TOKEN}\x01\x01`));
  // RFC 5801 saslname escaping of the authzid.
  assert.equal(formatReply(req('oauthbearer', 'a,b=c@x.org'), 'T'), b('n,a=a=2Cb=3Dc@x.org,\x01auth=Bearer T\x01\x01'));
  // UTF-8 users go out as UTF-8.
  assert.equal(formatReply(req('xoauth2', 'j\u00f6rg@x.org'), 'T'), Buffer.from('user=j\u00f6rg@x.org\x01auth=Bearer T\x01\x01'));
  // errReply does not change a successful reply.
  assert.equal(formatReply({ ...req('xoauth2'), errReply: true }, TOKEN), xoauth2);
});

test('formatReply refuses a token or user that would corrupt the reply, without echoing the token', () => {
  const req: TokenRequest = { proto: 'IMAP', user: USER, format: 'xoauth2', errReply: false };
  for (const token of ['', 'a b', 'secret\x01x', 'secret\n', 'geheim\u00e4']) {
    try {
      formatReply(req, token);
      assert.unreachable(`accepted ${escapeForLog(token)}`);
    } catch (err) {
      assert.instance(err, MailtokendError);
      assert.is((err as MailtokendError).code, 'invalid-token');
      assert.not.match((err as Error).message, 'secret');
      assert.not.match((err as Error).message, 'geheim');
    }
  }
  assert.throws(() => formatReply({ ...req, user: 'a\x01@b' }, 'T'), (err: unknown) => err instanceof MailtokendError && err.code === 'invalid-user');
});

test('formatErrorReply: one line of printable ASCII', () => {
  assert.equal(formatErrorReply('needs-auth', 'user@example.com needs sign-in'), b('ERR needs-auth user@example.com needs sign-in\n'));
  assert.equal(formatErrorReply('x', 'line one\r\nline\ttwo\x00 \x01end'), b('ERR x line one line two? ?end\n'));
  assert.equal(formatErrorReply('x', 'j\u00f6rg \u{1f600}'), b('ERR x j?rg ?\n'));
  assert.equal(formatErrorReply('bad code\n', ''), b('ERR bad-code- no details\n'));
  assert.equal(formatErrorReply('', 'm'), b('ERR error m\n'));
  const long = formatErrorReply('c', 'm'.repeat(5000));
  assert.ok(long.length < 300);
  assert.is(findRequestEnd(long), long.length - 1);
});

test('escapeForLog', () => {
  assert.is(escapeForLog('SMTP user@x.org'), 'SMTP user@x.org');
  assert.is(escapeForLog(b('a\x00b\x01\r\n\t\x7f\xff')), 'a\\x00b\\x01\\x0d\\x0a\\x09\\x7f\\xff');
  assert.is(escapeForLog('back\\slash "q"'), 'back\\\\slash \\"q\\"');
  assert.is(escapeForLog('j\u00f6rg'), 'j\\xc3\\xb6rg');
  assert.is(escapeForLog('abcdef', 4), 'abcd...(+2 bytes)');
  assert.is(escapeForLog(b('ab\x00'), 4), 'ab...(+1 bytes)');
  assert.is(escapeForLog(Buffer.alloc(0)), '');
  const big = escapeForLog(Buffer.alloc(100_000, 0));
  assert.ok(big.length < 130);
  assert.match(big, /^(\\x00)+\.\.\.\(\+\d+ bytes\)$/);
});

// Deterministic PRNG so a failure can be replayed.
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function checkResult(data: Buffer, r: ParseResult): void {
  const label = escapeForLog(data, 200);
  if (!r.ok) {
    assert.ok(/^[\x20-\x7e]*$/.test(r.reason), `reason not printable for ${label}`);
    assert.ok(r.reason.length < 300, `reason too long for ${label}`);
    return;
  }
  const { user, proto } = r.request;
  assert.ok(['SMTP', 'IMAP', 'POP'].includes(proto), label);
  assert.not.match(user, /[\x00-\x20\x7f]/, label);
  assert.ok(Buffer.byteLength(user) <= 254, label);
  assert.ok(/^\S+@\S+$/u.test(user), label);
  for (const format of ['xoauth2', 'b64', 'token', 'oauthbearer'] as const) {
    const reply = formatReply({ ...r.request, format }, TOKEN);
    assert.not.match(reply.toString('utf8'), /[\x00\x02-\x1f\x7f]/, label);
  }
}

test('fuzz: random bytes never throw and never yield a bad user', () => {
  const rnd = mulberry32(0x5eed);
  for (let i = 0; i < 3000; i++) {
    const len = Math.floor(rnd() * (i % 10 === 0 ? 1100 : 60));
    const data = Buffer.alloc(len);
    for (let j = 0; j < len; j++) data[j] = Math.floor(rnd() * 256);
    checkResult(data, parseRequest(data));
  }
});

test('fuzz: mutated valid requests never throw and never yield a bad user', () => {
  const rnd = mulberry32(42);
  const seeds = ['SMTP user@example.com', 'IMAP,b64,err j\u00f6rg@x.org\n', 'POP,oauthbearer a@b\r\n', 'SMTP,token a,b=c@d'];
  const interesting = [0x00, 0x01, 0x09, 0x0a, 0x0d, 0x20, 0x2c, 0x40, 0x7f, 0x80, 0xc3, 0xe2, 0xff];
  let accepted = 0;
  for (let i = 0; i < 5000; i++) {
    const bytes = [...Buffer.from(seeds[i % seeds.length] as string)];
    const edits = 1 + Math.floor(rnd() * 3);
    for (let e = 0; e < edits; e++) {
      const at = Math.floor(rnd() * (bytes.length + 1));
      const byte = rnd() < 0.6 ? (interesting[Math.floor(rnd() * interesting.length)] as number) : Math.floor(rnd() * 256);
      const op = rnd();
      if (op < 0.4) bytes.splice(at, 0, byte);
      else if (op < 0.8) bytes.splice(at, 1, byte);
      else bytes.splice(at, 1);
    }
    const data = Buffer.from(bytes);
    const r = parseRequest(data);
    if (r.ok) accepted++;
    checkResult(data, r);
  }
  // The mutations must exercise the accepting path too, not only rejections.
  assert.ok(accepted > 200, `only ${accepted} mutated requests accepted`);
});

test.run();
