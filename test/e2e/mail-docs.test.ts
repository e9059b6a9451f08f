/**
 * The mail docs show only configurations that a test runs: every fenced
 * block in doc/smtp.md and doc/imap.md (except ```text synopses) is, byte for
 * byte, one of the snippets in test/fixtures/mail/, which test/e2e/mail-smtp
 * and mail-imap run with the real programs; and every client snippet there is
 * shown in a doc.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FIXTURES } from '../helpers/mail-dovecot.js';

const DOC = fileURLToPath(new URL('../../../doc/', import.meta.url));
/** Test-server configuration, not client configuration for the docs. */
const SERVER_ONLY = new Set(['dovecot.conf', 'dovecot-oauth2.conf.ext']);

function blocks(markdown: string): Array<{ lang: string; text: string }> {
  return [...markdown.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((m) => ({ lang: m[1]!, text: m[2]!.replace(/\n$/, '') }));
}

const fixtures = new Map(readdirSync(FIXTURES).map((name) => [name, readFileSync(join(FIXTURES, name), 'utf8').replace(/\n$/, '')]));
const shown = new Set<string>();

for (const doc of ['smtp.md', 'imap.md']) {
  test(`every config snippet in doc/${doc} is a tested fixture`, () => {
    const found = blocks(readFileSync(join(DOC, doc), 'utf8')).filter((b) => b.lang !== 'text');
    assert.ok(found.length > 0);
    for (const b of found) {
      const name = [...fixtures].find(([, text]) => text === b.text)?.[0];
      assert.ok(name, `doc/${doc} has a snippet that is no fixture in test/fixtures/mail/:\n${b.text}`);
      shown.add(name!);
    }
  });
}

test('every client snippet in test/fixtures/mail/ is shown in a doc', () => {
  for (const name of fixtures.keys()) if (!SERVER_ONLY.has(name)) assert.ok(shown.has(name), `${name} is in no doc`);
});

test('every client snippet is used by a mail test', () => {
  const tests = ['mail-smtp.test.ts', 'mail-imap.test.ts'].map((f) => readFileSync(fileURLToPath(new URL(`../../../test/e2e/${f}`, import.meta.url)), 'utf8')).join('\n');
  for (const name of fixtures.keys()) if (!SERVER_ONLY.has(name)) assert.ok(tests.includes(`snippet('${name}')`), `${name} is run by no test`);
});

test.run();
