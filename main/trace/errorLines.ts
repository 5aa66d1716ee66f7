/**
 * A program's stored error (programs.error) as the lines it holds: the
 * kernel's closing error lines in the order the log printed them (the
 * recorder keeps the last two, an import every line held back before the
 * closing stats), or the loader's one sentence when the kernel never gave a
 * verdict. The last line is the final one: the kernel's last word, what
 * libbpf's users see last. Traces of every version store it this way, so an
 * old trace reads the same.
 */
export interface ErrorLines {
  /** The final error line, or null when the program has no error. */
  error: string | null;
  /** Every error line in order; the last one is `error`. Empty when there is none. */
  errors: string[];
}

export function errorLines(stored: string | null): ErrorLines {
  if (stored === null) return { error: null, errors: [] };
  const errors = stored.split('\n').filter((l) => l.length > 0);
  if (errors.length === 0) return { error: null, errors: [] };
  return { error: errors[errors.length - 1], errors };
}
