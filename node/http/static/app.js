// Status page: live updates over server-sent events (falls back to polling), all text escaped;
// the model card and download, and the weights upload (token in sessionStorage, sent only in the
// Authorization header of a same-origin request).
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

function contribution(r) {
  if (r.attempt < 0) return '<span class="muted">–</span>';
  if (!status || !r.participants.includes(status.peerId)) return '<span class="muted">not included</span>';
  return r.uploaded ? '<span class="pill ok">uploaded weights</span>' : 'trained here';
}

function renderRounds(rounds) {
  const last = rounds[rounds.length - 1];
  const published = status && status.model ? status.model.published : null; // the round GET /api/model serves
  $('auc').textContent = last && last.testAuc != null ? last.testAuc.toFixed(4) : '–';
  $('rounds').innerHTML = rounds.slice().reverse().map((r) => {
    const phases = Object.entries(r.phaseSeconds || {}).filter(([, v]) => v > 0.005).map(([k, v]) => `${esc(k)} ${v.toFixed(1)}`).join(', ');
    return `<tr><td>${esc(r.round)}</td><td>${r.voided ? 'voided' : r.attempt < 0 ? 'synced' : esc(r.attempt)}</td><td>${r.voided ? `<span class="muted" title="${esc(r.voidReason ?? '')}">voided by the admin: model unchanged</span>` : r.attempt < 0 ? '<span class="muted">model taken from peers</span>' : r.participants.map((p) => esc(names[p] ?? short(p))).join(', ') || '–'}</td><td>${r.voided ? '–' : esc(names[r.aggregator] ?? short(r.aggregator))}</td><td>${phases || '–'}</td><td class="nowrap">${(r.bytesIn / 1024).toFixed(0)} KiB / ${(r.bytesOut / 1024).toFixed(0)} KiB</td><td>${r.valAuc == null ? '–' : Number(r.valAuc).toFixed(4)}${r.round === published ? ' <span class="pill ok">published</span>' : ''}</td><td>${r.testAuc == null ? '–' : r.testAuc.toFixed(4)}</td><td>${contribution(r)}</td><td class="mono nowrap" title="${esc(r.modelHash)}">${esc(r.modelHash.slice(0, 12))}…</td></tr>`;
  }).join('') || '<tr><td colspan="10" class="muted">no completed round yet</td></tr>';
  updatePending(rounds);
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
  const version = status ? status.model.version : -1;
  if (version !== lastRounds || force) void refreshCard();
  lastRounds = version;
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

// ------------------------------------------------------------------ model card and download

const HOWTO = [
  "const m = JSON.parse(fs.readFileSync('model.json', 'utf8')), w = fs.readFileSync('weights.bin');",
  'const model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: m.modelTopology, weightSpecs: m.weightsManifest[0].weights, weightData: new Uint8Array(w).buffer }));',
  'const scores = await model.predict(tf.tensor4d(Float32Array.from(testImages, (v) => v / 255), [testImages.length / 784, 28, 28, 1])).data(); // ROC AUC of scores vs test labels = test AUC',
];

async function refreshCard() {
  try {
    const r = await fetch('/api/model/card');
    if (r.ok) renderCard(await r.json());
  } catch {
    // the status line already says when the node is unreachable
  }
}

function renderCard(c) {
  const planned = status ? ` of ${status.roundsPlanned}` : '';
  $('card-round').textContent = c.round === 0 ? 'initial model (no round completed yet)' : `${c.round}${planned}${c.uploaded ? ' (includes weights uploaded here)' : ''}${c.latestRound > c.round ? ` — published for its best validation AUC; latest round ${c.latestRound}` : ''}`;
  $('card-params').textContent = `${c.parameters.toLocaleString('en-US')} float32 values (${Math.round((c.parameters * 4) / 1024)} KiB)`;
  $('card-data').textContent = c.dataset ? `${c.dataset}, ${c.task}` : '–';
  $('card-test').textContent = c.testAuc == null ? (c.round === 0 ? 'not evaluated (initial model)' : '–') : `${c.testAuc.toFixed(4)} (round ${c.round}, ${c.dataset ?? ''} test split)`;
  $('card-val').textContent = c.valAuc == null ? 'not recorded for this round' : c.valAuc.toFixed(4);
  $('card-hash').textContent = c.hash ?? '–';
  const a = $('download');
  if (c.available) {
    a.setAttribute('href', '/api/model');
    a.setAttribute('download', c.fileName);
    a.removeAttribute('aria-disabled');
    $('download-name').textContent = c.fileName;
  } else {
    a.removeAttribute('href');
    a.setAttribute('aria-disabled', 'true');
    $('download-name').textContent = 'no global model yet';
  }
  $('howto').textContent = HOWTO.join('\n');
}

// ------------------------------------------------------------------ upload

const TOKEN_KEY = 'flnode.apiToken';
const PENDING_KEY = 'flnode.pendingUpload';
const TITLES = {
  UNAUTHORIZED: 'Token refused.',
  WRONG_SIZE: 'Wrong size.',
  BAD_SHAPES: 'Wrong shapes.',
  BAD_DTYPE: 'Wrong number type.',
  NOT_FINITE: 'Weights are not finite.',
  BAD_ZIP: 'Not a readable model zip.',
  BAD_MODEL_JSON: 'model.json is unreadable.',
  TOO_LARGE: 'File too large.',
  UNSUPPORTED_MEDIA_TYPE: 'Unsupported file type.',
  CROSS_ORIGIN: 'Refused: not sent from this node’s page.',
  BAD_HOST: 'Refused: wrong host name.',
};
let chosen = null;

function say(kind, title, text) {
  const box = $('upload-msg');
  box.className = `msg ${kind}`;
  box.innerHTML = `<strong>${esc(title)}</strong>${text ? ` ${esc(text)}` : ''}`;
}

function storage() {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
}

function choose(file) {
  chosen = file || null;
  $('file-help').textContent = chosen
    ? `Chosen: ${chosen.name} (${chosen.size.toLocaleString('en-US')} bytes). Press “Upload weights”.`
    : 'A TensorFlow.js model zip (model.json + weights.bin) or flat little-endian float32 weights (.f32). Or drop the file here.';
}

async function isZip(file) {
  const head = new Uint8Array(await file.slice(0, 4).arrayBuffer());
  return head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04;
}

function post(file, token, zip) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/weights');
    xhr.setRequestHeader('Authorization', `Bearer ${token}`);
    xhr.setRequestHeader('Content-Type', zip ? 'application/zip' : 'application/octet-stream');
    xhr.upload.onprogress = (e) => {
      if (!e.lengthComputable) return;
      const pct = Math.round((100 * e.loaded) / e.total);
      $('progress').value = pct;
      $('progress-text').textContent = `${pct}% of ${Math.ceil(e.total / 1024)} KiB sent`;
    };
    xhr.onload = () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        // not JSON: reported below by status
      }
      resolve({ status: xhr.status, body });
    };
    xhr.onerror = () => resolve({ status: 0, body: null });
    xhr.send(file);
  });
}

