/* The page of `realtime-adain serve`: the camera goes to the server over WebRTC and the stylized stream comes
   back on the same connection; the controls travel as JSON on the `control` data channel (docs/serve.md).
   For tests and curious users: document.body.dataset.state is loading, connecting, connected, streaming or
   failed, and window.adain holds the frame counts, the server's last stats and state, and the ping. */
'use strict';

const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(location.search).get('token');
const adain = window.adain = {config: null, frames: {local: 0, remote: 0}, stats: null, state: null, rtt: null};
const MIX_STEPS = [0, 0.25, 0.5, 0.75];  // what `m` cycles through, as in the live window
const VIEWS = ['side', 'stylized', 'original'];
const EDIT_GRACE_MS = 1000;  // after a local change, older server echoes must not move the controls back

let current = {};  // the style state as this page knows it: {style, alpha, mix, preserve_color, stabilize}
let lastEdit = -Infinity;
let pc = null, channel = null, sender = null, cameraTrack = null, paused = false;
let statusState = 'loading', statusText = 'loading…', noticeTimer = null;
const PAUSED = 'paused: the camera is not sent (space resumes)';
// The secret this page's offer gives the server, with which it says it leaves (`leave`).
const leaveKey = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
let offered = false, left = false;

/* ---- status line ---- */

function lastingText() {  // what the status line says between notices: the state's, or that it is paused
  return paused && statusState !== 'failed' ? PAUSED : statusText;
}

function setStatus(state, text) {
  statusState = state;
  statusText = text;
  document.body.dataset.state = state;
  $('status').textContent = lastingText();
}

function notice(text) {  // a passing message; the lasting text comes back after a few seconds
  $('status').textContent = text;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { $('status').textContent = lastingText(); }, 4000);
}

function describe(error) {
  const camera = {
    NotAllowedError: 'camera permission denied: allow the camera for this page and reload',
    NotFoundError: 'no camera found',
    OverconstrainedError: 'no camera found that gives 640x480',
    NotReadableError: 'the camera is in use by another program',
  };
  if (camera[error.name]) return camera[error.name];
  if (error instanceof TypeError && /fetch/i.test(error.message)) return 'the server cannot be reached';
  return error.message || String(error);
}

/* ---- HTTP ---- */

class HttpError extends Error {}

function withToken(url) {  // for <img src>: it cannot send a header
  return token ? `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}` : url;
}

async function api(path, options = {}) {
  const headers = new Headers(options.headers || {});
  if (token) headers.set('Authorization', `Bearer ${token}`);
  const response = await fetch(path, {...options, headers});
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { message = (await response.json()).error || message; } catch (e) { /* not JSON: keep the status */ }
    throw new HttpError(message);
  }
  return response.json();
}

/* ---- the style state: local change -> data channel; server state -> controls ---- */

function send(message) {
  if (channel && channel.readyState === 'open') channel.send(JSON.stringify(message));
}

function change(update) {
  Object.assign(current, update);
  lastEdit = performance.now();
  render();
  for (const [key, value] of Object.entries(update)) {
    send({[key]: key === 'mix' && !value ? {style: current.style, weight: 0} : value});  // weight 0 = off
  }
}

function render() {
  for (const button of $('strip').children) button.setAttribute('aria-pressed', button.dataset.id === current.style);
  $('alpha').value = current.alpha;
  $('alpha-value').textContent = Number(current.alpha).toFixed(2);
  const mix = current.mix && current.mix.weight > 0 ? current.mix : null;
  $('mix-style').value = mix ? mix.style : '';
  if (mix) $('mix-weight').value = mix.weight;
  $('mix-value').textContent = Number($('mix-weight').value).toFixed(2);
  $('preserve-color').checked = Boolean(current.preserve_color);
  if (current.stabilize) $('stabilize').value = current.stabilize;
}

const styles = () => adain.config.styles;
const styleIndex = () => Math.max(0, styles().findIndex((s) => s.id === current.style));

function pickStyle(index) {
  if (index < styles().length) change({style: styles()[index].id});
}

function stepStyle(step) {
  pickStyle((styleIndex() + step + styles().length) % styles().length);
}

function stepAlpha(step) {
  change({alpha: Math.round(Math.min(1, Math.max(0, current.alpha + step)) * 100) / 100});
}

