import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatKeyPath } from '../src/config/keypath.js';
import { KeyLocator } from '../src/config/locate.js';

const doc = `# a comment with [brackets] and key = "value"
state_dir = "/x"                       # 2
web = { listen = "127.0.0.1:1" }       # 3

[[socket]]                             # 5
path = "/a"
accounts = [                           # 7
  "a@b.c",                             # 8
  # "not an element"
  '@d.e',                              # 10
]

[[socket]]                             # 13
path = "/b"                            # 14
mode = "0600"

[[account]]                            # 17
user = """
fake = "not a key"
[[not a header]]
"""                                    # 21
provider = "google"                    # 22

[[account]]                            # 24
"user" = 'b@c.d'                       # 25
  provider = 'x'                       # 26

[provider.google]                      # 28
token_url = "https://x"                # 29

[provider."odd.name"]                  # 31
type = "microsoft"                     # 32

[provider.contoso]                     # 34
x.y.z = 1                              # 35
inline = [{ a = 1 }, { b = 2 },        # 36
  { c = 3 }]                           # 37
`;

const locator = new KeyLocator(doc);
const cases: [(string | number)[], number][] = [
  [['state_dir'], 2],
  [['web'], 3],
  [['web', 'listen'], 3],
  [['socket'], 5],
  [['socket', 0], 5],
  [['socket', 0, 'accounts'], 7],
  [['socket', 0, 'accounts', 0], 8],
  [['socket', 0, 'accounts', 1], 10],
  [['socket', 1], 13],
  [['socket', 1, 'path'], 14],
  [['socket', 1, 'group'], 13], // absent: falls back to the header
  [['account', 0, 'provider'], 22],
  [['account', 1, 'user'], 25],
  [['account', 1, 'provider'], 26],
  [['account', 2, 'user'], 17], // no such table: the first [[account]]
  [['provider', 'google', 'token_url'], 29],
  [['provider', 'odd.name', 'type'], 32],
  [['provider', 'contoso', 'x', 'y', 'z'], 35],
  [['provider', 'contoso', 'inline', 1, 'b'], 36],
  [['provider', 'contoso', 'inline', 2, 'c'], 37],
  [['provider'], 28],
  [['nothing'], 0],
];

for (const [path, line] of cases) {
  test(`${formatKeyPath(path)} is on line ${line}`, () => {
    assert.is(locator.line(path), line);
  });
}

test('multi-line strings hide what looks like keys and headers', () => {
  assert.is(locator.line(['fake']), 0);
  assert.is(locator.line(['not a header']), 0);
});

test('sub-tables of an array of tables belong to its last element', () => {
  const sub = new KeyLocator('[[a]]\nx = 1\n[[a]]\n[a.b]\ny = 2\n');
  assert.is(sub.line(['a', 1, 'b', 'y']), 5);
  assert.is(sub.line(['a', 0, 'x']), 2);
});

test('key paths format like the messages', () => {
  assert.is(formatKeyPath(['socket', 1, 'mode']), 'socket[1].mode');
  assert.is(formatKeyPath(['provider', 'odd.name', 'type']), 'provider."odd.name".type');
  assert.is(formatKeyPath(['account', 0, 'accounts', 2]), 'account[0].accounts[2]');
});

test.run();