function pendingText(p) {
  if (status && p.round > status.roundsPlanned) return `No further round is planned (${status.roundsPlanned} of ${status.roundsPlanned}): the node keeps them for the next round if the consortium plans more.`;
  return `Round ${p.round} will include them as this site’s contribution (masked like the node’s own training). The round table marks it when it completes.`;
}

function updatePending(rounds) {
  const s = storage();
  const p = JSON.parse(s?.getItem(PENDING_KEY) ?? 'null');
  if (!p) return;
  const used = rounds.find((r) => r.round >= p.round && r.uploaded);
  if (used) {
    s.removeItem(PENDING_KEY);
    say('done', `Round ${used.round} included your uploaded weights.`, `Its global model has test AUC ${used.testAuc == null ? '–' : used.testAuc.toFixed(4)}; the round table marks the round.`);
  } else if (!$('upload-msg').textContent) say('info', `Upload of ${p.parameters.toLocaleString('en-US')} parameters accepted.`, pendingText(p));
}

async function upload(ev) {
  ev.preventDefault();
  const token = $('token').value.trim();
  if (!token) {
    say('error', 'No API token.', 'Paste the 64 hex characters of the api-token file in this site’s directory, then upload again.');
    return $('token').focus();
  }
  if (!chosen) {
    say('error', 'No file chosen.', 'Choose a model zip or a .f32 weights file, or drop it on the box.');
    return $('file').focus();
  }
  storage()?.setItem(TOKEN_KEY, token);
  $('upload').disabled = true;
  $('progress').hidden = false;
  $('progress').value = 0;
  $('progress-text').textContent = '';
  say('info', `Uploading ${chosen.name}…`, '');
  const zip = await isZip(chosen);
  const r = await post(chosen, token, zip);
  $('upload').disabled = false;
  if (r.status === 0) $('progress').hidden = true; // otherwise it stays, showing what was sent
  if (r.status === 202 && r.body && r.body.accepted) {
    const p = { round: r.body.round, parameters: r.body.parameters };
    storage()?.setItem(PENDING_KEY, JSON.stringify(p));
    say('done', `Accepted: ${p.parameters.toLocaleString('en-US')} parameters from ${chosen.name}.`, pendingText(p));
    return;
  }
  if (r.status === 0) return say('error', 'Node unreachable.', 'The upload did not reach the node. Check that it is still running, then upload again.');
  const e = (r.body && r.body.error) || { code: `HTTP ${r.status}`, message: 'unexpected answer from the node' };
  if (e.code === 'UNAUTHORIZED') storage()?.removeItem(TOKEN_KEY);
  say('error', TITLES[e.code] ?? `Refused (${e.code}).`, `${e.message}.${e.hint ? ` ${e.hint}` : ''}`);
  if (e.code === 'UNAUTHORIZED') $('token').focus();
}

function setupUpload() {
  const saved = storage()?.getItem(TOKEN_KEY);
  if (saved) $('token').value = saved;
  $('token').addEventListener('change', () => storage()?.setItem(TOKEN_KEY, $('token').value.trim()));
  $('forget').addEventListener('click', () => {
    storage()?.removeItem(TOKEN_KEY);
    $('token').value = '';
    $('token').focus();
  });
  $('file').addEventListener('change', () => choose($('file').files[0]));
  const drop = $('drop');
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const files = e.dataTransfer && e.dataTransfer.files;
    if (!files || !files[0]) return;
    try {
      $('file').files = files; // the picker then names the dropped file, and choosing again fires 'change'
    } catch {
      // older browsers: the dropped file is still the one uploaded
    }
    choose(files[0]);
  });
  // a file dropped beside the box must not make the browser navigate away from the page
  window.addEventListener('dragover', (e) => e.preventDefault());
  window.addEventListener('drop', (e) => e.preventDefault());
  $('upload-form').addEventListener('submit', (e) => void upload(e));
}

setupUpload();
setInterval(tickDeadline, 1000);
setInterval(() => void refreshRounds(true), 10000);
void poll().then(() => refreshRounds(true));
connect();
