// Turns what the user picked into a bundle the control plane stores: a folder
// (<input webkitdirectory>) is packed into a tar here (web/tar.js); an archive
// (.tar, .tar.gz, .tgz) is used as it is. Either way the digest is the SHA-256 of
// the uncompressed tar (as the CLI's), and what is uploaded is its gzip. The
// control plane recomputes the digest from the upload and refuses a mismatch.

import { createSha256 } from './sha256.js';
import { bundlePath, isGzip, isTar, tarFiles } from './tar.js';

async function pipeThrough(bytes, transform) {
  const chunks = [];
  const reader = new Blob([bytes]).stream().pipeThrough(transform).getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
  }
  return new Blob(chunks);
}

const digestOf = (tar) => {
  const sha = createSha256();
  sha.update(tar);
  return `sha256:${sha.hex()}`;
};

/**
 * @param {FileList | File[]} files picked with webkitdirectory (each has webkitRelativePath)
 * @returns {Promise<{ digest: string, gzip: Blob, files: number, label: string }>}
 */
export async function bundleFromFolder(files) {
  const entries = [];
  for (const file of Array.from(files)) {
    const path = bundlePath(file.webkitRelativePath || file.name);
    if (path !== null) entries.push({ path, bytes: new Uint8Array(await file.arrayBuffer()) });
  }
  if (entries.length === 0) throw new Error('the folder holds no files to deploy (.git, node_modules and .forge are left out)');
  const tar = tarFiles(entries);
  const folder = (Array.from(files)[0]?.webkitRelativePath ?? '').split('/')[0] || 'folder';
  return { digest: digestOf(tar), gzip: await pipeThrough(tar, new CompressionStream('gzip')), files: entries.length, label: `${folder}/` };
}

/**
 * @param {File} file a .tar, .tar.gz or .tgz
 * @returns {Promise<{ digest: string, gzip: Blob, files: number | null, label: string }>}
 */
export async function bundleFromArchive(file) {
  const bytes = new Uint8Array(await file.arrayBuffer());
  if (isGzip(bytes)) {
    let tar;
    try {
      tar = new Uint8Array(await (await pipeThrough(bytes, new DecompressionStream('gzip'))).arrayBuffer());
    } catch {
      throw new Error(`${file.name} is not a readable gzip file`);
    }
    if (!isTar(tar)) throw new Error(`${file.name} is gzipped but holds no tar archive: pick a .tar, .tar.gz or .tgz`);
    return { digest: digestOf(tar), gzip: new Blob([bytes]), files: null, label: file.name };
  }
  if (!isTar(bytes)) throw new Error(`${file.name} is not a tar archive: pick a .tar, .tar.gz or .tgz (a zip is not supported), or pick the folder itself`);
  return { digest: digestOf(bytes), gzip: await pipeThrough(bytes, new CompressionStream('gzip')), files: null, label: file.name };
}
