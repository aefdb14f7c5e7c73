// Pure helpers of bench/reconcile.ts: percentiles of pass times and the side-by-side table of the
// engines' figures. No colon in a table row: bench/lib/figures.ts reads `label: number` lines as
// figures, and the table repeats figures already printed one per line.

/** The value at percentile `p` (0–100) of `values`, nearest rank. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1]!;
}

/** Milliseconds with a precision that suits their size. */
export function ms(value: number): string {
  if (!Number.isFinite(value)) return '—';
  return value < 10 ? value.toFixed(2) : value.toFixed(1);
}

export interface SideBySideRow {
  figure: string;
  /** One cell per engine, in the header's order; undefined prints as `—` (not run). */
  cells: (string | undefined)[];
}

export function renderSideBySide(engines: readonly string[], rows: readonly SideBySideRow[]): string {
  const header = ['figure', ...engines];
  const body = rows.map((r) => [r.figure, ...engines.map((_, i) => r.cells[i] ?? '—')]);
  for (const line of [header, ...body]) {
    for (const cell of line) {
      if (cell.includes(':')) throw new Error(`a side-by-side cell must not hold a colon: ${cell}`);
    }
  }
  const widths = header.map((_, i) => Math.max(...[header, ...body].map((line) => line[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  const rule = `| ${widths.map((w, i) => (i === 0 ? '-'.repeat(w) : `${'-'.repeat(w - 1)}:`)).join(' | ')} |`;
  return [line(header), rule, ...body.map(line)].join('\n');
}
