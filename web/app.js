// The Forge dashboard: sign in with an API key, list services, deploy, and look
// after one service (its releases, rollback to a chosen one, live logs), and see the
// worker agents. Views are chosen by the URL hash (#/, #/services/<name>, #/agents);
// every piece of data is inserted as text (see dom.js).

import { ApiError, createApi, describeError } from './api.js';
import { agentRow } from './agents-view.js';
import { setupDeployDialog } from './deploy-dialog.js';
import { releaseRow } from './releases-view.js';
import { $, fill, h, statusClass, statusText } from './dom.js';
import { jobRows } from './jobs.js';

const KEY_STORAGE = 'forge.apiKey';
const REFRESH_MS = 3000;
const MAX_LOG_LINES = 2000;

/** What the current view started and must stop when it is left. */
let view = { timer: 0, logs: null };
let api = null;

function leaveView() {
  clearInterval(view.timer);
  view.logs?.abort();
  view = { timer: 0, logs: null };
}

function show(sectionId) {
  for (const id of ['login-view', 'list-view', 'service-view', 'agents-view']) $(`#${id}`).hidden = id !== sectionId;
  $('#logout').hidden = sectionId === 'login-view';
  $('#nav').hidden = sectionId === 'login-view';
}

function flash(text) {
  $('#flash').textContent = text;
}

function keyRejected(error) {
  if (error instanceof ApiError && error.status === 401) {
    signOut('The API key was rejected (revoked or mistyped): sign in again.');
    return true;
  }
  return false;
}

function signOut(message = '') {
  sessionStorage.removeItem(KEY_STORAGE);
  api = null;
  leaveView();
  $('#login-error').textContent = message;
  show('login-view');
  $('#login-key').focus();
}

const when = (iso) => (iso ? new Date(iso).toLocaleString() : '—');
const link = (url) => (url ? h('a', { href: url, target: '_blank', rel: 'noopener noreferrer' }, url) : '—');
const emptyRow = (columns, text) => h('tr', {}, h('td', { colspan: columns, class: 'empty' }, text));

// ---- services list ----

function serviceRow(service) {
  const ready = service.instances.filter((i) => i.state === 'running').length;
  return h('tr', { dataset: { name: service.name } },
    h('td', {}, h('a', { href: `#/services/${encodeURIComponent(service.name)}` }, service.name)),
    h('td', {}, h('span', { class: statusClass(service.status) }, statusText(service))),
    h('td', {}, link(service.url)),
    h('td', {}, service.provider),
    h('td', { title: 'running instances / desired replicas' }, `${ready}/${service.replicas}`),
    h('td', {}, service.observedGeneration === service.generation ? String(service.generation) : `${service.observedGeneration} → ${service.generation}`),
    h('td', {}, when(service.updatedAt)));
}

async function refreshList() {
  try {
    const services = await api.listServices();
    fill($('#services tbody'), services.map(serviceRow));
    $('#services-empty').hidden = services.length > 0;
    $('#list-error').textContent = '';
  } catch (error) {
    if (!keyRejected(error)) $('#list-error').textContent = describeError(error);
  }
}

function showList() {
  show('list-view');
  void refreshList();
  view.timer = setInterval(refreshList, REFRESH_MS);
}

// ---- one service ----

function facts(service) {
  const rows = [
    ['ID', service.id], ['URL', link(service.url)], ['Provider', service.provider], ['Image', service.image ?? '— (built from source)'],
    ['Port', String(service.port)], ['CPU', service.cpu], ['Memory', `${service.memory} MB`], ['Region', service.region],
    ['Replicas', String(service.replicas)], ['Desired state', service.desiredState],
    ['Generation', `${service.generation} (observed ${service.observedGeneration})`], ['Source', service.source],
    ['Created', when(service.createdAt)], ['Updated', when(service.updatedAt)],
  ];
  return rows.flatMap(([term, value]) => [h('dt', {}, term), h('dd', {}, value)]);
}

