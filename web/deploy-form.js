// The deploy dialog's fields → the body of POST /api/compute/services. Pure, so
// it is tested in Node as a table. The API validates everything again (and
// reports with paths); only what the API cannot see — the KEY=VALUE text — is
// checked here in full.

const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;

/**
 * `KEY=VALUE` lines → env values. Blank lines and `#` comments are skipped; the
 * value is everything after the first `=`, kept as typed (it may hold `=`).
 * @param {string} text
 * @returns {{ env: Record<string, string>, errors: string[] }}
 */
export function parseEnvLines(text) {
  const env = {};
  const errors = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const where = `line ${index + 1}`;
    if (raw.trim() === '' || raw.trimStart().startsWith('#')) return;
    const eq = raw.indexOf('=');
    if (eq < 0) {
      errors.push(`${where}: expected KEY=VALUE`);
      return;
    }
    const key = raw.slice(0, eq).trim();
    if (!ENV_NAME.test(key)) {
      errors.push(`${where}: ${JSON.stringify(key)} is not a valid name (A-Z, 0-9 and _, not starting with a digit)`);
      return;
    }
    if (Object.hasOwn(env, key)) {
      errors.push(`${where}: ${key} is given twice`);
      return;
    }
    env[key] = raw.slice(eq + 1);
  });
  return { env, errors };
}

/**
 * @typedef {{ name?: string, image?: string, port?: string, cpu?: string, memory?: string,
 *   region?: string, provider?: string, env?: string }} DeployFields
 * @param {DeployFields} fields the dialog's values, as text
 * @returns {{ body: Record<string, unknown> | null, errors: { field: string, message: string }[] }}
 */
export function deployBody(fields) {
  const errors = [];
  const text = (value) => (value ?? '').trim();
  const body = {};

  const name = text(fields.name);
  if (name === '') errors.push({ field: 'name', message: 'a name is required' });
  else body.name = name;

  const image = text(fields.image);
  if (image === '') errors.push({ field: 'image', message: 'an image is required (for example nginx:1.27)' });
  else body.image = image;

  const port = text(fields.port);
  if (port !== '') {
    if (!/^\d+$/.test(port) || Number(port) < 1 || Number(port) > 65535) errors.push({ field: 'port', message: 'the port is a number from 1 to 65535' });
    else body.port = Number(port);
  }

  const memory = text(fields.memory);
  // A bare number is MB (sent as a number); a size with a unit (256M, 1G) is sent as text.
  if (memory !== '') body.memory = /^\d+$/.test(memory) ? Number(memory) : memory;

  for (const field of ['cpu', 'region', 'provider']) {
    const value = text(fields[field]);
    if (value !== '') body[field] = value;
  }

  // An empty box leaves the env vars of an existing service as they are.
  if (text(fields.env) !== '') {
    const parsed = parseEnvLines(fields.env ?? '');
    for (const message of parsed.errors) errors.push({ field: 'env', message });
    if (parsed.errors.length === 0) body.envVars = parsed.env;
  }
  return errors.length > 0 ? { body: null, errors } : { body, errors };
}

const NEEDS = {
  images: { words: 'images', none: 'No configured provider runs images: set FLY_API_TOKEN and FLY_ORG (or PROJECT_ID and CLOUD_API_HOST) where forge server runs. Agents run images once one with skopeo, umoci and crun has registered; or deploy a folder or archive as a source service.' },
  source: { words: 'source services', none: 'No configured provider builds and runs source services.' },
};

/**
 * The provider choices for a deploy, from GET /api/compute/config: only a configured
 * provider whose capabilities (`runs`) cover what is deployed — an image, or a source
 * folder built with build and run commands — can be picked (offering an agent an
 * image made a deploy that failed for good). Each disabled choice says why.
 * `preferred` is the first that can run it; `hint` says what to do when none can.
 * @param {Record<string, { configured: boolean, reason?: string, runs?: { images: boolean, source: boolean } }>} providers
 * @param {'images' | 'source'} need
 * @returns {{ choices: { name: string, enabled: boolean, label: string, title: string }[], preferred: string | undefined, hint: string | undefined }}
 */
export function providerChoices(providers, need) {
  const other = need === 'images' ? 'source' : 'images';
  const choices = Object.entries(providers).map(([name, p]) => {
    const runs = p.runs?.[need] === true;
    const enabled = p.configured && runs;
    const why = !p.configured ? 'not configured' : runs ? '' : `cannot run ${NEEDS[need].words}`;
    const title = !p.configured ? p.reason ?? ''
      : runs ? p.reason ?? ''
        : p.runs?.[other] ? `${name} runs ${NEEDS[other].words}: switch "What to deploy" to deploy one there` : `${name} cannot run ${NEEDS[need].words}`;
    return { name, enabled, label: enabled ? name : `${name} (${why})`, title };
  });
  const preferred = choices.find((c) => c.enabled)?.name;
  return { choices, preferred, hint: preferred ? undefined : NEEDS[need].none };
}

/** providerChoices for an image deploy. */
export const imageProviderChoices = (providers) => providerChoices(providers, 'images');
