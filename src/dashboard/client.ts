/**
 * The dashboard's browser code (`/dashboard.js`), plain JavaScript with no
 * build step. It reads pages of accounts from `/api/accounts`, listens to
 * `/api/events` (Server-Sent Events), draws the statechart that `/api/machine`
 * derives from the account machine, and posts the account actions. It only
 * ever sets text (textContent), never HTML.
 */
export const DASHBOARD_JS = String.raw`
const STATES = ['unauthenticated', 'valid', 'refreshing', 'expired'];
const PAGE = 100;
const $ = (id) => document.getElementById(id);
const view = { offset: 0, only: '', provider: '', q: '', rows: new Map(), detail: null, machine: null, history: [] };

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}
function svg(tag, attrs, text) {
  const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}
function authHref(user) { return '/auth/' + encodeURIComponent(user); }
function left(at) {
  if (at === undefined || at === null) return '';
  const s = Math.round((at - Date.now()) / 1000);
  if (s <= 0) return 'expired';
  return s >= 60 ? Math.floor(s / 60) + ' min ' + (s % 60) + ' s' : s + ' s';
}
function when(at) { return at ? new Date(at).toLocaleString() : '-'; }
function errorText(e) { return e ? e.code + ': ' + e.message : ''; }

function readQuery() {
  const q = new URLSearchParams(location.search);
  view.only = q.get('only') || '';
  view.provider = q.get('provider') || '';
  view.q = q.get('q') || '';
  view.offset = Math.max(0, Number(q.get('offset') || 0) || 0);
  $('filter-state').value = view.only;
  $('filter-provider').value = view.provider;
  $('filter-text').value = view.q;
}
function writeQuery() {
  const q = new URLSearchParams();
  if (view.only) q.set('only', view.only);
  if (view.provider) q.set('provider', view.provider);
  if (view.q) q.set('q', view.q);
  if (view.offset) q.set('offset', String(view.offset));
  const search = q.toString();
  history.replaceState(null, '', (search ? '?' + search : location.pathname) + location.hash);
}

function setCounts(counts) {
  $('count-total').textContent = String(counts.total);
  for (const s of STATES) $('count-' + s).textContent = String(counts.states[s] || 0);
  const list = $('provider-counts');
  const names = Object.keys(counts.providers).sort();
  const shown = Array.from(list.querySelectorAll('[data-provider-count]')).map((n) => n.getAttribute('data-provider-count'));
  if (shown.join('\n') !== names.join('\n')) {
    list.replaceChildren(...names.map((p) => {
      const li = el('li', { class: 'count provider' });
      const a = el('a', { href: '/?provider=' + encodeURIComponent(p), 'data-provider': p });
      a.append(el('span', { class: 'n', 'data-provider-count': p }, ''), document.createTextNode(' ' + p));
      li.append(a);
      return li;
    }));
    const select = $('filter-provider');
    select.replaceChildren(el('option', { value: '' }, 'any'), ...names.map((p) => el('option', { value: p }, p)));
    select.value = view.provider;
  }
  for (const p of names) list.querySelector('[data-provider-count="' + CSS.escape(p) + '"]').textContent = String(counts.providers[p]);
}

function rowOf(a) {
  const tr = el('tr', { 'data-key': a.key });
  tr.append(el('td', {}, a.user), el('td', {}, a.provider), el('td', { class: 'state-' + a.state }, a.state));
  const expires = el('td', { class: 'expires' }, left(a.expiresAt));
  if (a.expiresAt !== undefined) expires.setAttribute('data-expires', String(a.expiresAt));
  tr.append(expires, el('td', { class: 'error' }, errorText(a.lastError)));
  const actions = el('td', { class: 'actions' });
  actions.append(el('a', { href: authHref(a.user) }, a.state === 'unauthenticated' ? 'Sign in' : 'Sign in again'), document.createTextNode(' '),
    el('a', { class: 'details', href: '#account=' + encodeURIComponent(a.key) }, 'details'));
  tr.append(actions);
  if (view.detail && view.detail.key === a.key) tr.classList.add('selected');
  return tr;
}

let loading = null;
async function loadPage() {
  const q = new URLSearchParams({ offset: String(view.offset), limit: String(PAGE) });
  if (view.only) q.set('only', view.only);
  if (view.provider) q.set('provider', view.provider);
  if (view.q) q.set('q', view.q);
  const mine = (loading = fetch('/api/accounts?' + q).then((r) => r.json()));
  const page = await mine;
  if (mine !== loading) return;
  setCounts(page.counts);
  view.rows = new Map(page.accounts.map((a) => [a.key, a]));
  $('accounts').tBodies[0].replaceChildren(...page.accounts.map(rowOf));
  $('matched').textContent = String(page.matched);
  const last = Math.min(page.offset + page.accounts.length, page.matched);
  $('shown').textContent = (page.matched === 0 ? 0 : page.offset + 1) + '–' + last;
  $('prev').disabled = page.offset === 0;
  $('next').disabled = last >= page.matched;
  document.body.setAttribute('data-loaded', String(Date.now()));
}

let reloadTimer = null;
function reloadSoon() {
  if (reloadTimer) return;
  reloadTimer = setTimeout(() => { reloadTimer = null; loadPage(); }, 1000);
}
function matches(a) {
  return (!view.only || a.state === view.only) && (!view.provider || a.provider === view.provider) &&
    (!view.q || a.user.toLowerCase().includes(view.q.toLowerCase()));
}

function onChange(message) {
  setCounts(message.counts);
  if (message.reset) { reloadSoon(); if (view.detail) openDetail(view.detail.key); return; }
  for (const a of message.accounts) {
    const tr = $('accounts').querySelector('tr[data-key="' + CSS.escape(a.key) + '"]');
    if (tr && matches(a)) { view.rows.set(a.key, a); tr.replaceWith(rowOf(a)); }
    else if (tr || ((view.only || view.provider || view.q) && matches(a))) reloadSoon();
    if (view.detail && view.detail.key === a.key) {
      view.detail = a;
      for (const t of (message.transitions[a.key] || [])) view.history.push(t);
      view.history = view.history.slice(-100);
      showDetail();
    }
  }
}

function connect() {
  const source = new EventSource('/api/events');
  source.addEventListener('open', () => { $('live').textContent = 'live'; $('live').classList.add('on'); });
  source.addEventListener('error', () => { $('live').textContent = 'reconnecting…'; $('live').classList.remove('on'); });
  source.addEventListener('change', (e) => onChange(JSON.parse(e.data)));
}

// ---------------------------------------------------------------- statechart

const SPOTS = { starting: [80, 220], unauthenticated: [340, 60], valid: [340, 380], refreshing: [640, 220], expired: [900, 380] };
function spotsOf(states) {
  const spots = {};
  let extra = 0;
  for (const s of states) spots[s.id] = SPOTS[s.id] || [100 + 180 * extra++, 480];
  return spots;
}

function drawChart() {
  const m = view.machine;
  if (!m) return;
  const spots = spotsOf(m.states);
  const W = 120, H = 40;
  const root = svg('svg', { viewBox: '0 0 1000 ' + (Object.values(spots).some((p) => p[1] > 400) ? 540 : 440), role: 'img' });
  const defs = svg('defs');
  const marker = svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
  marker.append(svg('path', { d: 'M0,0 L10,5 L0,10 z' }));
  defs.append(marker);
  root.append(defs);
  const groups = new Map();
  for (const t of m.transitions) {
    const id = t.from + '>' + t.to;
    if (!groups.has(id)) groups.set(id, { from: t.from, to: t.to, labels: [], timer: false, guards: [] });
    const g = groups.get(id);
    if (!g.labels.includes(t.label)) g.labels.push(t.label);
    if (t.kind === 'after' || t.kind === 'always') g.timer = true;
    g.guards.push(t.label + (t.guard ? ' [' + t.guard + ']' : ''));
  }
  const last = view.history.length ? view.history[view.history.length - 1] : null;
  for (const g of groups.values()) {
    const [x1, y1] = spots[g.from], [x2, y2] = spots[g.to];
    const edge = svg('g', { class: 'edge' + (g.timer ? ' timer' : ''), 'data-from': g.from, 'data-to': g.to });
    if (last && last.from === g.from && last.to === g.to) edge.classList.add('last');
    let d, lx, ly;
    if (g.from === g.to) {
      const top = y1 < 220;
      const sy = top ? y1 - H / 2 : y1 + H / 2, dir = top ? -1 : 1;
      d = 'M' + (x1 - 25) + ',' + sy + ' C' + (x1 - 45) + ',' + (sy + dir * 55) + ' ' + (x1 + 45) + ',' + (sy + dir * 55) + ' ' + (x1 + 25) + ',' + sy;
      lx = x1; ly = sy + dir * 50 + (top ? -12 * g.labels.length : 12);
    } else {
      const dx = x2 - x1, dy = y2 - y1, len = Math.hypot(dx, dy);
      const nx = -dy / len, ny = dx / len, bend = 40;
      const cx = (x1 + x2) / 2 + nx * bend, cy = (y1 + y2) / 2 + ny * bend;
      const clip = (x, y, tx, ty) => {
        const vx = tx - x, vy = ty - y;
        const k = Math.min(Math.abs((W / 2) / (vx || 1e-9)), Math.abs((H / 2) / (vy || 1e-9)));
        return [x + vx * k, y + vy * k];
      };
      const [sx, sy] = clip(x1, y1, cx, cy), [ex, ey] = clip(x2, y2, cx, cy);
      d = 'M' + sx + ',' + sy + ' Q' + cx + ',' + cy + ' ' + ex + ',' + ey;
      lx = (sx + 2 * cx + ex) / 4; ly = (sy + 2 * cy + ey) / 4 - 6 * (g.labels.length - 1);
    }
    edge.append(svg('path', { d, 'marker-end': 'url(#arrow)' }));
    const text = svg('text', { x: lx, y: ly });
    g.labels.forEach((label, i) => text.append(svg('tspan', { x: lx, dy: i === 0 ? 0 : 12 }, label)));
    edge.append(text, svg('title', {}, g.from + ' → ' + g.to + ': ' + g.guards.join(', ')));
    root.append(edge);
  }
  const [sx, sy] = spots[m.initial];
  root.append(svg('circle', { cx: sx - W / 2 - 30, cy: sy, r: 6, fill: '#555' }));
  const init = svg('g', { class: 'edge' });
  init.append(svg('path', { d: 'M' + (sx - W / 2 - 24) + ',' + sy + ' L' + (sx - W / 2) + ',' + sy, 'marker-end': 'url(#arrow)' }));
  root.append(init);
  for (const s of m.states) {
    const [x, y] = spots[s.id];
    const node = svg('g', { class: 'node', 'data-state': s.id });
    if (view.detail && view.detail.state === s.id) node.classList.add('current');
    node.append(svg('rect', { x: x - W / 2, y: y - H / 2, width: W, height: H, rx: 10 }), svg('text', { x, y }, s.id));
    if (s.description) node.append(svg('title', {}, s.description));
    root.append(node);
  }
  $('chart').replaceChildren(root);
}

// ---------------------------------------------------------------- one account

function showDetail() {
  const a = view.detail;
  $('detail').hidden = false;
  $('detail-user').textContent = a.user;
  $('detail-state').textContent = a.state;
  $('detail-state').className = 'badge state-' + a.state;
  $('detail-provider').textContent = a.provider;
  $('detail-expires').textContent = left(a.expiresAt) || '-';
  $('detail-refreshed').textContent = when(a.lastRefreshAt);
  $('detail-error').textContent = errorText(a.lastError) || '-';
  $('btn-signin').href = authHref(a.user);
  $('btn-signin').textContent = a.state === 'unauthenticated' ? 'Sign in' : 'Sign in again';
  const rows = view.history.slice().reverse().map((t) => {
    const tr = el('tr', { 'data-to': t.to });
    tr.append(el('td', {}, new Date(t.at).toLocaleTimeString()), el('td', {}, t.event), el('td', {}, (t.from || 'start') + ' → ' + t.to),
      el('td', { class: 'error' }, t.error ? errorText(t.error) + (t.retryAt ? ' · retry at ' + new Date(t.retryAt).toLocaleTimeString() : '') : ''));
    return tr;
  });
  $('history').tBodies[0].replaceChildren(...rows);
  for (const tr of $('accounts').querySelectorAll('tr.selected')) tr.classList.remove('selected');
  const tr = $('accounts').querySelector('tr[data-key="' + CSS.escape(a.key) + '"]');
  if (tr) tr.classList.add('selected');
  drawChart();
}

async function openDetail(key) {
  const r = await fetch('/api/accounts/' + encodeURIComponent(key));
  if (!r.ok) { $('detail').hidden = true; return; }
  const body = await r.json();
  view.detail = body.account;
  view.history = body.history;
  if (body.retryAt) view.detail.retryAt = body.retryAt;
  showDetail();
}

async function act(what) {
  const a = view.detail;
  if (!a) return;
  if (what === 'revoke' && !confirm('Forget the grant of ' + a.user + '? It will need a new sign-in.')) return;
  $('action-result').textContent = what + '…';
  const r = await fetch('/api/accounts/' + encodeURIComponent(a.key) + '/' + what, { method: 'POST' });
  const body = await r.json().catch(() => ({ message: r.statusText }));
  $('action-result').textContent = body.message ? body.message + (body.error ? ' (' + errorText(body.error) + ')' : '') : String(r.status);
}

function route() {
  const m = /^#account=(.+)$/.exec(location.hash);
  if (m) openDetail(decodeURIComponent(m[1]));
  else { view.detail = null; $('detail').hidden = true; }
}

function start() {
  readQuery();
  $('filter').addEventListener('submit', (e) => {
    e.preventDefault();
    view.only = $('filter-state').value; view.provider = $('filter-provider').value; view.q = $('filter-text').value.trim(); view.offset = 0;
    writeQuery(); loadPage();
  });
  let typing = null;
  $('filter-text').addEventListener('input', () => { clearTimeout(typing); typing = setTimeout(() => $('filter').requestSubmit(), 250); });
  $('filter-state').addEventListener('change', () => $('filter').requestSubmit());
  $('filter-provider').addEventListener('change', () => $('filter').requestSubmit());
  $('prev').addEventListener('click', () => { view.offset = Math.max(0, view.offset - PAGE); writeQuery(); loadPage(); });
  $('next').addEventListener('click', () => { view.offset += PAGE; writeQuery(); loadPage(); });
  $('btn-refresh').addEventListener('click', () => act('refresh'));
  $('btn-revoke').addEventListener('click', () => act('revoke'));
  $('btn-close').addEventListener('click', () => { location.hash = ''; });
  window.addEventListener('hashchange', route);
  setInterval(() => {
    for (const td of document.querySelectorAll('td.expires[data-expires]')) td.textContent = left(Number(td.getAttribute('data-expires')));
    if (view.detail) $('detail-expires').textContent = left(view.detail.expiresAt) || '-';
  }, 1000);
  fetch('/api/machine').then((r) => r.json()).then((m) => { view.machine = m; drawChart(); });
  connect();
  loadPage().then(route);
}

start();
`;
