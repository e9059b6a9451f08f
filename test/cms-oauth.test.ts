import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { main, type CmsOauthIo } from '../src/cli/cms-oauth.cjs';
import { formatReply, isValidUser, parseRequest } from '../src/protocol.js';

// Tests run from dist/test: the built client sits next to it, fixtures stay in the source tree.
const CLI = fileURLToPath(new URL('../src/cli/cms-oauth.cjs', import.meta.url));
/** The ES module path that older instructions name; it forwards to CLI. */
const CLI_ESM = fileURLToPath(new URL('../src/cli/cms-oauth.js', import.meta.url));

// Recorded from CMS's own cms_oauth_main.py (commit 83470508) against a recording socket.
interface ClientFixture {
  user: string;
  token: string;
  reply_b64: string;
  sock_placeholder: string;
  cases: Array<{ args: string[]; request_b64: string; stdout_b64: string }>;
}
const cms = JSON.parse(
  readFileSync(new URL('../../test/fixtures/protocol/cms-client.json', import.meta.url), 'utf8'),
) as ClientFixture;
const USER = cms.user;
const TOKEN = cms.token;
const REPLY = Buffer.from(cms.reply_b64, 'base64');

const dir = mkdtempSync(join(tmpdir(), 'cms-oauth-test-'));
const SOCK = join(dir, 'd.sock');

interface Fake {
  server: Server;
  requests: Buffer[];
  open: Set<Socket>;
  /** What to answer to a request; undefined: never answer. */
  answer: (request: Buffer) => Buffer | undefined;
}

// Answers REPLY only to exactly what CMS's client sends, `PROTO USER`.
const exactCms = (request: Buffer): Buffer => (/^(SMTP|IMAP|POP) user@example\.com$/.test(request.toString('latin1')) ? REPLY : Buffer.alloc(0));

function startFake(path: string, answer: Fake['answer'] = exactCms): Promise<Fake> {
  // allowHalfOpen as the daemon's listener: the client's half-close must not close our side.
  const fake: Fake = { server: createServer({ allowHalfOpen: true }), requests: [], answer, open: new Set() };
  fake.server.on('connection', (conn) => {
    fake.open.add(conn);
    conn.on('close', () => fake.open.delete(conn));
    const chunks: Buffer[] = [];
    conn.on('data', (c: Buffer) => chunks.push(c));
    conn.on('end', () => {
      const request = Buffer.concat(chunks);
      fake.requests.push(request);
      const reply = fake.answer(request);
      if (reply !== undefined) conn.end(reply);
    });
    conn.on('error', () => conn.destroy());
  });
  return new Promise((resolve) => fake.server.listen(path, () => resolve(fake)));
}

function stopFake(fake: Fake): Promise<void> {
  for (const conn of fake.open) conn.destroy();
  return new Promise((resolve) => fake.server.close(() => resolve()));
}

interface Run {
  status: number | null;
  stdout: Buffer;
  stderr: string;
}

function run(args: string[], env: Record<string, string> = {}, script = CLI): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { env: { PATH: process.env['PATH'] ?? '', ...env } });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') }));
  });
}

async function withFake<T>(fn: (fake: Fake) => Promise<T>, answer?: Fake['answer'], path = SOCK): Promise<T> {
  const fake = await startFake(path, answer);
  try {
    return await fn(fake);
  } finally {
    await stopFake(fake);
  }
}

test.after(() => rmSync(dir, { recursive: true, force: true }));

test('same request and byte-identical stdout as CMS cms-oauth for every --proto/--output/--no_newline', async () => {
  assert.is(cms.cases.length, 24);
  await withFake(async (fake) => {
    for (const c of cms.cases) {
      const args = c.args.map((a) => a.replace(cms.sock_placeholder, SOCK));
      const r = await run(args);
      const label = args.join(' ');
      assert.is(r.stderr, '', label);
      assert.is(r.status, 0, label);
      assert.equal(fake.requests.pop(), Buffer.from(c.request_b64, 'base64'), label);
      assert.equal(r.stdout, Buffer.from(c.stdout_b64, 'base64'), label);
    }
  });
});

