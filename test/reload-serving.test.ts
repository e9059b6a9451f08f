/**
 * A reload that adds many accounts while a client asks for one of them: the
 * shards take a while to start thousands of accounts, and until then the
 * client must be told what the new account's state is (here: it needs a
 * sign-in), never that the account is not configured, which an MTA takes as
 * a permanent answer. An account the reload removes is refused once the
 * reload has returned.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { parseConfig } from '../src/config/index.js';
import { sendRaw } from './helpers/socket-client.js';
import { startInProcess, type InProcess, type InProcessAccount } from './helpers/ops-daemon.js';

const KEPT: InProcessAccount = { user: 'kept@gmail.test', provider: 'google' };
const REMOVED: InProcessAccount = { user: 'removed@gmail.test', provider: 'google' };
const ADDED: InProcessAccount[] = Array.from({ length: 4000 }, (_, i) => ({ user: `added${String(i).padStart(4, '0')}@gmail.test`, provider: 'google', grant: false }));
/** The last added account: its shard starts it last. */
const WATCHED = ADDED[ADDED.length - 1]!.user;

let d: InProcess;

test.before(async () => {
  d = await startInProcess({ accounts: [KEPT, REMOVED], features: [] });
});

test.after(async () => {
  await d?.close();
});

async function ask(user: string): Promise<string> {
  return (await sendRaw(join(d.dir, 'mta.sock'), `SMTP,err ${user}\n`)).text;
}

test('during a reload, a request for an added account waits for its shard instead of "not configured"', async () => {
  assert.match(await ask(WATCHED), /^ERR unknown-account /, 'not configured before the reload');
  assert.match(await ask(REMOVED.user), /^user=removed@gmail\.test\x01auth=Bearer /);

  const next = parseConfig(d.configText([KEPT, ...ADDED]), join(d.dir, 'config.toml'), process.env);
  let reloading = true;
  const reload = d.daemon.context.reload(next).finally(() => (reloading = false));
  // Every request here is sent while the reload is under way; its answer may come after.
  const during: string[] = [];
  while (reloading) during.push(await ask(WATCHED));
  await reload;

  assert.ok(during.length > 0, 'at least one request was sent while the shards were syncing');
  const wrong = during.filter((reply) => !reply.startsWith('ERR needs-auth '));
  assert.equal(wrong, [], `every reply during the reload: the account needs a sign-in (${during.length} asked)`);
  assert.match(await ask(WATCHED), /^ERR needs-auth /);
  assert.match(await ask(KEPT.user), /^user=kept@gmail\.test\x01auth=Bearer /);
  assert.match(await ask(REMOVED.user), /^ERR unknown-account /, 'a removed account is refused after the reload');
});

test.run();