function cycleMix() {  // mix in the next style: 25 %, 50 %, 75 %, off
  const weight = current.mix ? current.mix.weight : 0;
  const next = MIX_STEPS[(Math.max(0, MIX_STEPS.indexOf(weight)) + 1) % MIX_STEPS.length];
  const other = styles()[(styleIndex() + 1) % styles().length].id;
  change({mix: next ? {style: other, weight: next} : null});
}

function cycleStabilize() {
  const modes = adain.config.stabilize_modes || [];
  if (modes.length) change({stabilize: modes[(modes.indexOf(current.stabilize) + 1) % modes.length]});
}

/* ---- page-local actions ---- */

function setView(view) {
  $('videos').className = `view-${view}`;
  $('view').value = view;
}

async function togglePause() {
  if (!sender) return;
  paused = !paused;
  await sender.replaceTrack(paused ? null : cameraTrack);
  $('pause').setAttribute('aria-pressed', String(paused));
  if (paused) {  // said until resumed (a notice's end brought "streaming" back while nothing was sent)
    clearTimeout(noticeTimer);
    $('status').textContent = lastingText();
  } else {
    notice('sending the camera again');
  }
}

function snapshot() {
  const video = $('remote');
  if (!video.videoWidth) { notice('no stylized frame yet'); return; }
  const canvas = document.createElement('canvas');
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  canvas.getContext('2d').drawImage(video, 0, 0);
  canvas.toBlob((blob) => {
    const link = document.createElement('a');
    link.href = URL.createObjectURL(blob);
    link.download = `realtime-adain-${new Date().toISOString().replace(/[:.]/g, '-')}.png`;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  }, 'image/png');
}

function toggleFullscreen() {
  if (document.fullscreenElement) document.exitFullscreen();
  else $('stylized-box').requestFullscreen().catch((error) => notice(`fullscreen refused: ${error.message}`));
}

/* ---- keys: the live window's table from /api/config, with what each does on this page ---- */

const PAGE_ACTIONS = {  // action -> [what it does here ('' = the same as in the window), function]
  select: ['', pickStyle],
  next: ['', () => stepStyle(1)],
  previous: ['', () => stepStyle(-1)],
  alpha_up: ['', () => stepAlpha(0.1)],
  alpha_down: ['', () => stepAlpha(-0.1)],
  mix: ['', cycleMix],
  color: ['', () => change({preserve_color: !current.preserve_color})],
  stabilize: ['', cycleStabilize],
  view: ['', () => setView(VIEWS[(VIEWS.indexOf($('view').value) + 1) % VIEWS.length])],
  pause: ['pause/resume sending the camera', togglePause],
  snapshot: ['download the stylized frame as PNG', snapshot],
  fullscreen: ['the stylized video fullscreen on/off', toggleFullscreen],
  hud: ['statistics on/off', () => { $('stats').hidden = !$('stats').hidden; }],
  help: ['', () => { $('help').open = !$('help').open; }],
};
const KEY_NAMES = {Right: 'ArrowRight', Left: 'ArrowLeft', Up: 'ArrowUp', Down: 'ArrowDown', space: ' ', Esc: 'Escape'};
const bindings = new Map([['=', {action: 'alpha_up'}], ['_', {action: 'alpha_down'}]]);  // the window's unlisted aliases

function parseKeys(text) {  // "1-9" | "n, Right" -> [[KeyboardEvent.key, argument], ...]
  return text.split(',').map((part) => part.trim()).flatMap((part) => {
    const range = /^(\d)-(\d)$/.exec(part);
    if (!range) return [[KEY_NAMES[part] || part, undefined]];
    const keys = [];
    for (let digit = Number(range[1]); digit <= Number(range[2]); digit++) keys.push([String(digit), digit - 1]);
    return keys;
  });
}

function buildKeys(table) {
  for (const row of table) {
    const page = PAGE_ACTIONS[row.action];
    if (page) for (const [key, arg] of parseKeys(row.keys)) bindings.set(key, {action: row.action, arg});
    const tr = $('keys').insertRow();
    tr.className = page ? '' : 'unavailable';
    for (const text of [row.keys, row.description, page ? page[0] || 'the same' : 'not available in the browser']) {
      tr.insertCell().textContent = text;
    }
  }
}

