// The deploy dialog: the same fields as `forge deploy` (name, image, port, CPU
// tier, memory, region, provider, env vars) posted to POST /api/compute/services.
// The provider list comes from GET /api/compute/config, so unconfigured providers
// show why and cannot be picked.

import { describeError } from './api.js';
import { deployBody, imageProviderChoices } from './deploy-form.js';
import { $, fill, h } from './dom.js';

/**
 * @param {{ api(): ReturnType<import('./api.js').createApi>, keyRejected(error: unknown): boolean,
 *   deployed(service: { name: string, generation: number }): void }} hooks
 */
export function setupDeployDialog(hooks) {
  const dialog = $('#deploy-dialog');
  const form = $('#deploy-form');
  const errors = $('#deploy-errors');
  let providersLoaded = false;

  const showError = (error) => {
    if (!hooks.keyRejected(error)) fill(errors, h('li', {}, describeError(error)));
  };

  async function loadProviders() {
    if (providersLoaded) return;
    const { providers } = await hooks.api().config();
    // The dialog deploys images: only providers whose capabilities include images can be picked.
    const { choices, preferred, hint } = imageProviderChoices(providers);
    fill($('#deploy-form select[name="provider"]'), choices.map((c) => h('option', {
      value: c.name, disabled: !c.enabled, selected: c.name === preferred, title: c.title,
    }, c.label)));
    $('#deploy-submit').disabled = preferred === undefined;
    if (hint) fill(errors, h('li', {}, hint));
    providersLoaded = true;
  }

  async function open() {
    fill(errors);
    dialog.showModal();
    $('#deploy-form [name="name"]').focus();
    await loadProviders().catch(showError);
  }

  async function submit(event) {
    event.preventDefault();
    const { body, errors: problems } = deployBody(Object.fromEntries(new FormData(form).entries()));
    if (body === null) {
      fill(errors, problems.map((e) => h('li', {}, `${e.field}: ${e.message}`)));
      return;
    }
    const button = $('#deploy-submit');
    button.disabled = true;
    try {
      const service = await hooks.api().deploy(body);
      dialog.close();
      form.reset();
      hooks.deployed(service);
    } catch (error) {
      showError(error);
    } finally {
      button.disabled = $('#deploy-form select[name="provider"]').value === '';
    }
  }

  $('#open-deploy').addEventListener('click', open);
  form.addEventListener('submit', submit);
  $('#deploy-cancel').addEventListener('click', () => dialog.close());
}
