import { BpfscopeError } from '../errors';
import { CHANNELS, type Calls, type Channel } from './contract';

/**
 * Argument checks for every channel, pure and shared: the Electron main
 * process runs them on each IPC message before forwarding it, the handler
 * table runs them again before touching a trace. A renderer (or a page that
 * found the browser host) can send anything; nothing unchecked reaches SQL.
 */
type Check = (v: unknown, name: string) => void;

const MAX_INT = 2 ** 31 - 1;

const int: Check = (v, name) => {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > MAX_INT) {
    throw new BpfscopeError(`argument ${name} must be a whole number in 0..${MAX_INT}`);
  }
};
const str =
  (max: number): Check =>
  (v, name) => {
    if (typeof v !== 'string' || v.length === 0 || v.length > max || v.includes('\0')) {
      throw new BpfscopeError(`argument ${name} must be a non-empty string of at most ${max} characters`);
    }
  };
const bool: Check = (v, name) => {
  if (typeof v !== 'boolean') throw new BpfscopeError(`argument ${name} must be true or false`);
};
const regName: Check = (v, name) => {
  if (typeof v !== 'string' || !/^(R(10|[0-9])|fp-\d{1,5})$/.test(v)) {
    throw new BpfscopeError(`argument ${name} must be a register (R0..R10) or a stack slot (fp-8)`);
  }
};
const direction: Check = (v, name) => {
  if (v !== 'next' && v !== 'previous') throw new BpfscopeError(`argument ${name} must be 'next' or 'previous'`);
};
/** A location for `steps:why`: R0..R10, fp-N, with an optional frameN: prefix, or fp[N]-M (whyAt says what is wrong with one). */
const whyLoc: Check = (v, name) => {
  if (typeof v !== 'string' || !/^(frame\d:)?(R(10|[0-9])|fp(\[\d\])?-\d{1,5})$/.test(v)) {
    throw new BpfscopeError(`argument ${name} must be a register (R3, frame1:R2) or a stack slot (fp-8, fp[0]-8)`);
  }
};
const count: Check = (v, name) => {
  int(v, name);
  if ((v as number) > 100_000) throw new BpfscopeError(`argument ${name} asks for more than 100000 rows`);
};

const tp: [Check, string][] = [
  [int, 'traceId'],
  [int, 'programId'],
];

const SPECS: { [C in Channel]: [Check, string][] } = {
  'trace:open': [[str(4096), 'path']],
  'trace:default': [],
  'log:lines': [...tp, [int, 'from'], [count, 'count']],
  'log:search': [...tp, [str(1000), 'query'], [bool, 'regex'], [int, 'fromLine'], [bool, 'backwards']],
  'steps:rows': [...tp, [int, 'from'], [count, 'count']],
  'steps:state': [...tp, [int, 'step']],
  'steps:forInsn': [...tp, [int, 'insn']],
  'steps:lastWrite': [...tp, [int, 'step'], [int, 'frame'], [regName, 'reg']],
  'steps:why': [...tp, [int, 'step'], [whyLoc, 'loc']],
  'steps:firstError': tp,
  'insns:listing': tp,
  'refs:list': tp,
  'paths:list': [...tp, [int, 'from'], [count, 'count']],
  'layout:types': tp,
  'layout:get': [...tp, [str(256), 'typeName']],
  'alloc:events': tp,
  'run:result': tp,
  'compare:programs': [[int, 'traceA'], [int, 'traceB']],
  'compare:difference': [[int, 'traceA'], [int, 'programA'], [int, 'traceB'], [int, 'programB'], [int, 'pair'], [direction, 'direction']],
  'cfg:graph': tp,
  'cfg:path': [...tp, [int, 'step']],
};

export function isChannel(c: unknown): c is Channel {
  return typeof c === 'string' && (CHANNELS as readonly string[]).includes(c);
}

/** Throws a BpfscopeError naming the bad argument; returns the typed tuple. */
export function validateArgs<C extends Channel>(channel: C, args: unknown): Calls[C]['args'] {
  if (!isChannel(channel)) throw new BpfscopeError(`unknown API channel '${String(channel)}'`);
  const spec = SPECS[channel];
  if (!Array.isArray(args) || args.length !== spec.length) {
    throw new BpfscopeError(`${channel} takes ${spec.length} argument(s)`);
  }
  spec.forEach(([check, name], i) => check(args[i], `${name} of ${channel}`));
  return args as Calls[C]['args'];
}
