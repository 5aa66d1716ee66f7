import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { hex64, parseKallsyms, resolveTypelessKsyms } from '../../../main/object/kallsyms';
import { linkProgram } from '../../../main/object/link';
import { parseObject } from '../../../main/object/object';
import { relocateProgram, type ResolvedExtern } from '../../../main/object/relocate';
import { PROGS } from './helpers';

/**
 * Typeless __ksym externs: the kallsyms parser and resolver (libbpf 1.1's
 * rules, see main/object/kallsyms.ts), the object model's typeless mark and
 * the ld_imm64 the relocation writes. Pure: kallsyms text is given here.
 */
const TEXT = [
  'ffffffff81000000 T _stext',
  'ffffffff814e7a90 T bpf_prog_put',
  'ffffffff81234560 t dup_same',
  'ffffffff81234560 t dup_same',
  'ffffffff81111110 t dup_far',
  'ffffffffc0026c80 t in_module\t[bpf]',
  'ffffffffc0030000 d mod_data\t[nf_tables]',
  'ffffffff82222220 t dup_far',
  '',
].join('\n');

const want = (...n: string[]): Set<string> => new Set(n);

describe('kallsyms parser', () => {
  it('finds wanted names with type and module, ignores the rest', () => {
    const k = parseKallsyms(TEXT, want('bpf_prog_put', 'in_module', 'mod_data', 'absent'));
    expect(k.lines).toBe(8);
    expect(k.addressesHidden).toBe(false);
    expect(k.badLine).toBeUndefined();
    expect(k.found.get('bpf_prog_put')).toEqual({ addr: 0xffffffff814e7a90n, type: 'T' });
    // The [mod] suffix plays no part in the match; it is kept for the trace.
    expect(k.found.get('in_module')).toEqual({ addr: 0xffffffffc0026c80n, type: 't', module: 'bpf' });
    expect(k.found.get('mod_data')).toEqual({ addr: 0xffffffffc0030000n, type: 'd', module: 'nf_tables' });
    expect(k.found.has('absent')).toBe(false);
    expect(k.found.has('_stext')).toBe(false);
  });

  it('a name twice at one address is one symbol; at two addresses it is ambiguous', () => {
    const k = parseKallsyms(TEXT, want('dup_same', 'dup_far'));
    expect(k.found.get('dup_same')?.addr).toBe(0xffffffff81234560n);
    expect(k.ambiguous.has('dup_same')).toBe(false);
    expect(k.ambiguous.get('dup_far')).toEqual([0xffffffff81111110n, 0xffffffff82222220n]);
  });

  it('all-zero addresses (not root, kptr_restrict) are noticed; one non-zero address is enough to trust them', () => {
    const hidden = TEXT.replace(/^[0-9a-f]{16}/gm, '0000000000000000');
    const k = parseKallsyms(hidden, want('bpf_prog_put'));
    expect(k.addressesHidden).toBe(true);
    expect(k.found.get('bpf_prog_put')?.addr).toBe(0n);
    expect(parseKallsyms(hidden.replace('0000000000000000 T _stext', 'ffffffff81000000 T _stext'), want()).addressesHidden).toBe(false);
    expect(parseKallsyms('', want('x')).addressesHidden).toBe(false);
  });

  it('a line libbpf cannot read stops the parse and is named', () => {
    const k = parseKallsyms('ffffffff81000000 T a\nnot a kallsyms line\nffffffff81000010 T b\n', want('a', 'b'));
    expect(k.badLine).toEqual({ line: 2, text: 'not a kallsyms line' });
    expect(k.found.has('b')).toBe(false);
  });

  it('names are cut at 499 bytes as libbpf\'s %499s reads them', () => {
    const long = 'x'.repeat(520);
    const k = parseKallsyms(`ffffffff81000000 T ${long}\n`, want('x'.repeat(499)));
    expect(k.found.get('x'.repeat(499))?.addr).toBe(0xffffffff81000000n);
  });
});

