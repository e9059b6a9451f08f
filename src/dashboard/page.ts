import type { AccountStatus } from '../host/messages.js';
import { pageOf, publicAccount, STATES, type AccountFilter, type DashboardAccount } from './book.js';

/**
 * The dashboard page (`GET /`). The server renders the counts and the first
 * page of the list, so the page shows the accounts (and their Sign in links)
 * even without JavaScript; `/dashboard.js` then takes over: live counts,
 * paging, filters, the statechart and the history of one account. Every
 * value is escaped; no token is ever part of a row.
 */

export const PAGE_SIZE = 100;

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function authHref(user: string): string {
  return `/auth/${encodeURIComponent(user)}`;
}

/** The page's query: `only` (state), `provider`, `q` (text), `offset`. Not `state`: that is a sign-in callback's. */
export function filterOf(query: URLSearchParams): AccountFilter & { offset: number } {
  const only = query.get('only') ?? '';
  const provider = query.get('provider') ?? '';
  const text = query.get('q') ?? '';
  return {
    ...(STATES.includes(only as (typeof STATES)[number]) && { state: only }),
    ...(provider !== '' && { provider }),
    ...(text !== '' && { text }),
    offset: Math.max(0, Number(query.get('offset') ?? 0) || 0),
  };
}

function expiresText(a: DashboardAccount, now: number): string {
  if (a.expiresAt === undefined) return '';
  const s = Math.round((a.expiresAt - now) / 1000);
  if (s <= 0) return 'expired';
  return s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
}

export function rowHtml(a: DashboardAccount, now: number): string {
  const error = a.lastError ? `${a.lastError.code}: ${a.lastError.message}` : '';
  const action = a.state === 'unauthenticated' ? 'Sign in' : 'Sign in again';
  return (
    `<tr data-key="${escapeHtml(a.key)}"><td>${escapeHtml(a.user)}</td><td>${escapeHtml(a.provider)}</td>` +
    `<td class="state-${escapeHtml(a.state)}">${escapeHtml(a.state)}</td>` +
    `<td class="expires"${a.expiresAt !== undefined ? ` data-expires="${a.expiresAt}"` : ''}>${escapeHtml(expiresText(a, now))}</td>` +
    `<td class="error">${escapeHtml(error)}</td>` +
    `<td class="actions"><a href="${escapeHtml(authHref(a.user))}">${action}</a> <a class="details" href="#account=${escapeHtml(encodeURIComponent(a.key))}">details</a></td></tr>`
  );
}

function options(values: string[], selected: string | undefined, all: string): string {
  return [`<option value="">${escapeHtml(all)}</option>`, ...values.map((v) => `<option value="${escapeHtml(v)}"${v === selected ? ' selected' : ''}>${escapeHtml(v)}</option>`)].join('');
}

