// Plain-text layout shared by the commands' human output.

/** Left-aligned columns two spaces apart, one line per row (each starting with `prefix`). */
export function renderTable(rows: string[][], prefix = ''): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, index) => (widths[index] = Math.max(widths[index] ?? 0, cell.length)));
  return rows
    .map((row) => `${`${prefix}${row.map((cell, index) => cell.padEnd(widths[index] ?? 0)).join('  ')}`.trimEnd()}\n`)
    .join('');
}