test('POP and the oauthbearer output (not in CMS)', async () => {
  await withFake(async (fake) => {
    let r = await run(['--user', USER, '--cms_sock', SOCK, '--proto', 'POP', '--output', 'token']);
    assert.is(r.status, 0);
    assert.equal(fake.requests.pop(), Buffer.from(`POP ${USER}`));
    assert.equal(r.stdout, Buffer.from(`${TOKEN}\n`));
    r = await run(['--user', USER, '--cms_sock', SOCK, '--proto=IMAP', '--output=oauthbearer', '--no_newline']);
    assert.is(r.status, 0);
    assert.equal(fake.requests.pop(), Buffer.from(`IMAP ${USER}`));
    assert.equal(r.stdout, Buffer.from(`n,a=${USER},\x01auth=Bearer ${TOKEN}\x01\x01`));
  });
});

test('dashed spellings and argparse-style unambiguous prefixes', async () => {
  await withFake(async () => {
    for (const args of [
      ['--user', USER, '--cms-sock', SOCK, '--output=token', '--no-newline'],
      ['--us', USER, '--cms', SOCK, '--out=token', '--no'],
      [`--user=${USER}`, `--cms_s=${SOCK}`, '--o', 'token', '--no_newline'],
    ]) {
      const r = await run(args);
      assert.is(r.status, 0, args.join(' '));
      assert.equal(r.stdout, Buffer.from(TOKEN), args.join(' '));
    }
  });
});

test('default socket: $XDG_RUNTIME_DIR/mailtokend/mailtokend.sock, else the state dir', async () => {
  mkdirSync(join(dir, 'run', 'mailtokend'), { recursive: true });
  await withFake(async () => {
    const r = await run(['--user', USER, '--output', 'token'], { XDG_RUNTIME_DIR: join(dir, 'run'), HOME: '/nonexistent' });
    assert.is(r.status, 0, r.stderr);
    assert.equal(r.stdout, Buffer.from(`${TOKEN}\n`));
  }, undefined, join(dir, 'run', 'mailtokend', 'mailtokend.sock'));
  const home = await run(['--user', USER], { HOME: '/home/nobody-here' });
  assert.is(home.status, 1);
  assert.match(home.stderr, '"/home/nobody-here/.local/state/mailtokend/mailtokend.sock": no such socket');
  const none = await run(['--user', USER]);
  assert.is(none.status, 2);
  assert.match(none.stderr, 'cms-oauth: error: --cms_sock is required');
});

test('empty reply: exit 1 and a one-line reason, nothing on stdout', async () => {
  await withFake(async () => {
    const r = await run(['--user', 'other@example.com', '--cms_sock', SOCK]);
    assert.is(r.status, 1);
    assert.is(r.stdout.length, 0);
    assert.is(
      r.stderr,
      `cms-oauth: no token for other@example.com from "${SOCK}": the daemon refused or has no valid grant; see its log\n`,
    );
  });
});

test('a malformed reply is refused without printing it (it may hold a token)', async () => {
  const replies = [
    `user=${USER}\x01auth=Bearer ${TOKEN}\x01`,
    `${TOKEN}`,
    `user=${USER}\x01auth=Bearer ${TOKEN}\x01\x01trailing`,
    `user=${USER}\x01auth=Basic ${TOKEN}\x01\x01`,
    `user=a b@c\x01auth=Bearer ${TOKEN}\x01\x01`,
    `user=j\xf6rg@c\x01auth=Bearer ${TOKEN}\x01\x01`,
    `ERR needs-auth ${TOKEN}\n`,
  ];
  for (const reply of replies) {
    await withFake(async () => {
      const r = await run(['--user', USER, '--cms_sock', SOCK]);
      assert.is(r.status, 1);
      assert.is(r.stdout.length, 0);
      assert.match(r.stderr, /^cms-oauth: invalid reply \(\d+ bytes\) from ".*": not an XOAUTH2 string\n$/);
      assert.not.match(r.stderr, 'ya29');
    }, () => Buffer.from(reply, 'latin1'));
  }
});