function renderService(service) {
  $('#svc-name').textContent = service.name;
  fill($('#svc-status'), h('span', { class: statusClass(service.status) }, service.status));
  fill($('#svc-facts'), facts(service));
  fill($('#svc-env'), service.envKeys.length > 0 ? service.envKeys.map((k) => h('li', {}, k)) : h('li', { class: 'hint' }, 'none'));
  fill($('#svc-conditions tbody'), service.conditions.length > 0
    ? service.conditions.map((c) => h('tr', {},
      h('td', {}, c.type), h('td', { class: `status-${c.status}` }, c.status), h('td', {}, c.reason), h('td', {}, c.message), h('td', {}, when(c.lastTransitionTime))))
    : emptyRow(5, 'no conditions reported yet'));
  fill($('#svc-instances tbody'), service.instances.length > 0
    ? service.instances.map((i) => h('tr', {},
      h('td', {}, i.id), h('td', {}, i.state), h('td', {}, i.health), h('td', {}, i.region), h('td', {}, link(i.url))))
    : emptyRow(5, 'no instances'));
  for (const button of document.querySelectorAll('#service-view [data-action]')) {
    const action = button.dataset.action;
    button.disabled = (action === 'start' && service.desiredState === 'running') || (action === 'stop' && service.desiredState === 'stopped');
  }
}

async function refreshService(name) {
  try {
    const [service, events, releases, jobs] = await Promise.all([api.getService(name), api.events(name), api.releases(name), api.jobs(name)]);
    renderService(service);
    fill($('#svc-releases tbody'), releases.releases.length > 0
      ? releases.releases.map((r) => releaseRow(r, (generation) => void rollBackTo(name, generation)))
      : emptyRow(7, 'no releases yet'));
    fill($('#svc-jobs tbody'), jobs.jobs.length > 0
      ? jobRows(jobs.jobs).map((cells) => h('tr', {}, ...cells.map((cell) => h('td', {}, cell))))
      : emptyRow(5, 'no jobs: add a jobs: section to the spec'));
    fill($('#svc-events tbody'), events.length > 0
      ? events.slice().reverse().map((e) => h('tr', {},
        h('td', {}, when(e.time)), h('td', { class: e.type === 'Warning' ? 'status-False' : '' }, e.type), h('td', {}, e.reason), h('td', {}, e.message)))
      : emptyRow(4, 'no events yet'));
    $('#svc-error').textContent = '';
  } catch (error) {
    if (keyRejected(error)) return;
    if (error instanceof ApiError && error.status === 404) {
      flash(`Service ${name} no longer exists.`);
      location.hash = '#/';
      return;
    }
    $('#svc-error').textContent = describeError(error);
  }
}

async function rollBackTo(name, generation) {
  $('#svc-error').textContent = '';
  try {
    const result = await api.rollback(name, generation);
    flash(`Rolling ${name} back to release ${result.toGeneration} as generation ${result.generation}.`);
    await refreshService(name);
  } catch (error) {
    if (!keyRejected(error)) $('#svc-error').textContent = describeError(error);
  }
}

async function followLogs(name, signal, build) {
  const out = $('#svc-logs');
  const state = $('#svc-logs-state');
  out.textContent = '';
  state.textContent = '(following)';
  const lines = [];
  try {
    await api.followLogs(name, {
      signal,
      build,
      onLine(line) {
        lines.push(line);
        if (lines.length > MAX_LOG_LINES) lines.splice(0, lines.length - MAX_LOG_LINES);
        const atBottom = out.scrollTop + out.clientHeight >= out.scrollHeight - 4;
        out.textContent = `${lines.join('\n')}\n`;
        if (atBottom) out.scrollTop = out.scrollHeight;
      },
    });
    state.textContent = '(stream ended)';
  } catch (error) {
    if (signal.aborted) return;
    state.textContent = `(stopped: ${describeError(error)})`;
  }
}

function showService(name) {
  show('service-view');
  $('#svc-name').textContent = name;
  $('#svc-error').textContent = '';
  void refreshService(name);
  view.timer = setInterval(() => refreshService(name), REFRESH_MS);
  $('#svc-logs-source').value = 'app';
  startLogs(name);
}

/** (Re)starts following the output the logs panel's selector names: the app's, or its latest build's. */
function startLogs(name) {
  view.logs?.abort();
  view.logs = new AbortController();
  void followLogs(name, view.logs.signal, $('#svc-logs-source').value === 'build');
}

