import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compileBpf } from '../../helpers/bpfcc';
import { DEFAULT_PACKET as REF_PACKET, PROGS_DIR } from '../../helpers/ref';
import { BpfscopeError } from '../../../main/errors';
import { parseObject } from '../../../main/object/object';
import { parseBtf } from '../../../main/object/btf/parse';
import { linkProgram } from '../../../main/object/link';
import { applyCoreRelos, essentialName, type CoreDecision } from '../../../main/object/core';
import { sanitizeBtf } from '../../../main/kernel/btf-sanitize';
import { DEFAULT_PACKET } from '../../../main/kernel/test-run';
import { parseCapEff } from '../../../main/kernel/probe';
import { closingError, parseLogStats } from '../../../main/kernel/log-stats';
import { internalMapName, objectName } from '../../../main/kernel/maps';

/** Pure parts of the loader: no privileges needed, oracles are pahole, bpftool and the C header. */
const work = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-f-pure-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const objects = ['new_drop', 'list', 'globals', 'rbtree', 'subprog'].map((n) => path.join(PROGS_DIR, `${n}.bpf.o`));

describe('CO-RE against vmlinux BTF, checked with pahole and bpftool', () => {
  const vmlinux = parseBtf(readFileSync('/sys/kernel/btf/vmlinux'));
  const obj = compileBpf(work, 'corepure', `#include "bpfscope.h"
struct sk_buff___flv { unsigned int len; void *not_in_kernel; } __attribute__((preserve_access_index));
__u64 out[12];
SEC("tc") int core_pure(struct __sk_buff *skb) {
	struct sk_buff *s = 0;
	out[0] = bpf_core_field_offset(struct task_struct, pid);
	out[1] = bpf_core_field_size(struct task_struct, comm);
	out[2] = bpf_core_field_offset(struct task_struct, comm);
	out[3] = bpf_core_field_exists(struct sk_buff___flv, not_in_kernel);
	out[4] = bpf_core_field_offset(struct sk_buff___flv, len);
	out[5] = bpf_core_type_size(struct sk_buff);
	out[6] = bpf_core_enum_value(enum bpf_map_type, BPF_MAP_TYPE_RINGBUF);
	out[7] = bpf_core_type_id_kernel(struct task_struct);
	out[8] = __builtin_preserve_field_info(s->pkt_type, BPF_FIELD_BYTE_OFFSET);
	out[9] = __builtin_preserve_field_info(s->pkt_type, BPF_FIELD_LSHIFT_U64);
	out[10] = __builtin_preserve_field_info(s->pkt_type, BPF_FIELD_RSHIFT_U64);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
`);
  const parsed = parseObject(readFileSync(obj), obj);
  const linked = linkProgram(parsed, 'core_pure');
  const relos = linked.relocations.flatMap((r) => (r.kind === 'core' ? [{ insnIdx: r.insnIdx, typeId: r.relo.typeId, accessStr: r.relo.accessStr, kind: r.relo.kind }] : []));
  const { decisions } = applyCoreRelos(linked.insns, relos, parsed.btf!, [{ name: 'vmlinux', btf: vmlinux }]);
  const find = (kind: string, spec: string): CoreDecision => {
    const d = decisions.find((x) => x.kind === kind && x.localSpec.startsWith(spec + ' '));
    if (!d) throw new Error(`no ${kind} decision for ${spec}: ${decisions.map((x) => `${x.kind} ${x.localSpec}`).join('; ')}`);
    return d;
  };
  const pahole = (struct: string): string => execFileSync('pahole', ['-C', struct, '/sys/kernel/btf/vmlinux'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const member = (text: string, re: RegExp): [number, number] => {
    const m = new RegExp(`${re.source}\\s*/\\*\\s*(\\d+)(?::\\s*\\d+)?\\s+(\\d+)\\s*\\*/`).exec(text);
    if (!m) throw new Error(`pahole has no ${re}`);
    return [Number(m[1]), Number(m[2])];
  };

  it('field offsets and sizes equal pahole', () => {
    const task = pahole('task_struct');
    expect(find('FIELD_BYTE_OFFSET', 'struct task_struct.pid').value).toBe(member(task, /\bpid;/)[0]);
    expect(find('FIELD_BYTE_OFFSET', 'struct task_struct.comm').value).toBe(member(task, /\bcomm\[16\];/)[0]);
    expect(find('FIELD_BYTE_SIZE', 'struct task_struct.comm').value).toBe(member(task, /\bcomm\[16\];/)[1]);
    const skb = pahole('sk_buff');
    expect(find('TYPE_SIZE', 'struct sk_buff').value).toBe(Number(/\/\* size: (\d+),/.exec(skb)![1]));
    expect(find('FIELD_BYTE_OFFSET', 'struct sk_buff___flv.len').value).toBe(member(skb, /\blen;/)[0]);
    // A bit-field: pahole prints 'byte:bit size'.
    const pkt = /pkt_type:3;\s*\/\*\s*(\d+):\s*(\d+)/.exec(skb)!;
    const [byte, bit] = [Number(pkt[1]), Number(pkt[2])];
    expect(find('FIELD_BYTE_OFFSET', 'struct sk_buff.pkt_type').value).toBe(byte);
    expect(find('FIELD_LSHIFT_U64', 'struct sk_buff.pkt_type').value).toBe(64 - (bit + 3));
    expect(find('FIELD_RSHIFT_U64', 'struct sk_buff.pkt_type').value).toBe(64 - 3);
  });

  it('a field the kernel lacks does not exist; the flavor matches its base name', () => {
    const d = find('FIELD_EXISTS', 'struct sk_buff___flv.not_in_kernel');
    expect(d.value).toBe(0);
    expect(d.poisoned).toBe(false);
    expect(d.candidates.some((c) => c.typeName === 'struct sk_buff' && !c.matched)).toBe(true);
    expect(essentialName('sk_buff___flv')).toBe('sk_buff');
    expect(essentialName('a___b___c')).toBe('a___b');
    expect(essentialName('____x')).toBe('____x');
  });

  it('malformed relocation records: poisoned with the reason, or one BpfscopeError', () => {
    const idx = relos[0].insnIdx;
    const bad = applyCoreRelos(linked.insns, [{ ...relos[0], accessStr: '0:999' }, { ...relos[0], accessStr: 'x' }], parsed.btf!, [{ name: 'vmlinux', btf: vmlinux }]);
    expect(bad.decisions.map((d) => [d.poisoned, d.error !== undefined])).toEqual([[true, true], [true, true]]);
    expect(bad.insns[idx]).toMatchObject({ code: 0x85, imm: 195896080 });
    expect(() => applyCoreRelos(linked.insns, [{ ...relos[0], kind: 99 }], parsed.btf!, [])).toThrow(BpfscopeError);
    expect(() => applyCoreRelos(linked.insns, [{ ...relos[0], insnIdx: 1e6 }], parsed.btf!, [])).toThrow(BpfscopeError);
  });

  it('enum values and type ids equal bpftool', () => {
    const dump = execFileSync('bpftool', ['btf', 'dump', 'file', '/sys/kernel/btf/vmlinux'], { encoding: 'utf8', maxBuffer: 256 << 20 });
    expect(find('ENUMVAL_VALUE', 'enum bpf_map_type::BPF_MAP_TYPE_RINGBUF').value).toBe(Number(/'BPF_MAP_TYPE_RINGBUF' val=(\d+)/.exec(dump)![1]));
    expect(find('TYPE_ID_TARGET', 'struct task_struct').value).toBe(Number(/^\[(\d+)\] STRUCT 'task_struct'/m.exec(dump)![1]));
  });
});

describe('BTF sanitizing', () => {
  it('DATASEC sizes and offsets come from the ELF; .ksyms entries become dummy vars; the result parses', () => {
    for (const file of objects) {
      const obj = parseObject(readFileSync(file), file);
      const sec = obj.elf.sections.find((s) => s.name === '.BTF')!;
      const out = sanitizeBtf(sec.data, obj.elf);
      const btf = parseBtf(out.bytes);
      for (const t of btf.types) {
        if (t.kind === 'FUNC') expect(t.linkage, `${file} ${t.name}`).toBeLessThan(2);
        if (t.kind !== 'DATASEC') continue;
        const elfSec = obj.elf.sections.find((s) => s.name === t.name);
        if (t.name === '.ksyms') {
          for (const v of t.vars) expect(btf.types[v.type].name).toBe('dummy_ksym');
          continue;
        }
        if (!elfSec) continue;
        expect(t.size, `${file} ${t.name}`).toBe(elfSec.size);
        for (const v of t.vars) {
          const name = btf.types[v.type].name;
          const sym = obj.elf.symbols.find((y) => y.name === name && y.shndx === elfSec.index);
          expect(v.offset, `${file} ${name}`).toBe(sym!.value);
        }
      }
      // Type ids are kept: every original type is where it was.
      const orig = parseBtf(sec.data);
      expect(btf.types.slice(0, orig.types.length).map((t) => t.name)).toEqual(orig.types.map((t) => t.name));
    }
  });

  it('fuzzed BTF gives a BpfscopeError or a result, never a crash', () => {
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (const file of objects) {
      const obj = parseObject(readFileSync(file), file);
      const data = obj.elf.sections.find((s) => s.name === '.BTF')!.data;
      for (let i = 0; i < 200; i++) {
        const b = Uint8Array.from(data.subarray(0, i % 3 === 0 ? rnd(data.length) : data.length));
        for (let k = 0; k < 4; k++) if (b.length) b[rnd(b.length)] = rnd(256);
        try {
          sanitizeBtf(b, obj.elf);
        } catch (err) {
          expect(err).toBeInstanceOf(BpfscopeError);
        }
      }
    }
  });
});

describe('small facts', () => {
  it('the default test-run packet is the reference packet of test/ref/packet.h', () => {
    expect(Buffer.from(DEFAULT_PACKET).toString('hex')).toBe(Buffer.from(REF_PACKET).toString('hex'));
  });

  it('capabilities from CapEff', () => {
    expect(parseCapEff('CapEff:\t000001ffffffffff\n')).toEqual({ CAP_SYS_ADMIN: true, CAP_PERFMON: true, CAP_BPF: true, CAP_NET_ADMIN: true });
    expect(parseCapEff('CapEff:\t0000000000000000\n')).toEqual({ CAP_SYS_ADMIN: false, CAP_PERFMON: false, CAP_BPF: false, CAP_NET_ADMIN: false });
    expect(parseCapEff('CapEff:\t000000c000000000\n')).toEqual({ CAP_SYS_ADMIN: false, CAP_PERFMON: true, CAP_BPF: true, CAP_NET_ADMIN: false });
  });

  it("libbpf's internal map names", () => {
    expect(objectName('/x/globals.bpf.o')).toBe('globals');
    expect(internalMapName('globals', '.bss')).toBe('globals.bss');
    expect(internalMapName('my_object_name', '.rodata')).toBe('my_objec.rodata');
    expect(internalMapName('my_object_name', '.kconfig')).toBe('my_obje.kconfig');
    expect(internalMapName('obj', '.data.locks')).toBe('.data.locks');
    expect(internalMapName('obj', '.rodata.str1.1')).toBe('.rodata.str1.1');
    expect(internalMapName('obj', '.data.a_very_long_name')).toBe('.data.a_very_lo');
  });

  it('stats and the closing error from a rejected log in test/fixtures/logs', () => {
    const fixture = readFileSync(path.join(PROGS_DIR, '../../test/fixtures/logs/reject_leak.leak_on_branch.log'), 'utf8');
    const s = parseLogStats(fixture);
    expect(s.processedInsns).toBe(Number(/^processed (\d+) insns/m.exec(fixture)![1]));
    expect(closingError(fixture)).toMatch(/^Unreleased reference id=\d+ alloc_insn=\d+\nBPF_EXIT instruction in main prog would lead to reference leak$/);
  });

  it('no closing error when a rejected log ends on a walk line (ENOTSUPP after func#0 @0, a walk cut short)', () => {
    // What 6.18 prints for a struct_ops program loaded without its struct (errno 524).
    expect(closingError('func#0 @0\nprocessed 0 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n')).toBeUndefined();
    expect(closingError('0: R1=ctx() R10=fp0\n0: (b7) r0 = 0                        ; R0=0\n')).toBeUndefined();
    expect(closingError('')).toBeUndefined();
    expect(closingError('func#0 @0\n0: R1=ctx() R10=fp0\nR0 !read_ok\nprocessed 1 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n')).toBe('R0 !read_ok');
  });
});
