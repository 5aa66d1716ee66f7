/**
 * Chunks in, lines out, never the whole log in memory. A line longer than
 * MAX_LINE is cut there (the rest is skipped up to the next newline) and
 * flagged: a 2 GB file of one line costs MAX_LINE characters, not 2 GB.
 */
export const MAX_LINE = 64 * 1024;

export interface LogLineText {
  /** 1-based line number in the raw log. */
  no: number;
  text: string;
  /** The line was longer than MAX_LINE and was cut. */
  cut: boolean;
}

export async function* splitLines(
  input: string | AsyncIterable<string | Uint8Array> | Iterable<string>,
): AsyncGenerator<LogLineText[]> {
  const decoder = new TextDecoder('utf-8', { fatal: false });
  let no = 0;
  let partial = '';
  let cut = false;
  let batch: LogLineText[] = [];
  const emitLine = (text: string): void => {
    let t = text;
    if (t.endsWith('\r')) t = t.slice(0, -1);
    batch.push({ no: ++no, text: t, cut });
    cut = false;
  };
  const push = (chunk: string): void => {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf('\n', start);
      if (nl < 0) break;
      if (cut) emitLine(partial);
      else if (partial.length > 0) {
        const whole = partial + chunk.slice(start, nl);
        if (whole.length > MAX_LINE) {
          cut = true;
          emitLine(whole.slice(0, MAX_LINE));
        } else emitLine(whole);
      } else if (nl - start > MAX_LINE) {
        cut = true;
        emitLine(chunk.slice(start, start + MAX_LINE));
      } else emitLine(chunk.slice(start, nl));
      partial = '';
      start = nl + 1;
    }
    if (start < chunk.length && !cut) {
      partial += chunk.slice(start);
      if (partial.length > MAX_LINE) {
        partial = partial.slice(0, MAX_LINE);
        cut = true;
      }
    }
  };
  if (typeof input === 'string') {
    // Feed a big string in slices so that batches stay small.
    for (let i = 0; i < input.length; i += 1 << 20) {
      push(input.slice(i, i + (1 << 20)));
      if (batch.length > 0) {
        yield batch;
        batch = [];
      }
    }
  } else if (Symbol.asyncIterator in input) {
    for await (const chunk of input) {
      push(typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true }));
      if (batch.length > 0) {
        yield batch;
        batch = [];
      }
    }
    push(decoder.decode());
  } else {
    for (const chunk of input) {
      push(chunk);
      if (batch.length > 0) {
        yield batch;
        batch = [];
      }
    }
  }
  if (partial.length > 0 || cut) emitLine(partial);
  if (batch.length > 0) yield batch;
}
