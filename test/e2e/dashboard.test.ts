/**
 * The dashboard in real headless Chromium (Debian's chromium through
 * playwright-core) against the built daemon and the provider emulator: 1,000
 * configured accounts, three of them with a grant. Every test saves a
 * screenshot to test-artifacts/. Every page's HTML, every API answer and the
 * whole event stream are checked for emulator-issued secrets at the end.
 */
import { get } from 'node:http';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Browser, Page } from 'playwright-core';
import { Harness, waitUntil, type AccountDef } from '../helpers/daemon.js';
import { webBase } from '../helpers/signin.js';
import { launchBrowser, screenshot } from '../helpers/browser.js';

const ALICE = 'alice@contoso.example';
const BOB = 'bob@gmail.example';
const CAROL = 'carol@contoso.example';

const fillers: AccountDef[] = [];
for (let i = 0; i < 997; i++) {
  const name = i < 50 ? `alpha-${String(i).padStart(3, '0')}` : `user-${String(i).padStart(3, '0')}`;
  fillers.push(i % 2 === 0 ? { user: `${name}@gmail.example`, provider: 'google', grant: false } : { user: `${name}@contoso.example`, provider: 'microsoft', grant: false });
}
const h = await Harness.create({
  accounts: [{ user: ALICE, provider: 'microsoft' }, { user: BOB, provider: 'google' }, { user: CAROL, provider: 'microsoft' }, ...fillers],
  workers: 2,
});
const daemon = await h.start(30_000);
const web = await webBase(daemon);
const browser: Browser = await launchBrowser();
const seen: Array<{ where: string; text: string }> = [];
const pageErrors: string[] = [];

// The event stream as any client gets it, for the whole run.
let streamText = '';
const stream = get(`${web}/api/events`, (res) => res.setEncoding('utf8').on('data', (chunk: string) => (streamText += chunk)));
stream.on('error', () => undefined);

test.after(async () => {
  stream.destroy();
  await browser.close();
  await h.close();
});

async function openDashboard(hash = ''): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') pageErrors.push(m.text());
  });
  page.on('response', async (r) => {
    if (r.status() >= 400 && !r.url().includes('/revoke')) pageErrors.push(`${r.status()} ${r.url()}`);
    if (r.url().includes('/api/') && !r.url().includes('/api/events')) seen.push({ where: `API ${r.url()}`, text: await r.text().catch(() => '') });
  });
  await page.goto(`${web}/${hash}`);
  await page.waitForSelector('body[data-loaded]');
  await page.waitForSelector('#live.on');
  return page;
}

async function keep(page: Page, name: string): Promise<void> {
  seen.push({ where: `page ${name}`, text: await page.content() });
  await screenshot(page, `dashboard-${name}`);
}

const text = (page: Page, selector: string) => page.locator(selector).first().innerText();

test('the dashboard loads with counts that match `mailtokend status`', async () => {
  for (const user of [ALICE, BOB, CAROL]) await h.waitForState(user, 'valid', 20_000);
  const page = await openDashboard();
  const status = await h.status();
  const expected: Record<string, number> = { unauthenticated: 0, valid: 0, refreshing: 0, expired: 0 };
  const providers: Record<string, number> = {};
  for (const a of status) {
    expected[a.state] = (expected[a.state] ?? 0) + 1;
    providers[a.provider] = (providers[a.provider] ?? 0) + 1;
  }
  assert.is(status.length, 1000);
  assert.is(await text(page, '#count-total'), '1000');
  for (const [state, n] of Object.entries(expected)) assert.is(await text(page, `#count-${state}`), String(n), state);
  for (const [provider, n] of Object.entries(providers)) assert.is(await text(page, `[data-provider-count="${provider}"]`), String(n), provider);
  // `mailtokend status` itself, not only the admin call behind it.
  const cli = await h.cli(['status', '--state', 'valid']);
  assert.is(cli.out.trim().split('\n').length - 1, expected.valid);
  assert.is(await page.locator('#accounts tbody tr').count(), 100);
  assert.is(await text(page, '#matched'), '1000');
  assert.match(await page.locator(`#accounts tr[data-key="${BOB}"] td.state-valid`).innerText(), 'valid');
  await keep(page, 'counts');
  await page.close();
});

