// Output for people: aligned tables, service details, plans and events. Pure:
// data in, text out. Colour only when asked (a TTY without NO_COLOR).

import type { PlanEntry, ApplyPlan } from '../api/service-apply-set.ts';
import type { ServiceJson } from '../api/service-json.ts';
import type { EventRow } from '../store/types.ts';
import type { CliDeps } from './deps.ts';

export type Paint = (text: string, status: string) => string;

const ANSI: Record<string, string> = { green: '\u001b[32m', red: '\u001b[31m', yellow: '\u001b[33m' };
const RESET = '\u001b[0m';

function colourOf(status: string): string | undefined {
  if (status === 'running') return ANSI.green;
  if (status === 'failed') return ANSI.red;
  if (status === 'stopped') return undefined;
  return ANSI.yellow;
}

/** https://no-color.org: any non-empty NO_COLOR turns colour off. */
export function useColour(deps: Pick<CliDeps, 'isTTY' | 'env'>): boolean {
  return deps.isTTY === true && !deps.env.NO_COLOR;
}

export function painter(enabled: boolean): Paint {
  return (text, status) => {
    const colour = enabled ? colourOf(status) : undefined;
    return colour ? `${colour}${text}${RESET}` : text;
  };
}

/** Columns padded to the widest cell; `paint` may colour a cell after padding (escapes do not count). */
export function table(rows: readonly (readonly string[])[], paint?: (cell: string, row: number, col: number) => string): string {
  if (rows.length === 0) return '';
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((r) => (r[col] ?? '').length)));
  return rows.map((r, rowIndex) => r.map((cell, col) => {
    const padded = col === r.length - 1 ? cell : cell.padEnd(widths[col]!);
    return paint ? paint(padded, rowIndex, col) : padded;
  }).join('  ').trimEnd()).join('\n') + '\n';
}

/** Instances that run and pass health, over the replicas wanted: "waiting for health 1/3". */
export function readyCount(service: ServiceJson): string {
  const ready = service.instances.filter((i) => i.state === 'running' && i.health === 'healthy').length;
  return `${ready}/${service.replicas}`;
}

/** The status with the reason that qualifies it, when there is one: `running (CrashLoopBackOff)`. */
export function statusText(service: Pick<ServiceJson, 'status' | 'statusReason'>): string {
  return service.statusReason ? `${service.status} (${service.statusReason})` : service.status;
}

export function servicesTable(services: readonly ServiceJson[], paint: Paint): string {
  const rows = [['NAME', 'STATUS', 'PROVIDER', 'REPLICAS', 'URL'],
    ...services.map((s) => [s.name, statusText(s), s.provider, readyCount(s), s.url ?? '-'])];
  return table(rows, (cell, row, col) => (row > 0 && col === 1 ? paint(cell, services[row - 1]!.status) : cell));
}

export function serviceDetails(s: ServiceJson, paint: Paint): string {
  const lines = [
    ['name', s.name], ['id', s.id], ['status', `${paint(s.status, s.status)} (generation ${s.generation}, observed ${s.observedGeneration}; desired ${s.desiredState})`],
    ['provider', s.provider], ['url', s.url ?? '-'], ['image', s.image ?? '-'], ['port', String(s.port)], ['cpu', s.cpu],
    ['memory', `${s.memory}MB`], ['region', s.region], ['replicas', `${readyCount(s)} ready`], ['source', s.source],
    ['env keys', s.envKeys.length > 0 ? s.envKeys.join(', ') : '-'], ['updated', s.updatedAt],
  ];
  let out = lines.map(([k, v]) => `${`${k}:`.padEnd(11)}${v}`).join('\n') + '\n';
  out += '\nconditions:\n';
  out += s.conditions.length === 0 ? '  none\n'
    : indent(table([['TYPE', 'STATUS', 'REASON', 'MESSAGE'], ...s.conditions.map((c) => [c.type, c.status, c.reason, c.message])]));
  out += '\ninstances:\n';
  out += s.instances.length === 0 ? '  none\n'
    : indent(table([['ID', 'WHERE', 'REGION', 'STATE', 'HEALTH', 'URL'],
      ...s.instances.map((i) => [i.id, i.agent ?? i.machineId ?? '-', i.region, i.state, i.health, i.url ?? '-'])]));
  return out;
}

function indent(text: string): string {
  return text.split('\n').map((line) => (line === '' ? line : `  ${line}`)).join('\n');
}

/** Strings as written, everything else as JSON; masked values arrive already as "(hidden)". */
export function showValue(value: unknown): string {
  if (value === undefined) return '(none)';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

const SIGN: Record<PlanEntry['op'], string> = { create: '+', update: '~', delete: '-', unchanged: '=' };

/** The plan field by field: what is created, updated (from → to) and deleted. */
export function planText(plan: ApplyPlan, options: { verbose: boolean }): string {
  const lines: string[] = [];
  for (const entry of plan.entries) {
    if (entry.op === 'unchanged' && !options.verbose) continue;
    lines.push(`${SIGN[entry.op]} ${entry.name} (${entry.op})`);
    if (entry.op === 'create') for (const c of entry.changes) lines.push(`    ${c.path}: ${showValue(c.to)}`);
    if (entry.op === 'update') for (const c of entry.changes) lines.push(`    ${c.path}: ${showValue(c.from)} → ${showValue(c.to)}`);
    for (const note of entry.notes ?? []) lines.push(`    ${note}`);
  }
  lines.push(planSummary(plan));
  return `${lines.join('\n')}\n`;
}

export function planSummary(plan: ApplyPlan): string {
  const count = (op: PlanEntry['op']) => plan.entries.filter((e) => e.op === op).length;
  if (plan.changed.length === 0) return `no changes (${count('unchanged')} unchanged)`;
  const verb = plan.dryRun ? 'to ' : '';
  return `${count('create')} ${verb}create, ${count('update')} ${verb}update, ${count('delete')} ${verb}delete, ${count('unchanged')} unchanged`;
}

export function eventText(e: Pick<EventRow, 'time' | 'type' | 'reason' | 'message'>): string {
  return `${e.time}  ${e.type}  ${e.reason}: ${e.message}`;
}
