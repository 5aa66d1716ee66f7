import { readFileSync } from 'node:fs';
import { BpfscopeError } from '../errors';

/** Read a file for a command, turning ENOENT and friends into one clear line. */
export function readObjectFile(file: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(file));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw new BpfscopeError(why, file);
  }
}

/** Run a parser on a file's bytes: a BpfscopeError that names no file gets this one. */
export function inFileOf<T>(file: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof BpfscopeError && err.file === undefined) throw new BpfscopeError(err.message, file, err.where);
    throw err;
  }
}
