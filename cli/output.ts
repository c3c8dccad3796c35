/** Human output: aligned tables and `name  value` blocks. Machines use --json instead. */

export const table = (header: readonly string[], rows: readonly (readonly string[])[]): string => {
  if (rows.length === 0) return '(none)';
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header.map((title) => title.toUpperCase())), ...rows.map(line)].join('\n');
};

export const fields = (pairs: readonly (readonly [string, string | undefined])[]): string => {
  const present = pairs.filter((pair): pair is readonly [string, string] => pair[1] !== undefined);
  const width = Math.max(0, ...present.map(([name]) => name.length));
  return present.map(([name, value]) => `${name.padEnd(width)}  ${value}`).join('\n');
};

export const list = (values: readonly string[] | undefined): string =>
  values && values.length > 0 ? values.join(', ') : '-';

/** USD with 2 to 4 decimals: `$1100.00`, `$0.25`, `$0.001` (--json has the exact value). */
export const usd = (value: number): string => `$${value.toFixed(4).replace(/0{1,2}$/, '')}`;
