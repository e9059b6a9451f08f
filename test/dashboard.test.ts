/**
 * The dashboard's parts without a daemon: the statechart read from the
 * machine definition, the transition history, the account book (filters,
 * paging, no token), the page markup, and the coalescing event stream.
 */
import type { ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setup } from 'xstate';
import { accountMachine } from '../actors/account.js';
import { describeMachine, toDot, toMermaid } from '../src/dashboard/graph.js';
import { AccountBook, pageOf, publicAccount, type DashboardAccount } from '../src/dashboard/book.js';
import { dashboardPage } from '../src/dashboard/page.js';
import { ChangeStream } from '../src/dashboard/stream.js';
import { formatHistory, TransitionHistory } from '../src/history/history.js';
import type { AccountStatus, AccountUpdate } from '../src/host/messages.js';

const TOKEN = 'ya29.secret-access-token-never-shown';

function update(partial: Partial<AccountUpdate> & { key: string; state: AccountUpdate['state'] }): AccountUpdate {
  return { type: 'account', user: partial.key, provider: 'google', at: 1_000, accessToken: TOKEN, ...partial };
}

test('graph: every state and state-changing transition of accountMachine, with events, guards and delays', () => {
  const g = describeMachine(accountMachine);
  assert.is(g.initial, 'starting');
  assert.equal(g.states.map((s) => s.id).sort(), ['expired', 'refreshing', 'starting', 'unauthenticated', 'valid']);
  const has = (from: string, to: string, label: string) => g.transitions.some((t) => t.from === from && t.to === to && t.label === label);
  assert.ok(has('valid', 'refreshing', 'after refreshDue'));
  assert.ok(has('expired', 'refreshing', 'after retryDue'));
  assert.ok(has('refreshing', 'valid', 'done refresh'));
  assert.ok(g.transitions.some((t) => t.from === 'refreshing' && t.to === 'unauthenticated' && t.kind === 'error' && t.guard === 'revoked'));
  assert.ok(has('valid', 'unauthenticated', 'REVOKE'));
  assert.ok(has('starting', 'refreshing', 'always'));
  // Actions-only transitions (TOKEN_REQUEST in unauthenticated) move nothing and are not drawn.
  assert.not.ok(g.transitions.some((t) => t.from === 'unauthenticated' && t.event === 'TOKEN_REQUEST'));
  const mermaid = toMermaid(g);
  assert.match(mermaid, /^stateDiagram-v2\n {2}\[\*\] --> starting\n/);
  assert.match(mermaid, '  valid --> refreshing : after refreshDue\n');
  assert.match(mermaid, '  refreshing --> unauthenticated : error refresh [revoked]\n');
  const dot = toDot(g);
  assert.match(dot, /^digraph "account" \{/);
  assert.match(dot, '"valid" -> "refreshing" [label="after refreshDue", style=dashed];');
});

test('graph: drawn from whatever machine it is given, so it cannot drift from the code', () => {
  const machine = setup({ delays: { soon: 5 } }).createMachine({
    id: 'other',
    initial: 'a',
    states: { a: { on: { GO: 'b' } }, b: { after: { soon: 'a' } } },
  });
  const g = describeMachine(machine);
  assert.equal(g.transitions.map((t) => `${t.from}>${t.to}:${t.label}`), ['a>b:GO', 'b>a:after soon']);
});

test('history: transitions and new errors are kept, token-only updates are not, 100 at most', () => {
  const h = new TransitionHistory();
  assert.is(h.record(update({ key: 'a', state: 'refreshing', cause: 'start' }))?.to, 'refreshing');
  h.record(update({ key: 'a', from: 'refreshing', state: 'valid', cause: 'refresh-succeeded' }));
  assert.is(h.record(update({ key: 'a', from: 'valid', state: 'valid', cause: 'authorized' })), undefined);
  const failed = h.record(update({ key: 'a', from: 'valid', state: 'valid', cause: 'refresh-failed', lastError: { code: 'http-503', message: 'down', at: 5 } }));
  assert.equal(failed?.error, { code: 'http-503', message: 'down', at: 5 });
  // The same error again in the next update is not a new entry.
  assert.is(h.record(update({ key: 'a', from: 'valid', state: 'valid', lastError: { code: 'http-503', message: 'down', at: 5 } })), undefined);
  assert.is(h.of('a').length, 3);
  assert.not.match(JSON.stringify(h.of('a')), TOKEN);
  for (let i = 0; i < 250; i++) h.record(update({ key: 'b', from: i % 2 ? 'valid' : 'refreshing', state: i % 2 ? 'refreshing' : 'valid', at: i }));
  assert.is(h.of('b').length, 100);
  assert.is(h.of('b')[0]?.at, 150);
  h.retain(new Set(['b']));
  assert.is(h.of('a').length, 0);
  const text = formatHistory('a@x', [{ at: 0, event: 'refresh-failed', from: 'refreshing', to: 'unauthenticated', error: { code: 'invalid_grant', message: 'revoked', at: 0 } }]);
  assert.match(text, /1970-01-01 00:00:00Z\s+refresh-failed\s+refreshing → unauthenticated\s+invalid_grant: revoked/);
});

test('book: 10,000 accounts filtered by state, provider and text, paged on the server; no token in a row', () => {
  const book = new AccountBook();
  const providers = new Map<string, string>();
  for (let i = 0; i < 10_000; i++) providers.set(`u${String(i).padStart(5, '0')}@x.example`, i % 3 === 0 ? 'microsoft' : 'google');
  book.setProviders(providers);
  const started = performance.now();
  for (const [key, provider] of providers) book.apply(update({ key, provider, state: key.endsWith('7@x.example') ? 'expired' : 'valid', expiresAt: 5_000 }));
  const page = book.page({ state: 'expired', provider: 'google', text: 'U01' }, 0, 50);
  assert.ok(performance.now() - started < 2_000);
  assert.is(page.counts.total, 10_000);
  assert.is(page.counts.states.expired, 1_000);
  assert.is(page.counts.providers.microsoft, 3_334);
  assert.ok(page.accounts.every((a) => a.state === 'expired' && a.provider === 'google' && a.key.startsWith('u01')));
  assert.is(page.matched, 67);
  assert.is(page.accounts.length, 50);
  assert.is(book.page({}, 9_990, 100).accounts.length, 10);
  assert.is(book.page({}, 0, 1_000_000).accounts.length, 500);
  assert.not.ok('accessToken' in book.get('u00000@x.example')!);
  // An account a domain template made on demand is not in the config, but is listed all the same.
  const made = book.apply(update({ key: 'made-on-demand@x.example', provider: 'contoso', state: 'valid' }));
  assert.is(made?.provider, 'contoso');
  assert.is(book.page({ text: 'made-on-demand' }, 0, 10).matched, 1);
  book.remove('made-on-demand@x.example');
  assert.is(book.page({ text: 'made-on-demand' }, 0, 10).matched, 0, 'a removed account leaves the list');
});

test('page: server-rendered counts and rows with Sign in links, escaped, no token', () => {
  const rows: AccountStatus[] = [
    { user: 'a<b>@x', key: 'a<b>@x', provider: 'google', state: 'unauthenticated', failures: 0, hasGrant: false },
    { user: 'c@x', key: 'c@x', provider: 'microsoft', state: 'valid', failures: 0, hasGrant: true, expiresAt: 1_000 + 600_000 },
  ];
  const html = dashboardPage(rows, 1_000, new URLSearchParams());
  assert.match(html, '<td>a&#60;b&#62;@x</td><td>google</td><td class="state-unauthenticated">unauthenticated</td>');
  assert.match(html, 'href="/auth/a%3Cb%3E%40x">Sign in</a>');
  assert.match(html, 'href="/auth/c%40x">Sign in again</a>');
  assert.match(html, '<span class="n" id="count-valid">1</span>');
  assert.match(html, '<script type="module" src="/dashboard.js"></script>');
  assert.not.match(html, /<script>/);
  const filtered = dashboardPage(rows, 1_000, new URLSearchParams('only=valid'));
  assert.not.match(filtered, 'a&#60;b&#62;@x</td>');
  const row: DashboardAccount = publicAccount(update({ key: 'k', state: 'valid' }), 'google');
  assert.not.match(JSON.stringify(row), TOKEN);
});

class FakeResponse {
  written: string[] = [];
  ended = false;
  writeHead(): this {
    return this;
  }
  write(chunk: string): boolean {
    this.written.push(chunk);
    return true;
  }
  end(): void {
    this.ended = true;
  }
  on(): this {
    return this;
  }
}

test('stream: nothing without clients; a burst of changes becomes one push; too many become a reset', async () => {
  const counts = () => pageOf([], {}, 0, 1).counts;
  const stream = new ChangeStream(counts, 20);
  const row = (key: string, state: DashboardAccount['state']): DashboardAccount => ({ key, user: key, provider: 'google', state });
  stream.change(row('a', 'valid'), undefined);
  await sleep(40);
  const res = new FakeResponse();
  stream.open(res as unknown as ServerResponse);
  for (let i = 0; i < 300; i++) stream.change(row(`k${i % 10}`, i % 2 ? 'valid' : 'refreshing'), { at: i, event: 'x', to: 'valid' });
  await sleep(60);
  const frames = res.written.filter((w) => w.startsWith('event: change'));
  assert.is(frames.length, 1);
  const message = JSON.parse(frames[0]!.split('data: ')[1]!) as { accounts: DashboardAccount[]; transitions: Record<string, unknown[]> };
  assert.is(message.accounts.length, 10);
  assert.is(message.transitions.k0?.length, 30);
  for (let i = 0; i < 600; i++) stream.change(row(`m${i}`, 'valid'), undefined);
  await sleep(60);
  const last = res.written[res.written.length - 1]!;
  assert.match(last, '"reset":true');
  stream.close();
  assert.ok(res.ended);
});

test('history: a transient failure records when the account retries; a refusal does not', () => {
  const history = new TransitionHistory();
  const base = { type: 'account' as const, key: 'r@x.test', user: 'r@x.test', provider: 'google' };
  history.record({ ...base, state: 'valid', at: 1 });
  const failed = history.record({ ...base, from: 'valid', state: 'expired', cause: 'refresh-failed', lastError: { code: 'http-503', message: 'provider answered 503', at: 2 }, retryAt: 4_000, at: 2 });
  assert.is(failed?.retryAt, 4_000);
  assert.match(formatHistory('r@x.test', history.of('r@x.test')), /http-503: provider answered 503 \(retry at /);
  const refused = history.record({ ...base, from: 'refreshing', state: 'unauthenticated', cause: 'refresh-failed', lastError: { code: 'invalid_grant', message: 'revoked', at: 5 }, retryAt: 9_000, at: 5 });
  assert.is(refused?.retryAt, undefined, 'no retry is coming for an account that needs a sign-in');
});

test.run();