export function dashboardPage(rows: AccountStatus[], now: number, query: URLSearchParams): string {
  const accounts = rows.map((r) => publicAccount(r, r.provider)).sort((a, b) => a.user.localeCompare(b.user));
  const filter = filterOf(query);
  const page = pageOf(accounts, filter, filter.offset, PAGE_SIZE);
  const { counts } = page;
  const providers = Object.keys(counts.providers).sort();
  const stateCounts = STATES.map(
    (s) => `<li class="count state-${s}"><a href="/?only=${s}" data-only="${s}"><span class="n" id="count-${s}">${counts.states[s]}</span> ${s}</a></li>`,
  ).join('');
  const providerCounts = providers
    .map((p) => `<li class="count provider"><a href="/?provider=${escapeHtml(encodeURIComponent(p))}" data-provider="${escapeHtml(p)}"><span class="n" data-provider-count="${escapeHtml(p)}">${counts.providers[p]}</span> ${escapeHtml(p)}</a></li>`)
    .join('');
  const last = Math.min(page.offset + page.accounts.length, page.matched);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>mailtokend</title>
<link rel="stylesheet" href="/dashboard.css">
<link rel="icon" href="/favicon.svg" type="image/svg+xml">
<script type="module" src="/dashboard.js"></script>
</head>
<body>
<header>
<h1>mailtokend accounts</h1>
<p class="live" id="live">static page</p>
</header>
<section id="counts" aria-label="counts">
<ul class="counts"><li class="count total"><a href="/"><span class="n" id="count-total">${counts.total}</span> accounts</a></li>${stateCounts}</ul>
<ul class="counts" id="provider-counts">${providerCounts}</ul>
</section>
<form id="filter" method="get" action="/">
<label>state <select name="only" id="filter-state">${options([...STATES], filter.state, 'any')}</select></label>
<label>provider <select name="provider" id="filter-provider">${options(providers, filter.provider, 'any')}</select></label>
<label>address <input type="search" name="q" id="filter-text" value="${escapeHtml(filter.text ?? '')}" placeholder="part of an address" autocomplete="off"></label>
<button type="submit">Filter</button>
</form>
<main>
<section id="list">
<p id="range"><span id="matched">${page.matched}</span> matching; showing <span id="shown">${page.matched === 0 ? 0 : page.offset + 1}–${last}</span>
<button type="button" id="prev" disabled>previous</button> <button type="button" id="next"${last < page.matched ? '' : ' disabled'}>next</button></p>
<table id="accounts">
<thead><tr><th>account</th><th>provider</th><th>state</th><th>token expires in</th><th>last error</th><th></th></tr></thead>
<tbody>
${page.accounts.map((a) => rowHtml(a, now)).join('\n')}
</tbody>
</table>
<p>An account in <b>unauthenticated</b> needs a sign-in: follow its link, or run <code>mailtokend login ADDRESS</code>.</p>
</section>
<section id="detail" hidden>
<h2><span id="detail-user"></span> <span id="detail-state" class="badge"></span></h2>
<p class="buttons"><button type="button" id="btn-refresh">Refresh now</button> <a id="btn-signin" class="button" href="#">Sign in</a> <button type="button" id="btn-revoke">Revoke</button> <button type="button" id="btn-close">close</button></p>
<p id="action-result" role="status"></p>
<dl>
<dt>provider</dt><dd id="detail-provider"></dd>
<dt>token expires in</dt><dd id="detail-expires"></dd>
<dt>last refresh</dt><dd id="detail-refreshed"></dd>
<dt>last error</dt><dd id="detail-error"></dd>
</dl>
<div id="chart" aria-label="statechart of the account machine"></div>
<h3>last transitions (newest first)</h3>
<table id="history"><thead><tr><th>time</th><th>event</th><th>from → to</th><th>reason</th></tr></thead><tbody></tbody></table>
</section>
</main>
</body></html>
`;
}

export const FAVICON_SVG = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect x="1" y="3" width="14" height="10" rx="2" fill="#2a7"/><path d="M1 4l7 5 7-5" fill="none" stroke="#fff" stroke-width="1.5"/></svg>';

export const DASHBOARD_CSS = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 1rem 2rem; color: #222; }
header { display: flex; align-items: baseline; gap: 1rem; }
h1 { font-size: 1.4rem; margin: 0 0 .5rem; }
.live { color: #888; font-size: .85rem; }
.live.on { color: #2a7; }
ul.counts { list-style: none; display: flex; flex-wrap: wrap; gap: .5rem; padding: 0; margin: .25rem 0; }
li.count a { display: inline-block; padding: .3rem .7rem; border-radius: .4rem; background: #eee; color: inherit; text-decoration: none; }
li.count .n { font-weight: 700; font-size: 1.1rem; }
.state-valid, li.state-valid a { background: #d8f3dc; }
.state-refreshing, li.state-refreshing a { background: #dbeafe; }
.state-expired, li.state-expired a { background: #fde68a; }
.state-unauthenticated, li.state-unauthenticated a { background: #fecaca; }
form#filter { margin: .5rem 0; display: flex; gap: 1rem; flex-wrap: wrap; align-items: center; }
main { display: flex; gap: 2rem; align-items: flex-start; flex-wrap: wrap; }
#list { flex: 1 1 40rem; min-width: 30rem; }
#detail { flex: 1 1 36rem; border: 1px solid #ccc; border-radius: .5rem; padding: .5rem 1rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .2rem .5rem; border-bottom: 1px solid #eee; vertical-align: top; }
td.error { color: #a33; max-width: 22rem; overflow-wrap: anywhere; }
tr.selected td { outline: 1px solid #888; }
.badge { font-size: .9rem; padding: .1rem .5rem; border-radius: .3rem; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; }
dd { margin: 0; }
a.button { padding: .1rem .6rem; border: 1px solid #888; border-radius: .25rem; text-decoration: none; color: inherit; background: #f4f4f4; }
#chart svg { width: 100%; height: auto; max-width: 52rem; }
#chart .node rect { fill: #fff; stroke: #555; stroke-width: 1.5; }
#chart .node.current rect { fill: #ffd166; stroke: #b45309; stroke-width: 3; }
#chart .node text { font: 600 13px system-ui, sans-serif; text-anchor: middle; dominant-baseline: middle; }
#chart .edge path { fill: none; stroke: #999; stroke-width: 1.2; }
#chart .edge.timer path { stroke-dasharray: 5 3; }
#chart .edge.last path { stroke: #b45309; stroke-width: 2.5; }
#chart .edge text { font: 10px system-ui, sans-serif; fill: #555; text-anchor: middle; }
#chart .edge.last text { fill: #b45309; font-weight: 700; }
#chart marker path { fill: #999; }
`;
