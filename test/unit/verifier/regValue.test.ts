import { describe, expect, it } from 'vitest';
import { parseRegValue } from '../../../main/verifier/regValue';
import { parseStackSlot } from '../../../main/verifier/stackSlot';
import { parseStateText } from '../../../main/verifier/stateText';
import { lexLine } from '../../../main/verifier/lexer';

describe('register values', () => {
  it('bare constants, precise marks, hex, negatives', () => {
    const c = parseRegValue('0xffffffff');
    expect([c.type, c.smin, c.umax, c.smin32, c.umax32, c.varOff]).toEqual(['scalar', '4294967295', '4294967295', -1, 4294967295, { value: '0xffffffff', mask: '0x0' }]);
    const n = parseRegValue('P-2');
    expect([n.precise, n.smin, n.umin, n.smax32]).toEqual([true, '-2', '18446744073709551614', -2]);
  });

  it('merged range keys and tnums (6.7+)', () => {
    const v = parseRegValue('scalar(id=3,smin=smin32=0,smax=umax=smax32=umax32=255,var_off=(0x0; 0xff))');
    expect([v.id, v.smin, v.smax, v.umin, v.umax, v.smin32, v.smax32, v.umin32, v.umax32]).toEqual([3, '0', '255', '0', '255', 0, 255, 0, 255]);
    expect(v.varOff).toEqual({ value: '0x0', mask: '0xff' });
    const big = parseRegValue('scalar(smin=0x8000000000000001,smax=0x7fffffff7fffffff,umin=smin32=umin32=1,umax=0xffffffff7fffffff,umax32=0x7fffffff,var_off=(0x0; 0xffffffff7fffffff))');
    expect([big.smin, big.smax, big.umin, big.umax, big.smin32, big.umax32]).toEqual([
      '-9223372036854775807', '9223372034707292159', '1', '18446744071562067967', 1, 0x7fffffff,
    ]);
    const unk = parseRegValue('scalar()');
    expect([unk.smin, unk.smax, unk.umin, unk.umax, unk.varOff?.mask]).toEqual(['-9223372036854775808', '9223372036854775807', '0', '18446744073709551615', '0xffffffffffffffff']);
  });

  it('old spellings: inv, invP, _value keys', () => {
    const v = parseRegValue('invP(id=0,umin_value=4,umax_value=19,var_off=(0x0; 0x1f))', 'legacy');
    expect([v.type, v.precise, v.smin, v.smax, v.umin, v.umax, v.umin32]).toEqual(['scalar', true, '4', '19', '4', '19', 4]);
    expect(parseRegValue('inv').smin).toBe('-9223372036854775808');
    expect(parseRegValue('invP5').precise).toBe(true);
  });

  it('pointers, prefixes, _or_null, attributes', () => {
    const p = parseRegValue('ptr_or_null_foo(id=2,ref_obj_id=2,off=8)');
    expect([p.baseType, p.pointee, p.orNull, p.id, p.refObjId, p.off]).toEqual(['ptr', 'foo', true, 2, 2, 8]);
    const t = parseRegValue('rcu_ptr_or_null_task_struct(id=4)');
    expect([t.modifiers, t.pointee, t.orNull]).toEqual([['rcu'], 'task_struct', true]);
    const u = parseRegValue('untrusted_ptr_sock()');
    expect([u.modifiers, u.pointee]).toEqual([['untrusted'], 'sock']);
    const m = parseRegValue('map_value_or_null(id=1,map=holders,ks=4,vs=24,off=8)');
    expect([m.baseType, m.orNull, m.map, m.ks, m.vs, m.off]).toEqual(['map_value', true, 'holders', 4, 24, 8]);
    const n = parseRegValue('ptr_foo(non_own_ref,off=16)');
    expect([n.nonOwnRef, n.off]).toEqual([true, 16]);
    const pk = parseRegValue('pkt(off=14,r=34)');
    expect([pk.baseType, pk.off, pk.attrs.r]).toEqual(['pkt', 14, '34']);
    expect(parseRegValue('rdonly_mem(sz=8)').modifiers).toEqual(['rdonly']);
    expect(parseRegValue('ringbuf_mem(ref_obj_id=3,sz=16)').baseType).toBe('ringbuf_mem');
    const fp = parseRegValue('fp[1]-8');
    expect([fp.baseType, fp.fpFrame, fp.off]).toEqual(['fp', 1, -8]);
    expect(parseRegValue('percpu_ptr_foo()').modifiers).toEqual(['percpu']);
    expect(parseRegValue('trusted_ptr_task_struct()').modifiers).toEqual(['trusted']);
  });

  it('stack slots', () => {
    expect(parseStackSlot('0000????').kind).toBe('bytes');
    expect(parseStackSlot('mmmmmmmm').bytes).toBe('mmmmmmmm');
    expect(parseStackSlot('ctx()').kind).toBe('spill');
    expect(parseStackSlot('0').value?.smin).toBe('0');
    const d = parseStackSlot('dynptr_ringbuf(ref_id=1)');
    expect([d.kind, d.objType, d.attrs.ref_id]).toEqual(['dynptr', 'ringbuf', '1']);
    expect(parseStackSlot('iter_num(ref_id=1,state=active,depth=0)').kind).toBe('iter');
    expect(parseStackSlot('irq_flag(ref_id=2)').kind).toBe('irq_flag');
  });

  it('state texts: frames, liveness, refs, flags', () => {
    const items = parseStateText('frame1: R1_w=scalar(smin=0,var_off=(0x0; 0xff)) fp-8_rw=mmmmmmmm refs=2,3 cb');
    expect(items).toEqual([
      { kind: 'frame', frame: 1 },
      { kind: 'reg', reg: 1, live: 'w', raw: 'scalar(smin=0,var_off=(0x0; 0xff))' },
      { kind: 'slot', off: -8, live: 'rw', raw: 'mmmmmmmm' },
      { kind: 'refs', ids: [2, 3] },
      { kind: 'flag', name: 'cb' },
    ]);
  });
});

