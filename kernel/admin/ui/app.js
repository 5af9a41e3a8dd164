// The Sluice dashboard: plain JS over the admin API (/admin/analytics,
// /admin/requests, /admin/requests/{id}, /admin/limits). No build step, no
// outside assets: it works offline from the gateway's admin listener.
'use strict';

const $ = (sel) => document.querySelector(sel);

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c ?? ''));
  return e;
}

async function api(path) {
  const res = await fetch(path, { credentials: 'same-origin', cache: 'no-store' });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body?.error?.message || `${path}: HTTP ${res.status}`);
  return body;
}

function showError(err) {
  const p = $('#error');
  p.textContent = err ? String(err.message || err) : '';
  p.hidden = !err;
}

const fmt = {
  int: (n) => (n ?? 0).toLocaleString('en-US'),
  usd: (n) => '$' + (n ?? 0).toFixed(n >= 1 ? 2 : 6),
  ms: (n) => (n === null || n === undefined ? '–' : n < 10 ? n.toFixed(2) + ' ms' : Math.round(n) + ' ms'),
  time: (ms) => new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
};

function windowMs() {
  return Number($('#window').value);
}

function table(node, columns, rows, onRow) {
  node.replaceChildren();
  node.append(el('tr', {}, ...columns.map((c) => el('th', {}, c.title))));
  if (rows.length === 0) {
    node.append(el('tr', {}, el('td', { class: 'empty', colspan: String(columns.length) }, 'none')));
    return;
  }
  for (const r of rows) {
    const tr = el('tr', onRow ? { class: 'row', onclick: () => onRow(r) } : {},
      ...columns.map((c) => {
        const v = c.value(r);
        return v instanceof Node ? el('td', {}, v) : el('td', {}, String(v));
      }));
    if (r.id) tr.dataset.id = r.id;
    node.append(tr);
  }
}

// A bar chart of `values` (one per bucket) into an <svg>.
function barChart(svg, buckets, values, format) {
  const w = svg.clientWidth || 500;
  const h = svg.clientHeight || 120;
  svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
  svg.replaceChildren();
  const max = Math.max(0, ...values);
  const ns = 'http://www.w3.org/2000/svg';
  const bw = buckets.length ? w / buckets.length : w;
  values.forEach((v, i) => {
    const bh = max > 0 ? (v / max) * (h - 16) : 0;
    const rect = document.createElementNS(ns, 'rect');
    rect.setAttribute('x', String(i * bw + 1));
    rect.setAttribute('y', String(h - bh));
    rect.setAttribute('width', String(Math.max(1, bw - 2)));
    rect.setAttribute('height', String(bh));
    const title = document.createElementNS(ns, 'title');
    title.textContent = `${fmt.time(buckets[i])}: ${format(v)}`;
    rect.append(title);
    svg.append(rect);
  });
  const label = document.createElementNS(ns, 'text');
  label.setAttribute('x', '2');
  label.setAttribute('y', '10');
  label.textContent = max > 0 ? `max ${format(max)}` : 'no data';
  svg.append(label);
}

// ------------------------------------------------------------- overview

async function showOverview() {
  const span = windowMs();
  const bucket = span <= 3600000 ? 'minute' : span <= 86400000 ? 'hour' : 'day';
  const from = Date.now() - span;
  const [byModel, byTeam] = await Promise.all([
    api(`/admin/analytics?group_by=model&bucket=${bucket}&from=${from}`),
    api(`/admin/analytics?group_by=team&bucket=${bucket}&from=${from}`),
  ]);
  const sum = (key) => byModel.groups.reduce((a, g) => a + g[key], 0);
  $('#total-requests').textContent = fmt.int(sum('requests'));
  $('#total-tokens').textContent = fmt.int(sum('prompt_tokens') + sum('completion_tokens'));
  $('#total-failures').textContent = fmt.int(sum('failures'));
  $('#total-cost').textContent = fmt.usd(sum('cost_usd'));

  // Buckets over the window, every model summed per bucket.
  const step = byModel.bucket_ms;
  const first = Math.floor(from / step) * step;
  const buckets = [];
  for (let t = first; t <= Date.now(); t += step) buckets.push(t);
  const per = (key) =>
    buckets.map((b) => byModel.series.filter((s) => s.bucket_start_ms === b).reduce((a, s) => a + key(s), 0));
  barChart($('#chart-requests'), buckets, per((s) => s.requests), fmt.int);
  barChart($('#chart-tokens'), buckets, per((s) => s.prompt_tokens + s.completion_tokens), fmt.int);
  barChart($('#chart-failures'), buckets, per((s) => s.failures), fmt.int);
  barChart($('#chart-cost'), buckets, per((s) => s.cost_usd), fmt.usd);

  const columns = (title) => [
    { title, value: (g) => g.key || '(none)' },
    { title: 'requests', value: (g) => fmt.int(g.requests) },
    { title: 'failures', value: (g) => fmt.int(g.failures) },
    { title: 'tokens in / out', value: (g) => `${fmt.int(g.prompt_tokens)} / ${fmt.int(g.completion_tokens)}` },
    { title: 'cost', value: (g) => fmt.usd(g.cost_usd) },
    { title: 'latency p50 / p95 / p99', value: (g) => `${fmt.ms(g.latency_ms.p50)} / ${fmt.ms(g.latency_ms.p95)} / ${fmt.ms(g.latency_ms.p99)}` },
    { title: 'TTFT p50 / p95', value: (g) => `${fmt.ms(g.ttft_ms.p50)} / ${fmt.ms(g.ttft_ms.p95)}` },
  ];
  table($('#by-model'), columns('model'), byModel.groups);
  table($('#by-team'), columns('team'), byTeam.groups);
}

