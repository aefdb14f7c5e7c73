// The service page's releases table, from GET …/:id/releases: each generation that
// was rolled out, good or bad, newest first, with a button to roll back to it.

import { h } from './dom.js';

const STATUS_CLASS = { good: 'status status-running', bad: 'status status-failed', pending: 'status status-deploying' };

/**
 * @param {{ number: number, generation: number, revision: string | null, status: 'good' | 'bad' | 'pending',
 *   createdAt: string, cause: string | null, current: boolean }} release
 * @param {(generation: number) => void} rollBackTo
 */
export function releaseRow(release, rollBackTo) {
  const revision = release.revision === null ? '—' : release.revision.startsWith('sha256:') ? `${release.revision.slice(0, 19)}…` : release.revision.slice(0, 12);
  const action = release.current
    ? h('span', { class: 'hint' }, 'current')
    : h('button', { type: 'button', class: 'quiet', dataset: { rollbackTo: String(release.generation) }, onclick: () => rollBackTo(release.generation) }, 'Roll back to this');
  return h('tr', { class: release.current ? 'current' : '', dataset: { generation: String(release.generation) } },
    h('td', {}, String(release.number)), h('td', {}, String(release.generation)), h('td', { title: release.revision ?? '' }, revision),
    h('td', {}, h('span', { class: STATUS_CLASS[release.status] ?? 'status' }, release.status)),
    h('td', {}, new Date(release.createdAt).toLocaleString()), h('td', {}, release.cause ?? ''), h('td', {}, action));
}
