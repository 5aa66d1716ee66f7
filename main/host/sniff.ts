import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { BpfscopeError } from '../errors';

/** What kind of file the user gave: by its first bytes, not its name. */
export function sniff(path: string): 'trace' | 'object' | 'log' {
  if (!existsSync(path)) throw new BpfscopeError('no such file', path);
  const head = Buffer.alloc(16);
  const fd = openSync(path, 'r');
  let n: number;
  try {
    n = readSync(fd, head, 0, 16, 0);
  } finally {
    closeSync(fd);
  }
  const text = head.subarray(0, n).toString('latin1');
  if (text === 'SQLite format 3\0') return 'trace';
  if (text.startsWith('\x7fELF')) return 'object';
  return 'log';
}
