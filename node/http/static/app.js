// Status page: live updates over server-sent events (falls back to polling), all text escaped.
'use strict';
const $ = (id) => document.getElementById(id);
const esc = (v) => String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
const short = (id) => (id ? `${id.slice(0, 8)}…${id.slice(-6)}` : '–');
let names = {};
let status = null;
let chart = null;

function ago(ms) {
  if (ms == null) return 'never';
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  return s < 2 ? 'now' : `${s}s ago`;
}
const pill = (ok, yes, no) => `<span class="pill ${ok ? 'ok' : 'bad'}">${esc(ok ? yes : no)}</span>`;

function renderStatus(s) {
  status = s;
  names = Object.fromEntries(s.peers.map((p) => [p.id, p.name]));
  $('hdr').textContent = `${s.site} · consortium ${s.consortium}`;
  $('identity').innerHTML = `<div>site</div><div>${esc(s.site)}</div><div>peer id</div><div class="mono">${esc(s.peerId)}</div><div>consortium</div><div>${esc(s.consortium)}</div><div>manifest signature</div><div>${pill(s.manifestSignature === 'valid', 'valid', 'INVALID')}</div><div>rounds planned</div><div>${esc(s.roundsPlanned)}</div>`;
  const done = s.round.phase === 'done';
  $('round').textContent = done ? `${s.model.version}/${s.roundsPlanned}` : `${s.round.round}/${s.roundsPlanned}`;
  $('attempt').textContent = done ? '–' : s.round.attempt;
  $('phase').textContent = s.round.phase;
  $('aggregator').textContent = s.round.aggregator ? `${names[s.round.aggregator] ?? ''} ${short(s.round.aggregator)}` : '–';
  $('model').textContent = `v${s.model.version} ${s.model.hash ? s.model.hash.slice(0, 24) + '…' : ''}`;
  $('participants').innerHTML = s.round.participants.length
    ? s.round.participants.map((p) => {
        const total = p.chunksTotal ?? 1;
        const pct = Math.round((100 * p.chunksReceived) / total);
        return `<tr><td>${esc(p.name)}</td><td><span class="bar"><span style="width:${pct}%"></span></span> ${esc(p.chunksReceived)}/${esc(p.chunksTotal ?? '?')}</td></tr>`;
      }).join('')
    : '<tr><td colspan="2" style="color:#667085">no attempt open</td></tr>';
  $('peers').innerHTML = s.peers.map((p) => `<tr><td>${esc(p.name)} <span class="mono">${esc(short(p.id))}</span>${p.id === s.peerId ? ' (this node)' : ''}</td><td>${pill(p.connected, 'yes', 'no')}</td><td>${pill(p.live, 'live', 'silent')}</td><td>${esc(ago(p.lastSeen))}</td></tr>`).join('');
  $('listen').innerHTML = s.listen.map(esc).join('<br>');
  $('events').innerHTML = (s.events || []).slice().reverse().map((e) => `<tr><td class="nowrap">${esc(new Date(e.at).toLocaleTimeString())}</td><td class="nowrap">${esc(e.kind)}</td><td>${esc(e.detail)}</td></tr>`).join('')
    || '<tr><td colspan="3" class="muted">nothing to report</td></tr>';
  tickDeadline();
}

function tickDeadline() {
  if (!status) return;
  const d = status.round.deadline;
  $('deadline').textContent = d == null ? '–' : `${Math.max(0, Math.round((d - Date.now()) / 1000))}s`;
}

function renderRounds(rounds) {
  const last = rounds[rounds.length - 1];
  $('auc').textContent = last && last.testAuc != null ? last.testAuc.toFixed(4) : '–';
  $('rounds').innerHTML = rounds.slice().reverse().map((r) => {
    const phases = Object.entries(r.phaseSeconds || {}).filter(([, v]) => v > 0.005).map(([k, v]) => `${esc(k)} ${v.toFixed(1)}`).join(', ');
    return `<tr><td>${esc(r.round)}</td><td>${r.attempt < 0 ? 'synced' : esc(r.attempt)}</td><td>${r.attempt < 0 ? '<span class="muted">model taken from peers</span>' : r.participants.map((p) => esc(names[p] ?? short(p))).join(', ') || '–'}</td><td>${esc(names[r.aggregator] ?? short(r.aggregator))}</td><td>${phases || '–'}</td><td class="nowrap">${(r.bytesIn / 1024).toFixed(0)} KiB / ${(r.bytesOut / 1024).toFixed(0)} KiB</td><td>${r.testAuc == null ? '–' : r.testAuc.toFixed(4)}</td><td class="mono nowrap" title="${esc(r.modelHash)}">${esc(r.modelHash.slice(0, 12))}…</td></tr>`;
  }).join('') || '<tr><td colspan="8" style="color:#667085">no completed round yet</td></tr>';
  const labels = rounds.map((r) => String(r.round));
  const auc = rounds.map((r) => r.testAuc);
  const loss = rounds.map((r) => r.testLoss);
  if (!window.Chart) return;
  if (!chart) {
    chart = new window.Chart($('chart'), {
      type: 'line',
      data: { labels, datasets: [
        { label: 'test AUC', data: auc, borderColor: '#2e5aac', backgroundColor: '#2e5aac', yAxisID: 'y', tension: 0.2 },
        { label: 'test loss', data: loss, borderColor: '#b54708', backgroundColor: '#b54708', yAxisID: 'y1', tension: 0.2 },
      ] },
      options: { animation: false, maintainAspectRatio: false, scales: { x: { title: { display: true, text: 'round' } }, y: { position: 'left', title: { display: true, text: 'AUC' } }, y1: { position: 'right', grid: { drawOnChartArea: false }, title: { display: true, text: 'loss' } } } },
    });
  } else {
    chart.data.labels = labels;
    chart.data.datasets[0].data = auc;
    chart.data.datasets[1].data = loss;
    chart.update();
  }
}

let lastRounds = -1;
async function refreshRounds(force) {
  if (!force && status && status.model.version === lastRounds) return;
  const r = await fetch('/api/rounds');
  if (!r.ok) return;
  const rounds = await r.json();
  lastRounds = status ? status.model.version : -1;
  renderRounds(rounds);
}

async function poll() {
  try {
    const r = await fetch('/api/status');
    renderStatus(await r.json());
    await refreshRounds(false);
    $('live').textContent = 'polling';
  } catch {
    $('live').textContent = 'node unreachable';
  }
}

function connect() {
  if (!window.EventSource) return void setInterval(poll, 2000);
  const es = new EventSource('/api/events');
  es.onmessage = (e) => {
    renderStatus(JSON.parse(e.data));
    $('live').textContent = 'live';
    void refreshRounds(false);
  };
  es.onerror = () => {
    $('live').textContent = 'reconnecting…';
  };
}

setInterval(tickDeadline, 1000);
setInterval(() => void refreshRounds(true), 10000);
void poll().then(() => refreshRounds(true));
connect();