test('socket problems: missing, not a socket, permission denied', async () => {
  const missing = await run(['--user', USER, '--cms_sock', join(dir, 'nope.sock')]);
  assert.is(missing.status, 1);
  assert.is(missing.stderr, `cms-oauth: cannot connect to "${join(dir, 'nope.sock')}": no such socket (is mailtokend running? see --cms_sock)\n`);

  const file = join(dir, 'plain-file');
  writeFileSync(file, '');
  const notSock = await run(['--user', USER, '--cms_sock', file]);
  assert.is(notSock.status, 1);
  assert.match(notSock.stderr, `cannot connect to "${file}": connection refused`);

  // root ignores file modes, so only an unprivileged run can see EACCES.
  if (process.getuid?.() !== 0) {
    const locked = join(dir, 'locked');
    mkdirSync(locked);
    await withFake(async () => {
      chmodSync(locked, 0o000);
      try {
        const r = await run(['--user', USER, '--cms_sock', join(locked, 's.sock')]);
        assert.is(r.status, 1);
        assert.match(r.stderr, 'permission denied');
      } finally {
        chmodSync(locked, 0o700);
      }
    }, undefined, join(locked, 's.sock'));
  }
});

test('a daemon that never answers: timeout message, exit 1', async () => {
  await withFake(async () => {
    const err: string[] = [];
    const out: Uint8Array[] = [];
    const status = await main(['--user', USER, '--cms_sock', SOCK], {
      stdout: { write: (c: Uint8Array) => out.push(c) },
      stderr: { write: (s: string) => err.push(s) },
      env: {},
      timeoutMs: 200,
    });
    assert.is(status, 1);
    assert.is(out.length, 0);
    assert.is(err.join(''), `cms-oauth: no reply from "${SOCK}" within 0.2 s\n`);
  }, () => undefined);
});

test('usage errors exit 2 like argparse; --help exits 0', async () => {
  const cases: Array<[string[], string]> = [
    [['--cms_sock', SOCK], 'the following arguments are required: --user'],
    [['--user', USER, '--cms_sock', SOCK, '--proto', 'smtp'], 'argument --proto: invalid choice: "smtp"'],
    [['--user', USER, '--cms_sock', SOCK, '--output', 'raw'], 'argument --output: invalid choice: "raw"'],
    [['--user', USER, '--cms_sock', SOCK, '--bogus'], 'unrecognized arguments: --bogus'],
    [['--user', USER, '--cms_sock', SOCK, 'extra'], 'unrecognized arguments: extra'],
    [['--user', USER, '--cms_sock', SOCK, '--', '--help'], 'unrecognized arguments: --'],
    [['--user', USER, '--cms_sock', SOCK, '-x'], 'unrecognized arguments: -x'],
    [['--user', USER, '--cms_sock', SOCK, '--no_newline=yes'], 'argument --no_newline: ignored explicit argument "yes"'],
    [['--proto', '--user', USER, '--cms_sock', SOCK], 'argument --proto: expected one argument'],
    [['--user', 'not an address', '--cms_sock', SOCK], 'argument --user: not a mail address'],
    [['--user', 'a\x01@b', '--cms_sock', SOCK], '"a\\x01@b"'],
    [['--user', USER, '--cms_sock'], 'argument --cms_sock: expected one argument'],
  ];
  for (const [args, message] of cases) {
    const r = await run(args);
    assert.is(r.status, 2, args.join(' '));
    assert.is(r.stdout.length, 0);
    assert.match(r.stderr, /^usage: cms-oauth /);
    assert.match(r.stderr, message, args.join(' '));
  }
  const help = await run(['--help']);
  assert.is(help.status, 0);
  assert.match(help.stdout.toString(), '--no_newline');
  // As argparse: help as soon as it is seen, even without the required --user.
  for (const args of [['-h'], ['--h'], ['--proto', 'IMAP', '--help', '--bogus']]) {
    const r = await run(args);
    assert.is(r.status, 0, args.join(' '));
    assert.match(r.stdout.toString(), /^usage: cms-oauth /);
  }
});