function keyBelongsToControl(event) {  // typing in a field, arrows on a slider, space on a button stay theirs
  const target = event.target;
  if (target.tagName === 'SELECT' || target.tagName === 'TEXTAREA') return true;
  if (target.tagName === 'INPUT' && !['range', 'checkbox', 'file'].includes(target.type)) return true;
  if (target.type === 'range' && event.key.startsWith('Arrow')) return true;
  return [' ', 'Enter'].includes(event.key) && /^(BUTTON|SUMMARY|INPUT)$/.test(target.tagName);
}

document.addEventListener('keydown', (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || keyBelongsToControl(event)) return;
  const binding = bindings.get(event.key);
  if (!binding || !adain.config) return;
  event.preventDefault();
  PAGE_ACTIONS[binding.action][1](binding.arg);
});

/* ---- controls built from /api/config ---- */

function addStyle(style) {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'thumb';
  button.dataset.id = style.id;
  button.title = style.name;
  const image = new Image();
  image.src = withToken(style.thumbnail);
  image.alt = '';
  const name = document.createElement('span');
  name.textContent = style.name;
  button.append(image, name);
  button.addEventListener('click', () => change({style: style.id}));
  $('strip').append(button);
  $('mix-style').append(new Option(style.name, style.id));
}

function buildControls(config) {
  config.styles.forEach(addStyle);
  const modes = config.stabilize_modes || [];
  for (const mode of modes) $('stabilize').append(new Option(mode, mode));
  $('stabilize-row').hidden = modes.length === 0;
  document.querySelector('.upload').hidden = !config.max_upload_bytes;
  buildKeys(config.keys || []);
  current = {style: config.style, alpha: config.alpha ?? 1, mix: null,
             preserve_color: Boolean(config.preserve_color), stabilize: config.stabilize};
  render();

  $('alpha').addEventListener('input', () => change({alpha: Number($('alpha').value)}));
  const mixChanged = () => change({mix: $('mix-style').value
    ? {style: $('mix-style').value, weight: Number($('mix-weight').value)} : null});
  $('mix-style').addEventListener('change', mixChanged);
  $('mix-weight').addEventListener('input', mixChanged);
  $('preserve-color').addEventListener('change', () => change({preserve_color: $('preserve-color').checked}));
  $('stabilize').addEventListener('change', () => change({stabilize: $('stabilize').value}));
  $('view').addEventListener('change', () => setView($('view').value));
  $('pause').addEventListener('click', togglePause);
  $('snapshot').addEventListener('click', snapshot);
  $('upload').addEventListener('change', () => $('upload').files[0] && upload($('upload').files[0]));
}

async function checkReadable(file) {  // a file the browser cannot read failed the fetch itself, which
  try {                                 // was said as "the server cannot be reached"
    await (file.size ? file.slice(0, 1) : file).arrayBuffer();  // (an empty slice is not read from disk)
  } catch (error) {
    throw new Error(`${file.name} cannot be read (moved, changed or not readable since it was chosen?)`);
  }
}

async function upload(file) {
  try {
    await checkReadable(file);
    const form = new FormData();
    form.append('image', file);
    const style = await api('/api/styles', {method: 'POST', body: form});
    if (!styles().some((s) => s.id === style.id)) {  // (the same picture again is the same style)
      styles().push(style);
      addStyle(style);
    }
    change({style: style.id});
    if (style.note) notice(`style added: ${style.note}`);  // (what the server's reader changed, e.g. transparency)
  } catch (error) {
    notice(`style not added: ${describe(error)}`);
  }
  $('upload').value = '';
}

/* ---- statistics: the server's (data channel) and what arrives here ---- */

function showStats(stats) {
  adain.stats = stats;
  const ms = (value) => (value == null ? '–' : `${Number(value).toFixed(0)} ms`);
  $('stat-fps').textContent = stats.fps == null ? '–' : Number(stats.fps).toFixed(1);
  $('stat-latency').textContent = stats.latency_ms ? `${ms(stats.latency_ms.p50)} / ${ms(stats.latency_ms.p95)}` : '–';
  $('stat-batch').textContent = stats.batch ?? '–';
  $('stat-clients').textContent = stats.clients ?? '–';
  $('stat-device').textContent = [stats.device, stats.engine].filter(Boolean).join(' / ') || '–';
}

