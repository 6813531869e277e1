// The dashboard's script: reads the JSON endpoints (proto3 JSON with the
// proto's field names, 64-bit integers as strings) and redraws every 2 s. Every value is
// put in with textContent: keys and labels are data, never markup.

#include "server/admin/dashboard.h"

namespace taala::admin {

const char kDashboardScript[] = R"JS('use strict';
const REFRESH_MS = 2000;
const MAX_DESCRIBED = 20;  // Contended keys whose waiters are listed.
const $ = (id) => document.getElementById(id);

async function getJson(path) {
  const r = await fetch(path, {cache: 'no-store'});
  let body = null;
  try { body = await r.json(); } catch (e) { /* not JSON */ }
  if (!r.ok || body === null) {
    const why = body && body.message ? body.status + ': ' + body.message
                                     : 'HTTP ' + r.status;
    throw new Error(path + ': ' + why);
  }
  return body;
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

// cells: [text, class] pairs or plain text.
function row(cls, cells, key) {
  const tr = el('tr', cls);
  if (key !== undefined) tr.dataset.key = key;
  for (const c of cells) {
    if (Array.isArray(c)) tr.appendChild(el('td', c[1], c[0]));
    else tr.appendChild(el('td', '', c));
  }
  return tr;
}

function fill(tbodyId, rows, columns, emptyText) {
  const body = $(tbodyId);
  body.replaceChildren();
  if (rows.length === 0) {
    const td = el('td', '', emptyText);
    td.colSpan = columns;
    const tr = el('tr', 'empty');
    tr.appendChild(td);
    body.appendChild(tr);
    return;
  }
  for (const r of rows) body.appendChild(r);
}

function setError(id, err) { $(id).textContent = err ? String(err.message || err) : ''; }

function num(v) { return v === undefined || v === null ? 0 : Number(v); }

function dur(msValue) {
  let ms = num(msValue);
  if (ms < 0) return 'no timeout';
  if (ms < 1000) return Math.round(ms) + ' ms';
  let s = ms / 1000;
  if (s < 60) return s.toFixed(s < 10 ? 1 : 0) + ' s';
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  s = Math.floor(s % 60);
  return (h ? h + 'h ' : '') + m + 'm ' + s + 's';
}

function mode(m) {
  return m === 'LOCK_MODE_SHARED' ? 'shared' : 'exclusive';
}

function labels(obj) {
  if (!obj) return '';
  return Object.keys(obj).sort().map((k) => k + '=' + obj[k]).join(', ');
}

async function health() {
  try {
    const h = await getJson('/api/v1/health');
    const score = $('health-score');
    score.textContent = h.score;
    score.className = h.status;
    $('health-status').textContent = h.status;
    $('health-status').className = h.status;
    fill('health-reasons-body', (h.reasons || []).map((r) => {
      const tr = row('reason' + (r.penalty > 0 ? ' penalized' : ''),
                     [[r.name, 'mono'], [num(r.value), 'num'],
                      [r.penalty > 0 ? '-' + r.penalty : '0', 'num'],
                      r.detail]);
      tr.dataset.name = r.name;
      return tr;
    }), 4, 'no inputs');
    setError('health-error', null);
  } catch (e) { setError('health-error', e); }
}

async function status() {
  try {
    const s = (await getJson('/api/v1/status')).status || {};
    $('version').textContent = 'taalad ' + (s.version || '');
    const dl = $('status');
    dl.replaceChildren();
    const items = [
      ['Durability', s.durability], ['Sessions', num(s.sessions)],
      ['Keys', num(s.keys)], ['Last LSN', num(s.last_lsn)],
      ['Grants refused for', dur(s.grants_refused_for_ms)],
      ['Recovery', dur(s.recovery_ms) + ' (' + num(s.sessions_restored) +
                   ' sessions, ' + num(s.grants_restored) + ' grants)'],
      ['Previous stop', s.previous_stop_clean ? 'clean' : 'unclean'],
      ['Log', num(s.wal_records) + ' records, ' + num(s.wal_fsyncs) +
              ' fsyncs, ' + num(s.wal_bytes) + ' bytes']];
    for (const [k, v] of items) {
      dl.appendChild(el('dt', '', k));
      dl.appendChild(el('dd', '', v));
    }
    setError('status-error', null);
  } catch (e) { setError('status-error', e); }
}

async function waiters(keys) {
  const rows = [];
  const errors = [];
  await Promise.all(keys.slice(0, MAX_DESCRIBED).map(async (key) => {
    try {
      const d = await getJson('/api/v1/locks/describe?key=' +
                              encodeURIComponent(key));
      for (const w of d.waiters || []) {
        rows.push([key, row('waiter-row', [
          [key, 'key'], [w.client_name || '(unnamed)', 'waiter'],
          [w.session_id, 'mono session'], mode(w.mode),
          [dur(w.waited_for_ms), 'num'], [dur(w.wait_remaining_ms), 'num']],
          key)]);
      }
    } catch (e) { errors.push(e.message); }
  }));
  rows.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  fill('waiters-body', rows.map((r) => r[1]), 6, 'nobody waits');
  setError('waiters-error', errors.length ? errors.join('\n') : null);
}

async function locks() {
  try {
    const l = await getJson('/api/v1/locks?page_size=1000');
    const rows = [];
    const contended = [];
    for (const lock of l.locks || []) {
      if (num(lock.waiter_count) > 0) contended.push(lock.key);
      for (const h of lock.holders || []) {
        const g = h.grant || {};
        rows.push(row('lock-row', [
          [lock.key, 'key'], [h.client_name || '(unnamed)', 'holder'],
          [g.session_id, 'mono session'], mode(g.mode),
          [g.fencing_token, 'mono token'], [dur(g.held_for_ms), 'num age'],
          [labels(h.labels), 'labels'], [num(lock.waiter_count), 'num']],
          lock.key));
      }
    }
    fill('locks-body', rows, 8, 'no lock is held');
    $('locks-count').textContent = '(' + rows.length +
        (rows.length === 1 ? ' grant' : ' grants') +
        (l.next_page_token ? ', first 1000 keys' : '') + ')';
    setError('locks-error', null);
    await waiters(contended);
  } catch (e) { setError('locks-error', e); }
}

async function contention() {
  try {
    const c = await getJson('/api/v1/contention');
    fill('contention-waiters-body', (c.by_waiters || []).map((k) => row(
        'contended-row', [[k.key, 'key'], [num(k.waiters), 'num'],
                          [num(k.holders), 'num'],
                          [dur(k.longest_wait_ms), 'num']], k.key)),
         4, 'no key has waiters');
    $('contention-window-title').textContent =
        'By wait time (last ' + dur(c.window_ms) + ')';
    fill('contention-time-body', (c.by_wait_time || []).map((k) => row(
        'contended-time-row', [[k.key, 'key'], [dur(k.wait_ms_in_window), 'num'],
                               [num(k.waits_in_window), 'num']], k.key)),
         3, 'no waits in the window');
    setError('contention-error', null);
  } catch (e) { setError('contention-error', e); }
}

async function leaks() {
  try {
    const l = await getJson('/api/v1/leaks');
    fill('leaks-body', (l.suspects || []).map((s) => {
      const g = s.grant || {};
      return row('suspect', [
        [g.key, 'key'], [s.client_name || '(unnamed)', 'holder'],
        [g.session_id, 'mono session'], [dur(g.held_for_ms), 'num age'],
        [labels(s.labels), 'labels'], [s.reason, 'reason']], g.key);
    }), 6, 'no suspect');
    setError('leaks-error', null);
  } catch (e) { setError('leaks-error', e); }
}

async function deadlocks() {
  try {
    const d = await getJson('/api/v1/deadlocks');
    $('deadlocks-total').textContent = '(' + num(d.total) + ' since start)';
    const box = $('deadlocks');
    box.replaceChildren();
    const list = d.deadlocks || [];
    if (list.length === 0) box.appendChild(el('div', 'labels', 'none'));
    for (const x of list) {
      const div = el('div', 'deadlock');
      div.dataset.key = x.key;
      div.appendChild(el('div', '', new Date(num(x.at_unix_ms)).toISOString() +
          ': ' + (x.client_name || '(unnamed)') + ' (session ' + x.session_id +
          ') refused ' + x.key));
      for (const e of x.cycle || []) {
        div.appendChild(el('div', 'cycle',
            (e.waiter_client_name || e.waiter_session_id) + ' waits for ' +
            e.key + ' held by ' + (e.blocker_client_name || e.blocker_session_id)));
      }
      box.appendChild(div);
    }
    setError('deadlocks-error', null);
  } catch (e) { setError('deadlocks-error', e); }
}

async function sessions() {
  try {
    const s = await getJson('/api/v1/sessions?page_size=1000');
    const list = s.sessions || [];
    fill('sessions-body', list.map((x) => row('session-row', [
      [x.session_id, 'mono session'], [x.client_name || '(unnamed)', 'client'],
      [labels(x.labels), 'labels'], [dur(x.ttl_ms), 'num'],
      [dur(x.expires_in_ms), 'num'], [num(x.held_keys), 'num'],
      [num(x.waiting_keys), 'num']])), 7, 'no session');
    $('sessions-count').textContent = '(' + list.length +
        (s.next_page_token ? '+' : '') + ')';
    setError('sessions-error', null);
  } catch (e) { setError('sessions-error', e); }
}

function seconds(le) {
  if (le < 1e-3) return Math.round(le * 1e6) + 'us';
  if (le < 1) return +(le * 1e3).toPrecision(3) + 'ms';
  return +le.toPrecision(3) + 's';
}

// An SVG bar chart of a cumulative histogram's buckets.
function chart(id, h, cls) {
  const ns = 'http://www.w3.org/2000/svg';
  const buckets = (h && h.buckets) || [];
  const bars = [];
  let prev = 0;
  for (const b of buckets) {
    bars.push(['<=' + seconds(b.le), num(b.count) - prev]);
    prev = num(b.count);
  }
  bars.push(['more', num(h && h.count) - prev]);
  const W = 640, H = 180, top = 16, bottom = 30;
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
  svg.setAttribute('class', 'histogram');
  const max = Math.max(1, ...bars.map((b) => b[1]));
  const step = W / bars.length;
  bars.forEach(([label, count], i) => {
    const hgt = (H - top - bottom) * count / max;
    const r = document.createElementNS(ns, 'rect');
    r.setAttribute('x', i * step + 2);
    r.setAttribute('y', H - bottom - hgt);
    r.setAttribute('width', Math.max(1, step - 4));
    r.setAttribute('height', hgt);
    r.setAttribute('class', cls);
    svg.appendChild(r);
    for (const [y, text, c] of [[H - bottom + 12, label, ''],
                                [H - bottom - hgt - 3, count, 'count']]) {
      const t = document.createElementNS(ns, 'text');
      t.setAttribute('x', i * step + step / 2);
      t.setAttribute('y', y);
      t.setAttribute('text-anchor', 'middle');
      if (c) t.setAttribute('class', c);
      t.textContent = String(text);
      svg.appendChild(t);
    }
  });
  const caption = el('div', 'labels', num(h && h.count) + ' samples, ' +
      (num(h && h.count) ? 'mean ' + seconds(num(h.sum) / num(h.count)) : ''));
  $(id).replaceChildren(svg, caption);
}

async function charts() {
  try {
    const m = (await getJson('/api/v1/metrics')).metrics || {};
    chart('wait-chart', m.wait_seconds, 'wait');
    chart('hold-chart', m.hold_seconds, 'hold');
    setError('charts-error', null);
  } catch (e) { setError('charts-error', e); }
}

let running = false;
async function refresh() {
  if (running) return;  // The previous round is still out.
  running = true;
  try {
    await Promise.all([health(), status(), locks(), contention(), leaks(),
                       deadlocks(), sessions(), charts()]);
    $('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
    setError('page-error', null);
  } catch (e) {
    setError('page-error', e);
  } finally {
    running = false;
  }
}

refresh();
setInterval(refresh, REFRESH_MS);
)JS";

}  // namespace taala::admin
