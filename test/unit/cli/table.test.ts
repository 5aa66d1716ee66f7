import { describe, expect, it } from 'vitest';
import { formatTable } from '../../../main/cli/table';

describe('formatTable', () => {
  it('pads every column but the last to its widest cell, two spaces apart, no trailing blanks', () => {
    expect(formatTable([['A', 'LONGER', 'LAST'], ['abc', 'x', ''], ['d', 'yy', 'a long error text']])).toBe(
      'A    LONGER  LAST\nabc  x\nd    yy      a long error text\n',
    );
    expect(formatTable([])).toBe('');
  });
});