// ------------------------------------------------------------- request log

let cursor = null;

function filterQuery() {
  const params = new URLSearchParams();
  const form = new FormData($('#filters'));
  for (const key of ['subject', 'team', 'model', 'status']) {
    const v = String(form.get(key) || '').trim();
    if (v) params.set(key, v);
  }
  const md = String(form.get('metadata') || '').trim();
  const eq = md.indexOf('=');
  if (eq > 0) params.set('metadata.' + md.slice(0, eq).trim(), md.slice(eq + 1).trim());
  params.set('from', String(Date.now() - windowMs()));
  return params;
}

const logColumns = [
  { title: 'time', value: (r) => fmt.time(r.start_ms) },
  { title: 'status', value: (r) => el('span', { class: r.status >= 400 || r.error_code ? 'status-bad' : '' }, String(r.status)) },
  { title: 'subject', value: (r) => r.subject || '' },
  { title: 'team', value: (r) => r.team || '' },
  { title: 'model', value: (r) => r.requested_model || '' },
  { title: 'resolved', value: (r) => r.resolved_model || '' },
  { title: 'tokens', value: (r) => `${fmt.int(r.prompt_tokens)} / ${fmt.int(r.completion_tokens)}` },
  { title: 'cost', value: (r) => fmt.usd(r.cost_usd) },
  { title: 'total', value: (r) => fmt.ms(r.total_ms) },
  { title: 'error', value: (r) => r.error_code || '' },
  { title: 'id', value: (r) => r.id },
];

let shown = [];

async function showRequests(more = false) {
  const params = filterQuery();
  if (more && cursor) params.set('cursor', cursor);
  const page = await api('/admin/requests?' + params.toString());
  shown = more ? shown.concat(page.requests) : page.requests;
  cursor = page.next_cursor;
  table($('#request-log'), logColumns, shown, (r) => (location.hash = '#request/' + encodeURIComponent(r.id)));
  $('#more').hidden = !cursor;
}

// ------------------------------------------------------------- request detail

async function showRequest(id) {
  const r = await api('/admin/requests/' + encodeURIComponent(id));
  $('#detail-title').textContent = `${r.method || ''} ${r.path || ''} → ${r.status}`;
  const facts = [
    ['request id', r.id], ['time', fmt.time(r.start_ms)], ['subject', r.subject], ['team', r.team],
    ['model', r.requested_model], ['resolved model', r.resolved_model], ['provider', r.provider],
    ['status', r.status], ['error', r.error_code], ['stream', r.stream ? 'yes' : 'no'],
    ['tokens', `${r.usage.prompt_tokens} in, ${r.usage.completion_tokens} out, ${r.usage.cached_tokens} cached${r.usage.estimated ? ' (estimated)' : ''}`],
    ['cost', fmt.usd(r.cost_usd)], ['client ip', r.client_ip], ['trace id', r.trace_id],
    ['metadata', Object.entries(r.metadata || {}).map(([k, v]) => `${k}=${v}`).join(', ')],
  ];
  $('#detail-facts').replaceChildren(...facts.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v === null || v === undefined ? '–' : String(v))]));

  // Waterfall: the phases in the order they run, on one time axis.
  const p = r.phases || {};
  const total = p.total_ms || 0;
  const rows = [];
  let at = 0;
  for (const [name, key] of [['auth', 'auth_ms'], ['guard_in', 'guard_in_ms'], ['route', 'route_ms'], ['upstream', 'upstream_ms']]) {
    if (p[key] === undefined) continue;
    rows.push({ name, start: at, dur: p[key] });
    at += p[key];
  }
  if (p.ttft_ms !== undefined) rows.push({ name: 'ttft', start: 0, dur: p.ttft_ms });
  if (p.guard_out_ms !== undefined) rows.push({ name: 'guard_out', start: Math.max(0, total - p.guard_out_ms), dur: p.guard_out_ms });
  rows.push({ name: 'total', start: 0, dur: total });
  $('#waterfall').replaceChildren(...rows.map((ph) => {
    const left = total > 0 ? (ph.start / total) * 100 : 0;
    const width = total > 0 ? (ph.dur / total) * 100 : 0;
    const bar = el('div', { class: 'bar', style: `left:${left}%;width:${width}%` });
    return el('div', { class: 'phase', 'data-phase': ph.name }, el('span', {}, ph.name), el('div', { class: 'track' }, bar), el('span', { class: 'ms' }, fmt.ms(ph.dur)));
  }));

  const list = (node, items) => node.replaceChildren(...(items.length ? items.map((t) => el('li', {}, t)) : [el('li', { class: 'empty' }, 'none')]));
  list($('#detail-rules'), r.applied_rules || []);
  list($('#detail-events'), (r.events || []).map((e) => `${e.kind} '${e.rule}' ${e.action}`));
  table($('#detail-findings'), [
    { title: 'guardrail', value: (f) => f.guardrail }, { title: 'hook', value: (f) => f.hook },
    { title: 'type', value: (f) => f.type }, { title: 'count', value: (f) => f.count }, { title: 'action', value: (f) => f.action },
  ], r.findings || []);
  table($('#detail-attempts'), [
    { title: 'target', value: (a) => a.target }, { title: 'status', value: (a) => a.status },
    { title: 'error', value: (a) => a.error || '' }, { title: 'duration', value: (a) => fmt.ms(a.duration_ms) },
  ], r.attempts || []);
}

