/** Small statistics and formatting helpers shared by the benchmarks. */

/** Nearest-rank percentile (p in 0..100) of already sorted values; NaN when empty. */
export const percentile = (sorted: readonly number[], p: number): number => {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] ?? Number.NaN;
};

export const sortNumbers = (values: readonly number[]): number[] => [...values].sort((a, b) => a - b);

export interface Summary {
  readonly count: number;
  readonly p50: number;
  readonly p90: number;
  readonly p95: number;
  readonly p99: number;
  readonly max: number;
  readonly min: number;
  readonly mean: number;
}

export const summarize = (values: readonly number[]): Summary => {
  const sorted = sortNumbers(values);
  const mean = sorted.length ? sorted.reduce((sum, v) => sum + v, 0) / sorted.length : Number.NaN;
  return {
    count: sorted.length,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) ?? Number.NaN,
    min: sorted[0] ?? Number.NaN,
    mean,
  };
};

/** Rounds for JSON results (keeps files small and diffs readable). */
export const round = (value: number, digits = 2): number => {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
};

export const fixed = (value: number, digits = 2): string =>
  Number.isFinite(value) ? value.toFixed(digits) : '-';

/** Renders rows as a plain aligned text table (first row is the header); `align` e.g. 'lrr' (default: first column left). */
/** A latency summary's p50, p95, p99 and max as table cells. */
export const latencyCells = (s: Summary, digits = 2): string[] =>
  [s.p50, s.p95, s.p99, s.max].map((value) => fixed(value, digits));

export const table = (rows: readonly (readonly string[])[], align = 'l'): string => {
  const widths: number[] = [];
  for (const row of rows)
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  const line = (row: readonly string[]) =>
    row
      .map((cell, i) =>
        (align[i] ?? 'r') === 'l' ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0),
      )
      .join('  ')
      .trimEnd();
  const [head, ...body] = rows;
  if (!head) return '';
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(head), rule, ...body.map(line)].join('\n');
};

export const verdict = (ok: boolean): 'PASS' | 'FAIL' => (ok ? 'PASS' : 'FAIL');

/** Every figure of a summary to `digits` places, for the results file. */
export const roundSummary = (s: Summary, digits = 2): Record<string, number> =>
  Object.fromEntries(Object.entries(s).map(([k, v]) => [k, round(v as number, digits)]));
