/**
 * Errors a user can act on. Every parser and loader throws these (never a bare
 * RangeError from a DataView) so that the CLI prints one line naming the file
 * and the place, and the app shows the same sentence.
 */
export class BpfscopeError extends Error {
  constructor(
    message: string,
    /** The file the error is about, when there is one. */
    readonly file?: string,
    /** Byte offset (objects, traces) or 1-based line (logs) inside `file`. */
    readonly where?: { offset: number } | { line: number },
  ) {
    super(message);
    this.name = 'BpfscopeError';
  }

  /** `file: at offset 0x40: message` — the one line the CLI prints. */
  describe(): string {
    const parts: string[] = [];
    if (this.file !== undefined) parts.push(this.file);
    if (this.where !== undefined) {
      parts.push('offset' in this.where ? `at offset 0x${this.where.offset.toString(16)}` : `line ${this.where.line}`);
    }
    parts.push(this.message);
    return parts.join(': ');
  }
}

/** Attach a file name to an error thrown by a pure parser that did not know it. */
export function inFile(err: unknown, file: string): BpfscopeError {
  if (err instanceof BpfscopeError) {
    return err.file !== undefined ? err : new BpfscopeError(err.message, file, err.where);
  }
  const msg = err instanceof Error ? err.message : String(err);
  return new BpfscopeError(`internal error: ${msg}`, file);
}