// The client restates a few protocol rules to keep its start-up small; these
// keep it in step with src/protocol.ts.
function captureIo(env: CmsOauthIo['env'] = {}): CmsOauthIo & { out: Buffer[]; err: string[] } {
  const out: Buffer[] = [];
  const err: string[] = [];
  return { out, err, env, stdout: { write: (c: Uint8Array) => out.push(Buffer.from(c)) }, stderr: { write: (t: string) => err.push(t) } };
}

// A daemon that answers any well-formed request with what protocol.ts formats.
const protocolDaemon = (request: Buffer): Buffer => {
  const parsed = parseRequest(request);
  return parsed.ok ? formatReply(parsed.request, TOKEN) : Buffer.alloc(0);
};

test('client outputs equal protocol.ts replies, for users that need escaping or UTF-8', async () => {
  await withFake(async () => {
    for (const user of ['a,b=c@x.org', 'j\u00f6rg@x.org', '=,@,=']) {
      for (const [output, format] of [['xoauth2', 'xoauth2'], ['xoauth2-b64', 'b64'], ['token', 'token'], ['oauthbearer', 'oauthbearer']] as const) {
        const io = captureIo();
        const status = await main(['--user', user, '--cms_sock', SOCK, '--output', output, '--no_newline'], io);
        assert.is(status, 0, io.err.join(''));
        assert.equal(Buffer.concat(io.out), formatReply({ proto: 'SMTP', user, format, errReply: false }, TOKEN), `${user} ${output}`);
      }
    }
  }, protocolDaemon);
});

test('client --user check equals protocol.ts isValidUser', async () => {
  const users = ['user@example.com', 'a@b@c', '@x', 'x@', 'a b@c', 'a\t@b', 'a\x01@b', 'j\u00f6rg@x.org', 'a\u00a0@b', 'a\u2028@b', `${'a'.repeat(250)}@b.c`, `${'a'.repeat(251)}@b.c`];
  for (const user of users) {
    const io = captureIo();
    const status = await main(['--user', user, '--cms_sock', join(dir, 'absent.sock')], io);
    assert.is(status === 2, !isValidUser(user), JSON.stringify(user));
  }
});

test('runs through a symlink, as npm installs the bin, whatever its name', async () => {
  await withFake(async () => {
    for (const name of ['cms-oauth', 'get-token']) {
      const link = join(dir, name);
      symlinkSync(CLI, link);
      const r = await run(['--user', USER, '--cms_sock', SOCK, '--output', 'token'], {}, link);
      assert.is(r.status, 0, r.stderr);
      assert.equal(r.stdout, Buffer.from(`${TOKEN}\n`), name);
    }
  });
});

test('the built file is an executable script', () => {
  assert.ok(readFileSync(CLI, 'utf8').startsWith('#!/usr/bin/env node\n'));
});

test('the package installs the CommonJS client as cms-oauth', () => {
  const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')) as { bin: Record<string, string> };
  assert.is(pkg.bin['cms-oauth'], 'dist/src/cli/cms-oauth.cjs');
});

test('node dist/src/cli/cms-oauth.js, as older instructions call it, gives the same output', async () => {
  await withFake(async () => {
    for (const args of [['--output', 'token'], ['--output', 'xoauth2-b64', '--no_newline']]) {
      const viaEsm = await run(['--user', USER, '--cms_sock', SOCK, ...args], {}, CLI_ESM);
      const viaCjs = await run(['--user', USER, '--cms_sock', SOCK, ...args]);
      assert.is(viaEsm.status, 0, viaEsm.stderr);
      assert.equal(viaEsm.stdout, viaCjs.stdout, args.join(' '));
    }
    const bad = await run(['--user', 'no-at-sign', '--cms_sock', SOCK], {}, CLI_ESM);
    assert.is(bad.status, 2, 'usage errors keep their exit status');
  });
});

test.run();