test('Refresh now: the account goes refreshing → valid on the page, without a reload', async () => {
  const page = await openDashboard(`#account=${encodeURIComponent(ALICE)}`);
  await page.waitForSelector('#chart svg .node.current[data-state="valid"]');
  await page.evaluate(() => ((window as unknown as { marker: number }).marker = 42));
  // The provider takes 1.5 s to answer, so `refreshing` is visible for a while.
  h.emu.setFault({ kind: 'delay', ms: 1500, user: ALICE, count: 1 });
  await page.click('#btn-refresh');
  await page.waitForSelector('#detail-state.state-refreshing', { timeout: 5_000 });
  await page.waitForSelector('#chart svg .node.current[data-state="refreshing"]');
  await page.waitForSelector(`#accounts tr[data-key="${ALICE}"] td.state-refreshing`);
  await keep(page, 'refreshing');
  await page.waitForSelector('#detail-state.state-valid', { timeout: 10_000 });
  await page.waitForSelector('#chart svg .node.current[data-state="valid"]');
  await page.waitForSelector('#chart svg .edge.last[data-from="refreshing"][data-to="valid"]');
  const history = await page.locator('#history tbody tr').allInnerTexts();
  assert.match(history[0] ?? '', /refresh-succeeded\s+refreshing → valid/);
  assert.match(history[1] ?? '', /refresh\s+valid → refreshing/);
  assert.is(await page.evaluate(() => (window as unknown as { marker?: number }).marker), 42, 'the page was not reloaded');
  // The terminal shows the same history.
  const cli = await h.cli(['status', ALICE, '--history']);
  assert.is(cli.code, 0, cli.stderr);
  assert.match(cli.out, /refresh-succeeded\s+refreshing → valid/);
  await keep(page, 'refreshed');
  await page.close();
});

test('a grant revoked at the provider: Refresh now turns the account unauthenticated with the provider error in its history', async () => {
  const page = await openDashboard(`#account=${encodeURIComponent(BOB)}`);
  await page.waitForSelector('#detail-state.state-valid');
  await h.emu.revokeUser(BOB);
  await page.click('#btn-refresh');
  await page.waitForSelector('#detail-state.state-unauthenticated', { timeout: 10_000 });
  await page.waitForSelector('#chart svg .node.current[data-state="unauthenticated"]');
  const first = await page.locator('#history tbody tr').first().innerText();
  assert.match(first, /refreshing → unauthenticated/);
  assert.match(first, /invalid_grant/);
  assert.match(await text(page, '#detail-error'), /invalid_grant/);
  assert.match(await page.locator('#btn-signin').getAttribute('href') ?? '', `/auth/${encodeURIComponent(BOB)}`);
  assert.is(await text(page, '#btn-signin'), 'Sign in');
  await page.waitForFunction(() => document.querySelector('#count-unauthenticated')?.textContent === '998');
  await keep(page, 'revoked-at-provider');
  await page.close();
});

test('Revoke (a POST from the page) forgets the grant; a cross-site POST is refused', async () => {
  const page = await openDashboard(`#account=${encodeURIComponent(CAROL)}`);
  await page.waitForSelector('#detail-state.state-valid');
  page.once('dialog', (d) => void d.accept());
  await page.click('#btn-revoke');
  await page.waitForSelector('#detail-state.state-unauthenticated', { timeout: 10_000 });
  assert.match(await page.locator('#history tbody tr').first().innerText(), /revoke\s+valid → unauthenticated/);
  await keep(page, 'revoked');
  await page.close();
  const forged = await fetch(`${web}/api/accounts/${encodeURIComponent(ALICE)}/revoke`, { method: 'POST', headers: { origin: 'http://evil.example' } });
  assert.is(forged.status, 403);
  assert.is((await h.status()).find((a) => a.user === ALICE)?.state, 'valid');
});

test('the filter narrows 1,000 accounts to the expected ones (server side)', async () => {
  const page = await openDashboard();
  await page.fill('#filter-text', 'alpha');
  await page.selectOption('#filter-provider', 'google');
  await page.waitForFunction(() => document.querySelector('#matched')?.textContent === '25');
  const users = await page.locator('#accounts tbody tr td:first-child').allInnerTexts();
  const expected = fillers.filter((a) => a.user.startsWith('alpha-') && a.provider === 'google').map((a) => a.user).sort();
  assert.equal(users, expected);
  assert.match(page.url(), /q=alpha/);
  await keep(page, 'filter-text-provider');
  await page.selectOption('#filter-provider', '');
  await page.fill('#filter-text', '');
  await page.selectOption('#filter-state', 'valid');
  await page.waitForFunction(() => document.querySelector('#matched')?.textContent === '1');
  assert.equal(await page.locator('#accounts tbody tr td:first-child').allInnerTexts(), [ALICE]);
  await keep(page, 'filter-state');
  // Paging: the API never sends more than a page.
  const api = (await (await fetch(`${web}/api/accounts?only=unauthenticated&offset=900&limit=100`)).json()) as { matched: number; accounts: unknown[] };
  assert.is(api.matched, 999);
  assert.is(api.accounts.length, 99);
  await page.close();
});

test('no emulator-issued token in any page, API answer or the event stream; no script errors', async () => {
  await waitUntil('event stream traffic', () => streamText.includes('event: change'), 5_000);
  assert.ok(h.emu.secrets().length > 0);
  const leaks = h.leaks([...seen, { where: 'event stream', text: streamText }]);
  assert.equal(leaks, []);
  for (const secret of h.emu.secrets()) {
    assert.not.ok(streamText.includes(secret), 'event stream');
    for (const s of seen) assert.not.ok(s.text.includes(secret), s.where);
  }
  assert.not.match(streamText, /accessToken|refreshToken/);
  assert.equal(pageErrors, []);
});

test.run();