// ------------------------------------------------------------- limits

async function showLimits() {
  const l = await api('/admin/limits');
  $('#state-line').textContent = `State backend: ${l.state.backend} (${l.state.connected ? 'connected' : 'NOT connected'}, ${l.state.on_unavailable})`;
  const rates = [];
  for (const rule of l.rate_limits) {
    for (const c of rule.counters.length ? rule.counters : [{ key: '(no traffic yet)', used: 0, remaining: rule.limit, reset: '' }]) {
      rates.push({ rule: rule.id, unit: rule.unit, limit: rule.limit, ...c });
    }
  }
  table($('#rate-limits'), [
    { title: 'rule', value: (r) => r.rule }, { title: 'unit', value: (r) => r.unit }, { title: 'key', value: (r) => r.key },
    { title: 'used', value: (r) => fmt.int(r.used) }, { title: 'remaining', value: (r) => fmt.int(r.remaining) },
    { title: 'limit', value: (r) => fmt.int(r.limit) }, { title: 'resets in', value: (r) => r.reset },
  ], rates);
  const budgets = [];
  for (const rule of l.budgets) {
    for (const e of rule.entries.length ? rule.entries : [{ key: '(no spend yet)', spent: 0, reserved: 0, remaining: rule.limit }]) {
      budgets.push({ rule: rule.id, unit: rule.unit, limit: rule.limit, period_end: rule.period_end, ...e });
    }
  }
  const amount = (b, v) => (b.unit.startsWith('cost') ? fmt.usd(v) : fmt.int(v));
  table($('#budgets'), [
    { title: 'budget', value: (b) => b.rule }, { title: 'unit', value: (b) => b.unit }, { title: 'key', value: (b) => b.key },
    { title: 'spent', value: (b) => amount(b, b.spent) }, { title: 'reserved', value: (b) => amount(b, b.reserved) },
    { title: 'remaining', value: (b) => amount(b, b.remaining) }, { title: 'limit', value: (b) => amount(b, b.limit) },
    { title: 'period ends', value: (b) => b.period_end },
  ], budgets);
}

// ------------------------------------------------------------- routing

async function route() {
  const hash = location.hash.slice(1) || 'overview';
  const [view, arg] = hash.split('/');
  const name = view === 'request' ? 'request' : ['overview', 'requests', 'limits'].includes(view) ? view : 'overview';
  for (const s of document.querySelectorAll('.view')) s.hidden = s.id !== 'view-' + name;
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.dataset.view === (name === 'request' ? 'requests' : name));
  showError(null);
  document.body.dataset.loading = name;
  try {
    if (name === 'overview') await showOverview();
    else if (name === 'requests') await showRequests();
    else if (name === 'request') await showRequest(decodeURIComponent(arg || ''));
    else await showLimits();
  } catch (err) {
    showError(err);
  } finally {
    document.body.dataset.loaded = name;
    delete document.body.dataset.loading;
  }
}

$('#filters').addEventListener('submit', (ev) => {
  ev.preventDefault();
  showRequests().catch(showError);
});
$('#more').addEventListener('click', () => showRequests(true).catch(showError));
$('#window').addEventListener('change', route);
window.addEventListener('hashchange', route);
route();