function onMessage(event) {
  let message;
  try { message = JSON.parse(event.data); } catch (e) { return; }
  if ('pong' in message) {
    adain.rtt = performance.now() - message.pong;
    $('stat-ping').textContent = `${adain.rtt.toFixed(1)} ms`;
  }
  if (message.error) notice(`server: ${message.error}`);
  if (message.closed) fail(`the server closed the connection: ${message.closed}; reload to reconnect`);
  if (message.stats) showStats(message.stats);
  if (message.state) {
    adain.state = message.state;
    if (performance.now() - lastEdit > EDIT_GRACE_MS) { Object.assign(current, message.state); render(); }
  }
}

function countFrames(video, key) {  // frames shown; the first stylized one means "streaming"
  const tick = () => {
    adain.frames[key] += 1;
    if (key === 'remote' && statusState === 'connected') setStatus('streaming', 'streaming');
    video.requestVideoFrameCallback(tick);
  };
  if ('requestVideoFrameCallback' in video) video.requestVideoFrameCallback(tick);
  else video.addEventListener('playing', () => key === 'remote' && setStatus('streaming', 'streaming'));
}

let receivedBefore = 0;
setInterval(() => {  // what actually arrives here, beside the server's own fps
  $('stat-received').textContent = `${adain.frames.remote - receivedBefore} fps`;
  receivedBefore = adain.frames.remote;
  send({ping: performance.now()});
}, 1000);

/* ---- WebRTC ---- */

function iceGathered(connection, timeoutMs = 5000) {  // the whole offer in one POST: no trickle ICE
  if (connection.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { if (connection.iceGatheringState === 'complete') resolve(); };
    connection.addEventListener('icegatheringstatechange', done);
    setTimeout(resolve, timeoutMs);  // an unreachable STUN server must not block: send what we have
  });
}

function leave() {  // free the server's slot at once: a peer connection closed before DTLS began tells it nothing
  if (offered && !left) {
    left = true;
    navigator.sendBeacon(withToken('/api/leave'), JSON.stringify({leave_key: leaveKey}));
  }
  if (pc) pc.close();
}

function fail(text) {  // say why, and let go of the camera and the server's slot
  setStatus('failed', text);
  leave();
  if (cameraTrack) cameraTrack.stop();
}

function onConnectionState() {
  const state = pc.connectionState;
  if (state === 'connected' && statusState === 'connecting') setStatus('connected', 'connected: waiting for the first stylized frame…');
  else if (state === 'disconnected') notice('connection interrupted: waiting for it to come back…');
  else if (state === 'failed') fail('failed: no WebRTC connection to the server (stopped, or UDP blocked on the way); reload to retry');
}

async function connect() {
  setStatus('connecting', 'asking for the camera…');
  if (!navigator.mediaDevices) {
    throw new Error('the camera needs a secure page: open it as http://127.0.0.1 or http://localhost '
                    + '(through an SSH tunnel for a remote server) or over https');
  }
  const camera = await navigator.mediaDevices.getUserMedia({video: {width: 640, height: 480}, audio: false});
  [cameraTrack] = camera.getVideoTracks();
  $('local').srcObject = camera;

  setStatus('connecting', 'connecting to the server…');
  pc = new RTCPeerConnection({iceServers: adain.config.ice_servers || []});
  pc.addEventListener('connectionstatechange', onConnectionState);
  pc.addEventListener('track', (event) => { $('remote').srcObject = new MediaStream([event.track]); });
  sender = pc.addTrack(cameraTrack, camera);
  channel = pc.createDataChannel('control');
  channel.addEventListener('message', onMessage);
  channel.addEventListener('close', () => statusState !== 'failed'
    && fail('the server closed the connection; reload to reconnect'));

  await pc.setLocalDescription(await pc.createOffer());
  await iceGathered(pc);
  offered = true;  // (from here a reload or a close says so: the answer may come after this page is gone)
  const answer = await api('/api/offer', {
    method: 'POST',
    headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({sdp: pc.localDescription.sdp, type: pc.localDescription.type, leave_key: leaveKey}),
  });
  adain.client = answer.client;
  await pc.setRemoteDescription({sdp: answer.sdp, type: answer.type});
}

async function main() {
  countFrames($('local'), 'local');
  countFrames($('remote'), 'remote');
  try {
    adain.config = await api('/api/config');
    buildControls(adain.config);
    await connect();
  } catch (error) {
    fail(`failed: ${describe(error)}`);
  }
}

window.addEventListener('pagehide', leave);  // free the server's slot at once
main();
