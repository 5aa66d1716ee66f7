import { describe, expect, it } from 'vitest';
import { CHANNELS } from '../../../main/api/contract';
import { isChannel, validateArgs } from '../../../main/api/validate';
import { BpfscopeError } from '../../../main/errors';

/** Arguments that are valid for each channel: every channel has one line here. */
const GOOD: Record<string, unknown[]> = {
  'trace:open': ['/tmp/x.trace'],
  'trace:default': [],
  'log:lines': [1, 1, 1, 256],
  'log:search': [1, 1, 'bpf_obj_new', false, 1, false],
  'steps:rows': [1, 1, 0, 100],
  'steps:state': [1, 1, 0],
  'steps:forInsn': [1, 1, 17],
  'steps:lastWrite': [1, 1, 10, 0, 'R8'],
  'steps:why': [1, 1, 10, 'frame1:fp-8'],
  'steps:firstError': [1, 1],
  'insns:listing': [1, 1],
  'refs:list': [1, 1],
  'paths:list': [1, 1, 0, 101],
  'layout:types': [1, 1],
  'layout:get': [1, 1, 'elem'],
  'alloc:events': [1, 1],
  'run:result': [1, 1],
  'compare:programs': [1, 2],
  'compare:difference': [1, 1, 2, 3, 0, 'next'],
  'cfg:graph': [1, 1],
  'cfg:path': [1, 1, 40],
};

describe('IPC argument validation', () => {
  it('accepts the right arguments of every channel', () => {
    expect(Object.keys(GOOD).sort()).toEqual([...CHANNELS].sort());
    for (const c of CHANNELS) expect(validateArgs(c, GOOD[c])).toEqual(GOOD[c]);
  });

  it('refuses unknown channels, wrong arity and wrong types with a sentence naming the argument', () => {
    expect(isChannel('shell:exec')).toBe(false);
    expect(() => validateArgs('shell:exec' as never, [])).toThrow(/unknown API channel/);
    expect(() => validateArgs('steps:state', [1, 1])).toThrow(/takes 3 argument/);
    expect(() => validateArgs('steps:state', [1, 1, -1])).toThrow(/step of steps:state/);
    expect(() => validateArgs('steps:state', [1, 1, 1.5])).toThrow(/whole number/);
    expect(() => validateArgs('steps:state', [1, 1, '3'])).toThrow(/whole number/);
    expect(() => validateArgs('log:lines', [1, 1, 1, 1e6])).toThrow(/more than 100000 rows/);
    expect(() => validateArgs('trace:open', ['a\0b'])).toThrow(/path/);
    expect(() => validateArgs('trace:open', [''])).toThrow(/path/);
    expect(() => validateArgs('steps:lastWrite', [1, 1, 1, 0, 'R11'])).toThrow(/register/);
    expect(() => validateArgs('steps:lastWrite', [1, 1, 1, 0, 'R1; DROP'])).toThrow(/register/);
    for (const loc of ['R3', 'fp[0]-8', 'frame2:R10']) expect(validateArgs('steps:why', [1, 1, 1, loc])).toEqual([1, 1, 1, loc]);
    for (const loc of ['R11', 'fp-8; DROP', 'frame12:R1', '']) expect(() => validateArgs('steps:why', [1, 1, 1, loc])).toThrow(/register \(R3, frame1:R2\)/);
    expect(() => validateArgs('log:search', [1, 1, 'x', 'yes', 1, false])).toThrow(/true or false/);
    expect(() => validateArgs('steps:state', { 0: 1, 1: 1, 2: 1, length: 3 })).toThrow(/takes 3/);
    expect(() => validateArgs('compare:difference', [1, 1, 2, 3, 0, 'sideways'])).toThrow(/'next' or 'previous'/);
  });

  it('fuzz: any value either validates or is a BpfscopeError, never another exception', () => {
    let seed = 12345;
    const rnd = (): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const values: (() => unknown)[] = [
      () => Math.floor(rnd() * 100),
      () => -Math.floor(rnd() * 100),
      () => rnd() * 1e12,
      () => NaN,
      () => Infinity,
      () => 'R' + Math.floor(rnd() * 14),
      () => 'x'.repeat(Math.floor(rnd() * 5000)),
      () => null,
      () => undefined,
      () => ({}),
      () => [],
      () => true,
      () => 2n ** 70n,
      () => Symbol('s'),
    ];
    let ok = 0;
    for (let i = 0; i < 20_000; i++) {
      const c = CHANNELS[Math.floor(rnd() * CHANNELS.length)];
      const n = Math.floor(rnd() * 7);
      const args = Array.from({ length: n }, () => values[Math.floor(rnd() * values.length)]());
      try {
        validateArgs(c, args);
        ok++;
      } catch (err) {
        expect(err).toBeInstanceOf(BpfscopeError);
      }
    }
    expect(ok).toBeGreaterThan(0);
  });
});
