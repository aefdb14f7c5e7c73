// The deploy dialog. An image: the same fields as `forge deploy`, posted to
// POST /api/compute/services. Source: a folder or archive becomes a bundle
// (bundle.js), uploaded once by digest (HEAD, then PUT), then one spec with build
// and run commands goes to POST /api/v1/apply naming that digest. The provider
// list comes from GET /api/compute/config and offers only providers whose
// capabilities run what the mode deploys; the runtime list offers only runtimes
// an online agent advertised (GET /api/v1/agents).

import { describeError } from './api.js';
import { bundleFromArchive, bundleFromFolder } from './bundle.js';
import { deployBody, providerChoices } from './deploy-form.js';
import { $, fill, h } from './dom.js';
import { applyBody, runtimeChoices, sourceSpec } from './source-form.js';

const mb = (bytes) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

/**
 * @param {{ api(): ReturnType<import('./api.js').createApi>, keyRejected(error: unknown): boolean,
 *   deployed(service: { name: string, generation?: number, op?: string }): void }} hooks
 */
export function setupDeployDialog(hooks) {
  const dialog = $('#deploy-dialog');
  const form = $('#deploy-form');
  const errors = $('#deploy-errors');
  const progress = $('#deploy-progress');
  const providerSelect = $('#deploy-form select[name="provider"]');
  let providers = null;
  let hint = '';

  const mode = () => (form.querySelector('input[name="mode"]:checked')?.value === 'source' ? 'source' : 'image');
  const showError = (error) => {
    if (!hooks.keyRejected(error)) fill(errors, h('li', {}, describeError(error)));
  };

  function showProviders() {
    if (providers === null) return;
    const need = mode() === 'source' ? 'source' : 'images';
    const offer = providerChoices(providers, need);
    fill(providerSelect, offer.choices.map((c) => h('option', {
      value: c.name, disabled: !c.enabled, selected: c.name === offer.preferred, title: c.title,
    }, c.label)));
    $('#deploy-submit').disabled = offer.preferred === undefined;
    hint = offer.hint ?? '';
  }

  function showMode() {
    const current = mode();
    for (const element of form.querySelectorAll('[data-mode]')) element.hidden = element.dataset.mode !== current;
    showProviders();
    fill(errors, hint ? h('li', {}, hint) : null);
  }

  async function loadChoices() {
    const api = hooks.api();
    const [config, listed] = await Promise.all([api.config(), api.agents().catch((error) => ({ error }))]);
    providers = config.providers;
    const runtimeSelect = $('#deploy-form select[name="runtime"]');
    if (listed.error) {
      fill(runtimeSelect, h('option', { value: '' }, 'any (agents could not be listed)'));
    } else {
      const { online, choices } = runtimeChoices(listed.agents);
      fill(runtimeSelect, choices.map((c) => h('option', { value: c.value }, c.label)));
      runtimeSelect.title = online === 0 ? 'No agent is online: a source service waits until one is.' : '';
    }
    showMode();
  }

  async function open() {
    fill(errors);
    progress.textContent = '';
    dialog.showModal();
    $('#deploy-form [name="name"]').focus();
    await loadChoices().catch(showError);
  }

  async function deployImage(fields) {
    const { body, errors: problems } = deployBody(fields);
    if (body === null) return problems;
    const service = await hooks.api().deploy(body);
    hooks.deployed(service);
    return [];
  }

  async function deploySource(fields) {
    const { spec, errors: problems } = sourceSpec(fields);
    const folder = form.elements.namedItem('folder').files;
    const archive = form.elements.namedItem('archive').files;
    if (folder.length === 0 && archive.length === 0) problems.push({ field: 'source', message: 'pick a folder, or an archive (.tar, .tar.gz, .tgz)' });
    if (spec === null || problems.length > 0) return problems;
    const api = hooks.api();
    progress.textContent = 'Packing…';
    let bundle;
    try {
      bundle = archive.length > 0 ? await bundleFromArchive(archive[0]) : await bundleFromFolder(folder);
    } catch (error) {
      return [{ field: 'source', message: error.message }];
    }
    const short = `${bundle.digest.slice(0, 19)}…`;
    const { stored, limitBytes } = await api.bundleStatus(bundle.digest);
    if (!stored) {
      if (Number.isFinite(limitBytes) && bundle.gzip.size > limitBytes) {
        return [{ field: 'source', message: `${bundle.label} is ${mb(bundle.gzip.size)} compressed, over this control plane's ${mb(limitBytes)} limit` }];
      }
      progress.textContent = `Uploading ${bundle.label} (${mb(bundle.gzip.size)}, bundle ${short})…`;
      await api.putBundle(bundle.digest, bundle.gzip);
    }
    progress.textContent = `Bundle ${short} ${stored ? 'was already on the control plane' : 'uploaded'}; applying…`;
    const plan = await api.apply(applyBody(spec, bundle.digest));
    progress.textContent = '';
    const entry = plan.entries.find((e) => e.name === spec.name);
    hooks.deployed({ name: spec.name, op: entry?.op });
    return [];
  }

  async function submit(event) {
    event.preventDefault();
    fill(errors);
    const fields = Object.fromEntries([...new FormData(form).entries()].filter(([, v]) => typeof v === 'string'));
    const button = $('#deploy-submit');
    button.disabled = true;
    try {
      const problems = mode() === 'source' ? await deploySource(fields) : await deployImage(fields);
      if (problems.length > 0) {
        progress.textContent = '';
        fill(errors, problems.map((e) => h('li', {}, `${e.field}: ${e.message}`)));
        return;
      }
      dialog.close();
      form.reset();
      showMode();
    } catch (error) {
      progress.textContent = '';
      showError(error);
    } finally {
      button.disabled = providerSelect.value === '';
    }
  }

  $('#open-deploy').addEventListener('click', open);
  form.addEventListener('submit', submit);
  for (const radio of form.querySelectorAll('input[name="mode"]')) radio.addEventListener('change', showMode);
  $('#deploy-cancel').addEventListener('click', () => dialog.close());
}