describe('typeless ksym resolution', () => {
  const k = parseKallsyms(TEXT, want('bpf_prog_put', 'dup_far', 'in_module', 'gone', 'gone_weak'));
  const r = resolveTypelessKsyms(
    [
      { name: 'bpf_prog_put', weak: false },
      { name: 'in_module', weak: false },
      { name: 'gone', weak: false },
      { name: 'gone_weak', weak: true },
      { name: 'dup_far', weak: true },
    ],
    k,
  );
  const by = new Map(r.map((x) => [x.name, x]));

  it('a listed name gets its address, with where kallsyms has it in the decision', () => {
    expect(by.get('bpf_prog_put')).toMatchObject({ addr: 0xffffffff814e7a90n, decision: 'kallsyms 0xffffffff814e7a90 (T bpf_prog_put)' });
    expect(by.get('bpf_prog_put')?.error).toBeUndefined();
    expect(by.get('in_module')?.decision).toBe('kallsyms 0xffffffffc0026c80 (t in_module [bpf])');
  });

  it('weak and not listed: 0; strong and not listed: ESRCH; ambiguous: EINVAL even when weak', () => {
    expect(by.get('gone_weak')).toMatchObject({ addr: 0n, decision: 'weak, not in kallsyms: 0' });
    expect(by.get('gone')?.errno).toBe(3);
    expect('addr' in by.get('gone')!).toBe(false);
    expect(by.get('gone')!.error).toContain("extern 'gone' (strong): not resolved");
    expect(by.get('dup_far')?.errno).toBe(22);
    expect('addr' in by.get('dup_far')!).toBe(false);
    expect(by.get('dup_far')!.error).toContain('resolution is ambiguous: 0xffffffff81111110 or 0xffffffff82222220');
  });

  it('hidden addresses are written as 0, and the decision says why', () => {
    const hidden = parseKallsyms(TEXT.replace(/^[0-9a-f]{16}/gm, '0000000000000000'), want('bpf_prog_put'));
    const [d] = resolveTypelessKsyms([{ name: 'bpf_prog_put', weak: false }], hidden);
    expect(d.addr).toBe(0n);
    expect(d.error).toBeUndefined();
    expect(d.decision).toContain('kallsyms shows every address as 0 to this process (not root, or kernel.kptr_restrict)');
  });

  it('an unreadable or malformed kallsyms fails every typeless ksym with EINVAL', () => {
    const [a] = resolveTypelessKsyms([{ name: 'x', weak: true }], { ...parseKallsyms('', want()), readError: 'cannot read /proc/kallsyms: EACCES' });
    expect(a).toMatchObject({ errno: 22, error: "extern (ksym) 'x': cannot read /proc/kallsyms: EACCES" });
    const [b] = resolveTypelessKsyms([{ name: 'x', weak: false }], parseKallsyms('garbage\n', want('x')));
    expect(b.errno).toBe(22);
    expect(b.error).toContain('/proc/kallsyms line 1');
  });

  it('hex64 pads to 16 digits', () => {
    expect(hex64(0n)).toBe('0x0000000000000000');
    expect(hex64(0xffffffff814e7a90n)).toBe('0xffffffff814e7a90');
  });
});

describe('typeless ksyms in the object model and the relocation (ksym.bpf.o)', () => {
  const file = path.join(PROGS, 'ksym.bpf.o');
  const obj = parseObject(readFileSync(file), file);

  it('both `const void` ksyms are typeless; kfuncs and typed ksyms are not', () => {
    expect(obj.externs.map((e) => [e.name, e.kind, e.weak, e.typeless ?? false])).toEqual([
      ['bpf_prog_put', 'ksym', false, true],
      ['bpfscope_not_a_kernel_symbol', 'ksym', true, true],
    ]);
    const list = parseObject(readFileSync(path.join(PROGS, 'list.bpf.o')), 'list.bpf.o');
    expect(list.externs.filter((e) => e.typeless)).toEqual([]);
  });

  const linked = linkProgram(obj, 'ksym_addrs');
  const ext = (over: Partial<ResolvedExtern> & { name: string }): ResolvedExtern => ({ kind: 'ksym', weak: false, fdIndex: 0, ...over });
  const targets = (externs: ResolvedExtern[]): Parameters<typeof relocateProgram>[2] => ({
    maps: new Map(),
    dataMaps: new Map([['.bss', 7]]),
    externs: new Map(externs.map((e) => [e.name, e])),
  });

  it('the address goes into the ld_imm64 as a plain constant: src 0, imm low half, next imm high half', () => {
    const r = relocateProgram(
      linked,
      linked.insns,
      targets([
        ext({ name: 'bpf_prog_put', typeless: { addr: 0xffffffff814e7a90n, decision: 'kallsyms 0xffffffff814e7a90 (T bpf_prog_put)' } }),
        ext({ name: 'bpfscope_not_a_kernel_symbol', weak: true, typeless: { addr: 0n, decision: 'weak, not in kallsyms: 0' } }),
      ]),
    );
    expect(r.errors).toEqual([]);
    const at = linked.relocations.filter((x) => x.kind === 'extern').map((x) => x.insnIdx);
    expect(at).toEqual([2, 11]);
    expect([r.insns[2].code, r.insns[2].src, r.insns[2].imm >>> 0, r.insns[3].imm >>> 0, r.insns[2].imm64]).toEqual([0x18, 0, 0x814e7a90, 0xffffffff, 0xffffffff814e7a90n]);
    expect([r.insns[11].src, r.insns[11].imm, r.insns[12].imm]).toEqual([0, 0, 0]);
    expect(r.applied.filter((a) => a.kind === 'ksym')).toEqual([
      { insnIdx: 2, kind: 'ksym', symbol: 'bpf_prog_put', target: 'kallsyms 0xffffffff814e7a90 (T bpf_prog_put)', value: BigInt.asIntN(64, 0xffffffff814e7a90n) },
      { insnIdx: 11, kind: 'ksym', symbol: 'bpfscope_not_a_kernel_symbol', target: 'weak, not in kallsyms: 0', value: 0n },
    ]);
  });

  it('a strong one kallsyms lacks leaves the program unloadable, with the sentence', () => {
    const r = relocateProgram(
      linked,
      linked.insns,
      targets([
        ext({ name: 'bpf_prog_put', typeless: { decision: 'not in kallsyms' }, error: "extern 'bpf_prog_put' (strong): not resolved", errno: 3 }),
        ext({ name: 'bpfscope_not_a_kernel_symbol', weak: true, typeless: { addr: 0n, decision: 'weak, not in kallsyms: 0' } }),
      ]),
    );
    expect(r.errors).toEqual(["extern 'bpf_prog_put' (strong): not resolved"]);
  });
});
