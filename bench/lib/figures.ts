// Pure decisions of the bench runner: which lines of a bench's output are
// figures, their medians over runs, whether each meets its target, and the
// markdown of bench/RESULTS.md. The runner (bench/run-all.ts) only does I/O.

export type Comparison = '≤' | '<' | '≥' | '>' | '=';

export interface Target {
  op: Comparison;
  value: number;
  unit: string;
}

/** One figure as one run printed it: `<label>: <number> <unit> …`, maybe with `target ≤ X unit`. */
export interface Figure {
  label: string;
  value: number;
  unit: string;
  target?: Target;
}

export interface BenchRun {
  /** Exit code; null when killed (timeout or signal). */
  exitCode: number | null;
  timedOut: boolean;
  durationMs: number;
  output: string;
}

export interface BenchRecord {
  /** File name without `.ts`, e.g. `reconcile`. */
  name: string;
  runs: BenchRun[];
  /** Why it was not run (or not run again), e.g. the time budget. */
  note?: string;
}

export interface SummaryRow {
  figure: string;
  median: string;
  runs: number;
  target: string;
  met: string;
}

// Shortest label first, so `no-op pass: 12 ms (…; all: 1, 2)` names `no-op pass`,
// while `fly: API calls per single deploy: 4 (…)` backtracks to the longer label.
// A label never reaches into parentheses: `… (target: 0 writes)` is a remark, not a figure.
const FIGURE = /^\s*(?<label>[^\s:(][^\n(;]*?):\s+(?<value>-?\d+(?:\.\d+)?)(?:\s+(?<unit>[A-Za-z%µ/][^\s,;()]*))?/;
const TARGET = /target\s*:?\s*(?<op>≤|<=|<|≥|>=|>|=)?\s*(?<value>-?\d+(?:\.\d+)?)\s*(?<unit>[A-Za-z%µ/][^\s,;()]*)?/i;
const OPS: Record<string, Comparison> = { '≤': '≤', '<=': '≤', '<': '<', '≥': '≥', '>=': '≥', '>': '>', '=': '=' };

export function parseTarget(line: string): Target | undefined {
  const m = TARGET.exec(line);
  if (!m?.groups) return undefined;
  return { op: OPS[m.groups.op ?? '='] ?? '=', value: Number(m.groups.value), unit: m.groups.unit ?? '' };
}

// `fly: 100 services converged in 3547 ms (…)`: the count is part of the label, the time is the figure.
const TIMED_COUNT = /^(?<what>[^(]*?)\s+in\s+(?<value>-?\d+(?:\.\d+)?)\s*(?<unit>µs|us|ms|s|min)\b/;
// `fly: target ≤ 5000 ms met`: a target on a line of its own, for the figure above with that label.
const TARGET_LINE = /^\s*(?<prefix>[^\s:(][^\n(;]*?):\s+target\b/i;

export function parseFigures(output: string): Figure[] {
  const figures: Figure[] = [];
  for (const line of output.split('\n')) {
    const targetOnly = TARGET_LINE.exec(line);
    if (targetOnly?.groups) {
      const target = parseTarget(line);
      const prefix = targetOnly.groups.prefix!.trim();
      const figure = [...figures].reverse().find((f) => f.label.startsWith(prefix) && f.target === undefined);
      if (target && figure && targetInUnit(target, figure.unit) !== undefined) figure.target = target;
      continue;
    }
    const m = FIGURE.exec(line);
    if (!m?.groups) continue;
    let label = m.groups.label!.trim();
    let value = Number(m.groups.value);
    let unit = m.groups.unit ?? '';
    const rest = line.slice(m[0].length);
    const timed = SCALE[unit] ? null : TIMED_COUNT.exec(rest);
    if (timed?.groups) {
      label = `${label}: ${value}${unit ? ` ${unit}` : ''}${timed.groups.what!.trimEnd()}`;
      value = Number(timed.groups.value);
      unit = timed.groups.unit!;
    }
    const target = parseTarget(rest);
    figures.push({ label, value, unit, ...(target ? { target } : {}) });
  }
  return figures;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

// Units a figure and its target may be written in differently; anything else must match exactly.
const SCALE: Record<string, [family: string, factor: number]> = {
  µs: ['time', 1e-3], us: ['time', 1e-3], ms: ['time', 1], s: ['time', 1000], min: ['time', 60_000],
  B: ['bytes', 1], KB: ['bytes', 1024], KiB: ['bytes', 1024], MB: ['bytes', 1024 ** 2], MiB: ['bytes', 1024 ** 2],
  GB: ['bytes', 1024 ** 3], GiB: ['bytes', 1024 ** 3],
};

/** The target's value in the figure's unit; undefined when the units cannot be compared. */
export function targetInUnit(target: Target, unit: string): number | undefined {
  if (target.unit === unit || target.unit === '' || unit === '') return target.value;
  const from = SCALE[target.unit];
  const to = SCALE[unit];
  if (!from || !to || from[0] !== to[0]) return undefined;
  return (target.value * from[1]) / to[1];
}

export function meets(value: number, target: Target, unit: string): boolean | undefined {
  const bound = targetInUnit(target, unit);
  if (bound === undefined || Number.isNaN(value)) return undefined;
  switch (target.op) {
    case '≤': return value <= bound;
    case '<': return value < bound;
    case '≥': return value >= bound;
    case '>': return value > bound;
    case '=': return value === bound;
  }
}

function formatNumber(value: number): string {
  if (Number.isInteger(value)) return String(value);
  return Math.abs(value) >= 100 ? value.toFixed(0) : value.toFixed(1);
}

function describeFailure(run: BenchRun): string {
  if (run.timedOut) return `timed out after ${Math.round(run.durationMs / 1000)} s`;
  return run.exitCode === null ? 'killed by a signal' : `exit code ${run.exitCode}`;
}

export function succeeded(run: BenchRun): boolean {
  return run.exitCode === 0 && !run.timedOut;
}

/** One row per figure (label within its bench), medians over the runs that succeeded; failures as rows of their own. */
export function summarize(records: readonly BenchRecord[]): SummaryRow[] {
  const rows: SummaryRow[] = [];
  for (const record of records) {
    const good = record.runs.filter(succeeded);
    const byLabel = new Map<string, Figure[]>();
    for (const run of good) {
      for (const figure of parseFigures(run.output)) {
        const seen = byLabel.get(figure.label) ?? [];
        seen.push(figure);
        byLabel.set(figure.label, seen);
      }
    }
    for (const [label, figures] of byLabel) {
      const first = figures[0]!;
      const value = median(figures.map((f) => f.value));
      const target = figures.find((f) => f.target)?.target;
      const met = target === undefined ? undefined : meets(value, target, first.unit);
      // A spread worth seeing (a failed request in one run of three) is not hidden by the median.
      const low = Math.min(...figures.map((f) => f.value));
      const high = Math.max(...figures.map((f) => f.value));
      const spread = low === high ? '' : ` (${formatNumber(low)}–${formatNumber(high)})`;
      rows.push({
        figure: `${record.name}: ${label.startsWith(`${record.name}: `) ? label.slice(record.name.length + 2) : label}`,
        median: `${formatNumber(value)}${first.unit ? ` ${first.unit}` : ''}${spread}`,
        runs: figures.length,
        target: target ? `${target.op} ${formatNumber(target.value)}${target.unit ? ` ${target.unit}` : ''}` : '—',
        met: met === undefined ? '—' : met ? 'yes' : `**no**`,
      });
    }
    const failed = record.runs.filter((run) => !succeeded(run));
    if (failed.length > 0) {
      rows.push({
        figure: `${record.name}: **FAILED**`, median: '—', runs: record.runs.length,
        target: '—', met: `**failed** ${failed.length} of ${record.runs.length} (${describeFailure(failed[0]!)})`,
      });
    } else if (record.runs.length === 0) {
      rows.push({ figure: `${record.name}: **not run**`, median: '—', runs: 0, target: '—', met: record.note ?? 'not run' });
    } else if (byLabel.size === 0) {
      rows.push({ figure: `${record.name}: (no figures printed)`, median: '—', runs: record.runs.length, target: '—', met: '—' });
    }
  }
  return rows;
}

export interface Machine {
  cpus: number;
  cpuModel: string;
  memoryGb: number;
  node: string;
  platform: string;
  date: string;
}

const escapeCell = (text: string) => text.replace(/\|/g, '\\|');

export function renderTable(rows: readonly SummaryRow[]): string {
  const lines = ['| figure | median | runs | target | met? |', '| --- | ---: | ---: | --- | --- |'];
  for (const row of rows) {
    lines.push(`| ${escapeCell(row.figure)} | ${escapeCell(row.median)} | ${row.runs} | ${escapeCell(row.target)} | ${escapeCell(row.met)} |`);
  }
  return lines.join('\n');
}

const MAX_OUTPUT_LINES = 120;

function clip(output: string): string {
  const lines = output.trimEnd().split('\n');
  if (lines.length <= MAX_OUTPUT_LINES) return lines.join('\n');
  return [...lines.slice(0, MAX_OUTPUT_LINES / 2), `… ${lines.length - MAX_OUTPUT_LINES} lines left out …`, ...lines.slice(-MAX_OUTPUT_LINES / 2)].join('\n');
}

export function renderResults(machine: Machine, records: readonly BenchRecord[], totalMs: number): string {
  const out = [
    '# Bench results',
    '',
    `Generated by \`npm run bench\` (bench/run-all.ts) on ${machine.date}; do not edit by hand.`,
    '',
    `Machine: ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGb.toFixed(1)} GB memory, Node ${machine.node}, ${machine.platform}.`,
    `Total time: ${Math.round(totalMs / 1000)} s. Each figure is the median over the runs of its bench that succeeded, with the (lowest–highest) when runs differ; slow benches run once.`,
    '',
    renderTable(summarize(records)),
    '',
    '## Raw output',
  ];
  for (const record of records) {
    out.push('', `### ${record.name}`, '');
    if (record.note) out.push(`_${record.note}_`, '');
    record.runs.forEach((run, i) => {
      const status = succeeded(run) ? 'ok' : `FAILED: ${describeFailure(run)}`;
      out.push(`Run ${i + 1} (${(run.durationMs / 1000).toFixed(1)} s, ${status}):`, '', '```', clip(run.output) || '(no output)', '```', '');
    });
  }
  return `${out.join('\n').trimEnd()}\n`;
}
