/**
 * A plain-text table as the CLI prints them: columns padded to their widest
 * cell, two spaces apart, the last column left as it is (an error text may be
 * long), no trailing blanks. One line per row, each ending in a newline.
 */
export function formatTable(rows: readonly (readonly string[])[]): string {
  if (rows.length === 0) return '';
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => (row[c] ?? '').length)));
  return rows.map((row) => row.map((cell, c) => (c === row.length - 1 ? cell : cell.padEnd(widths[c]))).join('  ').trimEnd() + '\n').join('');
}