// ---- agents ----

async function refreshAgents() {
  try {
    const { agents } = await api.agents();
    fill($('#agents tbody'), agents.length > 0 ? agents.map(agentRow) : emptyRow(8, 'no agents have registered yet'));
    $('#agents-error').textContent = '';
  } catch (error) {
    if (!keyRejected(error)) $('#agents-error').textContent = describeError(error);
  }
}

function showAgents() {
  show('agents-view');
  void refreshAgents();
  view.timer = setInterval(refreshAgents, REFRESH_MS);
}

function currentServiceName() {
  const match = /^#\/services\/(.+)$/.exec(location.hash);
  return match ? decodeURIComponent(match[1]) : null;
}

function confirmDelete(name) {
  const dialog = $('#confirm-dialog');
  $('#confirm-text').textContent = `Delete ${name}? Its instances are destroyed and its routes removed.`;
  return new Promise((resolve) => {
    const done = (answer) => {
      $('#confirm-form').onsubmit = null;
      $('#confirm-cancel').onclick = null;
      dialog.onclose = null;
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    $('#confirm-form').onsubmit = (event) => { event.preventDefault(); done(true); };
    $('#confirm-cancel').onclick = () => done(false);
    dialog.onclose = () => done(false);
    dialog.showModal();
  });
}

async function serviceAction(action) {
  const name = currentServiceName();
  if (name === null) return;
  $('#svc-error').textContent = '';
  try {
    if (action === 'delete') {
      if (!(await confirmDelete(name))) return;
      await api.remove(name);
      flash(`Deleting ${name}: its instances are being destroyed.`);
      location.hash = '#/';
      return;
    }
    if (action === 'rollback') {
      const result = await api.rollback(name);
      flash(result?.toGeneration !== undefined ? `Rolling ${name} back to release ${result.toGeneration}.` : `Rollback of ${name} requested.`);
    } else {
      await api[action](name);
      flash(`${action === 'start' ? 'Starting' : 'Stopping'} ${name}.`);
    }
    await refreshService(name);
  } catch (error) {
    if (!keyRejected(error)) $('#svc-error').textContent = describeError(error);
  }
}

// ---- routing and sign-in ----

function route() {
  leaveView();
  const key = sessionStorage.getItem(KEY_STORAGE);
  if (!key) {
    show('login-view');
    return;
  }
  api ??= createApi(key);
  const name = currentServiceName();
  if (name !== null) showService(name);
  else if (location.hash === '#/agents') showAgents();
  else showList();
}

async function signIn(event) {
  event.preventDefault();
  const key = $('#login-key').value.trim();
  const candidate = createApi(key);
  try {
    await candidate.listServices(); // proves the key before it is kept
  } catch (error) {
    $('#login-error').textContent = error instanceof ApiError && error.status === 401
      ? 'That key was not accepted. Check it, or create one with `forge keys create`.'
      : describeError(error);
    return;
  }
  sessionStorage.setItem(KEY_STORAGE, key);
  api = candidate;
  $('#login-key').value = '';
  $('#login-error').textContent = '';
  if (location.hash !== '#/') location.hash = '#/';
  else route();
}

$('#svc-logs-source').addEventListener('change', () => {
  const name = currentServiceName();
  if (name !== null) startLogs(name);
});
$('#login-form').addEventListener('submit', signIn);
$('#logout').addEventListener('click', () => { flash(''); signOut(); });
setupDeployDialog({
  api: () => api,
  keyRejected,
  deployed(service) {
    flash(service.generation !== undefined ? `Deployed ${service.name} (generation ${service.generation}).`
      : service.op === 'unchanged' ? `${service.name} is unchanged: the same spec and bundle are already deployed.` : `Deployed ${service.name} (${service.op ?? 'applied'}).`);
    if (location.hash === '#/' || location.hash === '') void refreshList();
    else location.hash = '#/';
  },
});
for (const button of document.querySelectorAll('#service-view [data-action]')) {
  button.addEventListener('click', () => serviceAction(button.dataset.action));
}
window.addEventListener('hashchange', route);
route();