/** Deterministic pseudo-random generator for the fuzzers. */
function rng(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

describe('fuzzing', () => {
  const seeds = [
    'scalar(id=3,smin=smin32=0,smax=umax=smax32=umax32=255,var_off=(0x0; 0xff))',
    'ptr_or_null_foo(id=2,ref_obj_id=2,off=8)', 'map_value(id=1,map=holders,ks=4,vs=24,off=8)', 'fp[1]-8', 'P-2',
    'invP(id=0,umin_value=4,umax_value=19,var_off=(0x0; 0xff))', 'dynptr_ringbuf(ref_id=1)', '0000????',
  ];
  const alphabet = '()=,;_-0123456789abcdefxPRfp[] \u0000\u00ff';

  it('the register, slot and state parsers never throw on mutated input', () => {
    const r = rng(1234);
    for (let i = 0; i < 20000; i++) {
      let s = seeds[Math.floor(r() * seeds.length)];
      const edits = 1 + Math.floor(r() * 4);
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(r() * (s.length + 1));
        const op = r();
        const ch = alphabet[Math.floor(r() * alphabet.length)];
        if (op < 0.4) s = s.slice(0, at) + ch + s.slice(at);
        else if (op < 0.7) s = s.slice(0, at) + s.slice(at + 1);
        else s = s.slice(0, at) + ch + s.slice(at + 1);
      }
      const v = parseRegValue(s);
      expect(v.raw).toBe(s);
      if (!v.unparsed && v.smin !== null) expect(() => BigInt(v.smin as string)).not.toThrow();
      parseStackSlot(s);
      parseStateText(`R1=${s} fp-8=${s} refs=${s}`);
      lexLine(`${Math.floor(r() * 100)}: (bf) r1 = r2 ; R1=${s}`);
    }
  });

  it('random bytes through the lexer never throw', () => {
    const r = rng(99);
    for (let i = 0; i < 5000; i++) {
      const len = Math.floor(r() * 200);
      let s = '';
      for (let j = 0; j < len; j++) s += String.fromCharCode(Math.floor(r() * 256));
      expect(() => lexLine(s)).not.toThrow();
    }
  });
});
