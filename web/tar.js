// A source folder picked in the browser, as a tar (POSIX ustar, pax for long
// paths) the agents extract like the CLI's bundles: sorted entries, mtime 0, no
// owner names or ids, mode 0644 (a browser does not see the executable bit).
// Pure, so Node tests it and extracts its output with node-tar. Also the checks
// the dashboard makes on an archive the user picks: gzip or tar, by content.

const BLOCK = 512;
const encoder = new TextEncoder();

/** Never in a bundle, at any depth (as specs/bundle.ts): rebuilt on the agent, or not the app's. */
export const ALWAYS_EXCLUDED = new Set(['.git', 'node_modules', '.forge']);

/**
 * The bundle path of a file picked with <input webkitdirectory> (`app/src/x.js` → `src/x.js`),
 * or null when the file is left out (under .git, node_modules or .forge).
 * @param {string} relativePath the File's webkitRelativePath
 */
export function bundlePath(relativePath) {
  const parts = relativePath.split('/').filter((p) => p !== '' && p !== '.');
  parts.shift(); // the picked folder's own name
  if (parts.length === 0 || parts.some((p) => p === '..' || ALWAYS_EXCLUDED.has(p))) return null;
  return parts.join('/');
}

function octal(target, offset, width, value) {
  const text = value.toString(8).padStart(width - 1, '0');
  target.set(encoder.encode(text), offset);
  target[offset + width - 1] = 0;
}

function header(nameBytes, prefixBytes, size, type) {
  const block = new Uint8Array(BLOCK);
  block.set(nameBytes, 0);
  octal(block, 100, 8, 0o644);
  octal(block, 108, 8, 0);
  octal(block, 116, 8, 0);
  octal(block, 124, 12, size);
  octal(block, 136, 12, 0);
  block.fill(0x20, 148, 156); // the checksum is summed with its own field as spaces
  block[156] = type.charCodeAt(0);
  block.set(encoder.encode('ustar\u000000'), 257);
  block.set(prefixBytes, 345);
  let sum = 0;
  for (const byte of block) sum += byte;
  const text = sum.toString(8).padStart(6, '0');
  block.set(encoder.encode(text), 148);
  block[154] = 0;
  block[155] = 0x20;
  return block;
}

/** name ≤ 100 bytes, or a prefix ≤ 155 and name ≤ 100 split at a `/`; null when neither fits. */
function ustarName(path) {
  const bytes = encoder.encode(path);
  if (bytes.length <= 100) return { name: bytes, prefix: new Uint8Array(0) };
  for (let i = bytes.length - 1; i > 0; i -= 1) {
    if (bytes[i] !== 0x2f) continue;
    if (i <= 155 && bytes.length - i - 1 <= 100 && bytes.length - i - 1 > 0) return { name: bytes.subarray(i + 1), prefix: bytes.subarray(0, i) };
  }
  return null;
}

/** A pax record `LEN path=VALUE\n`, where LEN counts the whole record, itself included. */
function paxRecord(key, value) {
  const body = ` ${key}=${value}\n`;
  const bodyLength = encoder.encode(body).length;
  let length = bodyLength + 1;
  while (String(length).length + bodyLength > length) length += 1;
  return encoder.encode(`${length}${body}`);
}

const padding = (size) => new Uint8Array((BLOCK - (size % BLOCK)) % BLOCK);

/**
 * @param {{ path: string, bytes: Uint8Array }[]} files relative `/`-separated paths
 * @returns {Uint8Array} the tar, entries sorted by path, ending in two zero blocks
 */
export function tarFiles(files) {
  const parts = [];
  const sorted = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const { path, bytes } of sorted) {
    let names = ustarName(path);
    if (names === null) {
      const record = paxRecord('path', path);
      parts.push(header(encoder.encode('PaxHeader').subarray(0, 100), new Uint8Array(0), record.length, 'x'), record, padding(record.length));
      names = { name: encoder.encode(path).subarray(0, 100), prefix: new Uint8Array(0) };
    }
    parts.push(header(names.name, names.prefix, bytes.length, '0'), bytes, padding(bytes.length));
  }
  parts.push(new Uint8Array(BLOCK * 2));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** gzip's magic number. */
export function isGzip(bytes) {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Whether `bytes` starts with a tar header whose checksum holds (ustar, GNU and old v7 tars alike). */
export function isTar(bytes) {
  if (bytes.length < BLOCK) return false;
  const field = new TextDecoder().decode(bytes.subarray(148, 156)).replace(/[\0 ]+$/, '').trim();
  if (!/^[0-7]{1,7}$/.test(field)) return false;
  let sum = 0;
  for (let i = 0; i < BLOCK; i += 1) sum += i >= 148 && i < 156 ? 0x20 : bytes[i];
  return sum === parseInt(field, 8);
}
