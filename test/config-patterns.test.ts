import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  formatDuration,
  matchesAccountPattern,
  normalizeUser,
  parseConfig,
  parseDuration,
  socketServes,
} from '../src/config/index.js';

test('matchesAccountPattern: *, @domain and exact addresses, ignoring case', () => {
  assert.ok(matchesAccountPattern('*', 'anyone@anywhere.org'));
  assert.ok(matchesAccountPattern('@example.com', 'alice@example.com'));
  assert.ok(matchesAccountPattern('@Example.COM', 'ALICE@example.com'));
  assert.not.ok(matchesAccountPattern('@example.com', 'alice@sub.example.com'));
  assert.not.ok(matchesAccountPattern('@example.com', 'alice@notexample.com'));
  assert.not.ok(matchesAccountPattern('@example.com', 'example.com'));
  assert.ok(matchesAccountPattern('Alice@Example.com', 'alice@example.COM'));
  assert.not.ok(matchesAccountPattern('alice@example.com', 'alice2@example.com'));
  assert.not.ok(matchesAccountPattern('alice@example.com', 'bob@example.com'));
});

test('normalizeUser lower-cases the whole address', () => {
  assert.is(normalizeUser('Alice.Smith@Example.COM'), 'alice.smith@example.com');
});

test('socketServes: any pattern may match', () => {
  const socket = { accounts: ['bob@x.org', '@example.com'] };
  assert.ok(socketServes(socket, 'BOB@x.org'));
  assert.ok(socketServes(socket, 'carol@example.com'));
  assert.not.ok(socketServes(socket, 'carol@x.org'));
});

test('an account gets the union of the protocols of the sockets serving it', () => {
  const config = parseConfig(
    `
[[socket]]
path = "/run/exim.sock"
protocols = ["SMTP"]
accounts = ["@example.com"]
[[socket]]
path = "/run/mutt.sock"
protocols = ["IMAP", "SMTP"]
accounts = ["alice@example.com"]
[[socket]]
path = "/run/pop.sock"
protocols = ["POP"]
accounts = ["carol@other.org"]
[[account]]
user = "Alice@Example.com"
provider = "microsoft"
client_id = "x"
[[account]]
user = "bob@example.com"
provider = "microsoft"
client_id = "x"
[[account]]
user = "carol@other.org"
provider = "microsoft"
client_id = "x"
[[account]]
user = "dan@other.org"
provider = "microsoft"
client_id = "x"
`,
    'test.toml',
    { HOME: '/home/u' },
  );
  assert.equal(
    config.accounts.map((a) => [a.user, a.protocols]),
    [
      ['Alice@Example.com', ['SMTP', 'IMAP']],
      ['bob@example.com', ['SMTP']],
      ['carol@other.org', ['POP']],
      ['dan@other.org', []],
    ],
  );
  assert.equal(config.warnings, ['test.toml:27: account[3].user: no socket serves dan@other.org; its token is kept fresh but nobody can ask for it']);
});

test('parseDuration', () => {
  const ok: [unknown, number][] = [
    ['500ms', 500],
    ['90s', 90_000],
    ['10m', 600_000],
    ['1h', 3_600_000],
    ['1h30m', 5_400_000],
    ['1m30s250ms', 90_250],
    ['1.5s', 1500],
    ['0s', 0],
    [4, 4000],
    [2.5, 2500],
    [0, 0],
  ];
  for (const [input, ms] of ok) assert.is(parseDuration(input), ms, String(input));
  for (const bad of ['', '10', '10 m', '1m1m', '30m1h', '1d', 'm', '-1s', ' 1s', -1, Infinity, NaN, true, null, ['1s']]) {
    assert.is(parseDuration(bad), undefined, String(bad));
  }
});

test('formatDuration', () => {
  assert.is(formatDuration(4000), '4s');
  assert.is(formatDuration(5_400_000), '1h30m');
  assert.is(formatDuration(1500), '1s500ms');
  assert.is(formatDuration(0), '0s');
});

test.run();
