// Building DOM without innerHTML: every piece of data becomes a text node or an
// attribute value, and links only ever point at http(s) or an in-page hash.

/** A link target that is safe to put in href, or null (javascript:, data:, garbage). */
export function safeHref(value) {
  if (typeof value !== 'string' || value === '') return null;
  if (value.startsWith('#')) return value;
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
  } catch {
    return null;
  }
}

const STATUS_CLASSES = new Set(['pending', 'creating', 'deploying', 'running', 'stopped', 'failed', 'destroying']);

/** The CSS class that colours a lifecycle phase; unknown phases get a neutral one. */
export function statusClass(status) {
  return STATUS_CLASSES.has(status) ? `status status-${status}` : 'status status-unknown';
}

/** The status a list row shows: the phase, with the reason that qualifies it (`running (CrashLoopBackOff)`). */
export function statusText(service) {
  return service.statusReason ? `${service.status} (${service.statusReason})` : service.status;
}

/**
 * h('a', { href, class }, 'text', child…): an element; strings become text nodes.
 * `on<event>` props add listeners; `dataset` sets data-* attributes.
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') element.className = value;
    else if (key === 'dataset') Object.assign(element.dataset, value);
    else if (key === 'href') {
      const href = safeHref(value);
      if (href !== null) element.setAttribute('href', href);
    } else if (key.startsWith('on') && typeof value === 'function') element.addEventListener(key.slice(2), value);
    else element.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

export function $(selector) {
  const element = document.querySelector(selector);
  if (!element) throw new Error(`dashboard markup is missing ${selector}`);
  return element;
}

/** Replaces an element's children. */
export function fill(element, ...children) {
  element.replaceChildren();
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) element.append(child instanceof Node ? child : String(child));
  }
}
