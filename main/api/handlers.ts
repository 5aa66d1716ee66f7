import { BpfscopeError, inFile } from '../errors';
import { traceError } from '../trace/damage';
import type { Calls, Channel } from './contract';
import { TraceSession } from './session';
import { validateArgs } from './validate';

/**
 * The handler table: one function per channel. The Electron main process
 * (through its Node child, see main/host/stdio.ts) and the browser host
 * (main/host/server.ts) both dispatch to this table, so a view cannot tell
 * them apart. Every call is validated here, whoever called.
 */
export type Handlers = { [C in Channel]: (...args: Calls[C]['args']) => Calls[C]['result'] | Promise<Calls[C]['result']> };

export interface HandlerOptions {
  /** The trace `trace:default` opens (the file given on the command line, or the bundled example). */
  defaultTrace?: string;
}

export function createHandlers(opts: HandlerOptions = {}): { table: Handlers; dispatch: Dispatch; close(): void } {
  const session = new TraceSession();
  const table: Handlers = {
    'trace:open': (path) => session.open(path),
    'trace:default': () => (opts.defaultTrace ? session.open(opts.defaultTrace) : null),
    'log:lines': (t, p, from, count) => session.get(t).logLines(p, from, count),
    'log:search': (t, p, q, regex, from, back) => session.get(t).search(p, q, regex, from, back),
    'steps:rows': (t, p, from, count) => session.get(t).stepRows(p, from, count),
    'steps:state': (t, p, step) => session.get(t).stateAt(p, step),
    'steps:forInsn': (t, p, insn) => session.get(t).stepsForInsn(p, insn),
    'steps:lastWrite': (t, p, step, frame, reg) => session.get(t).lastWrite(p, step, frame, reg),
    'steps:why': (t, p, step, loc) => session.get(t).why(p, step, loc),
    'steps:firstError': (t, p) => session.get(t).firstError(p),
    'insns:listing': (t, p) => session.get(t).listing(p),
    'refs:list': (t, p) => session.get(t).refs(p),
    'paths:list': (t, p, from, count) => session.get(t).paths(p, from, count),
    'layout:types': (t, p) => session.get(t).layoutTypes(p),
    'layout:get': (t, p, name) => session.get(t).layout(p, name),
    'alloc:events': (t, p) => session.get(t).allocEvents(p),
    'run:result': (t, p) => session.get(t).runResult(p),
    'compare:programs': (a, b) => session.compareStats(a, b),
    'compare:difference': (a, pa, b, pb, pair, dir) => session.compareDifference(a, pa, b, pb, pair, dir),
    'cfg:graph': (t, p) => session.cfg(t, p).graph(),
    'cfg:path': (t, p, step) => session.cfg(t, p).pathAt(step),
  };
  const dispatch: Dispatch = async (channel, args) => {
    const valid = validateArgs(channel as Channel, args) as unknown[];
    const fn = table[channel as Channel] as (...a: unknown[]) => unknown;
    try {
      return await fn(...valid);
    } catch (err) {
      // A damaged trace makes SQLite or a reader throw: the sentence names the file and the damage (trace/damage.ts).
      const path = channel === 'trace:open' ? String(valid[0]) : session.pathOf(valid[0]);
      const mapped = traceError(err, path, session.damageOf(valid[0]));
      if (mapped instanceof BpfscopeError) throw mapped;
      throw inFile(mapped, path ?? 'the trace');
    }
  };
  return { table, dispatch, close: () => session.closeAll() };
}

export type Dispatch = (channel: string, args: unknown) => Promise<unknown>;

/** The sentence an error turns into on the wire (the line the CLI would print). */
export function errorSentence(err: unknown): string {
  if (err instanceof BpfscopeError) return err.describe();
  return `internal error: ${err instanceof Error ? err.message : String(err)}`;
}
