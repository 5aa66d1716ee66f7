import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { cdecl } from '../../../main/object/btf/cdecl';
import { parseObject } from '../../../main/object/object';
import { objNewZeroedRanges, structLayout } from '../../../main/object/layout';
import type { BtfComposite } from '../../../main/object/btf/types';
import { compileBpf, exampleObjects, PRELUDE, sh, SHAPES_C } from './helpers';
import { parseBpftoolC, parseDwarfDeclTags, parsePahole } from './pahole';

const objects = [...exampleObjects(), compileBpf('shapes', SHAPES_C)];

function load(file: string) {
  const obj = parseObject(new Uint8Array(readFileSync(file)), file);
  return obj.btf!;
}

describe('struct layouts equal pahole -F btf', () => {
  for (const file of objects) {
    it(file.split('/').pop()!, () => {
      const btf = load(file);
      const pahole = parsePahole(sh('pahole', ['-F', 'btf', file]));
      const named = btf.types.filter((t): t is BtfComposite => (t.kind === 'STRUCT' || t.kind === 'UNION') && t.name !== '');
      // pahole prints each named struct once; so must we find each one.
      expect(pahole.length).toBeGreaterThan(0);
      let compared = 0;
      for (const p of pahole) {
        const t = named.find((x) => x.name === p.name && x.kind === (p.kind === 'struct' ? 'STRUCT' : 'UNION'));
        expect(t, `${p.kind} ${p.name}`).toBeDefined();
        const l = structLayout(btf, t!.id);
        const where = `${file}: ${p.kind} ${p.name}`;
        expect(l.members.length, where).toBe(p.members.length);
        l.members.forEach((m, i) => {
          const pm = p.members[i];
          expect({ offset: m.offset, size: m.size, bit: m.bitOffset }, `${where}.${m.name}`).toEqual({ offset: pm.offset, size: pm.size, bit: pm.bit });
        });
        if (p.kind === 'struct') {
          expect(l.size, where).toBe(p.size);
          expect(l.holes.map((h) => h.size), where).toEqual(p.holes);
          expect(l.bitHoles.map((h) => h.bits), where).toEqual(p.bitHoles);
          expect(l.padding, where).toBe(p.padding);
          expect(l.bitPadding, where).toBe(p.bitPadding);
        }
        compared++;
      }
      expect(compared).toBe(pahole.length);
    });
  }
});

// pahole 1.24 prints <ERROR> for type-tagged members (and gets nested array
// dimensions backwards); bpftool's C dump is the oracle for declarations.
describe('member declarations equal bpftool btf dump format c', () => {
  for (const file of objects) {
    it(file.split('/').pop()!, () => {
      const btf = load(file);
      const theirs = parseBpftoolC(sh('bpftool', ['btf', 'dump', 'file', file, 'format', 'c']));
      let compared = 0;
      for (const t of btf.types) {
        if ((t.kind !== 'STRUCT' && t.kind !== 'UNION') || !t.name) continue;
        const decls = theirs.get(`${t.kind === 'STRUCT' ? 'struct' : 'union'} ${t.name}`);
        expect(decls, t.name).toBeDefined();
        for (const m of t.members) {
          const anon = btf.types[m.type];
          if (!m.name || ((anon.kind === 'STRUCT' || anon.kind === 'UNION') && !anon.name)) continue;
          let ours = cdecl(btf, m.type, m.name, { tagStyle: 'attribute' });
          if (m.bitfieldSize) ours += `: ${m.bitfieldSize}`;
          expect(ours, `${t.name}.${m.name}`).toBe(decls!.get(m.name));
          compared++;
        }
      }
      expect(compared).toBeGreaterThan(0);
    });
  }
});

describe('special fields and decl tags', () => {
  it('decl tags on members equal the DWARF annotations clang wrote', () => {
    for (const file of objects) {
      const btf = load(file);
      const dwarf = parseDwarfDeclTags(sh('llvm-dwarfdump-19', ['--debug-info', file]));
      const ours = new Map<string, string[]>();
      for (const t of btf.types) {
        if (t.kind !== 'STRUCT' || !t.name) continue;
        const l = structLayout(btf, t.id);
        if (l.tags.length) ours.set(t.name, l.tags);
        for (const m of l.members) if (m.tags) ours.set(`${t.name}.${m.name}`, m.tags);
      }
      expect(Object.fromEntries(ours), file).toEqual(Object.fromEntries(dwarf));
    }
  });

  it('kptr type tags, contains: tags, arrays and nested specials in the shapes object', () => {
    const btf = load(objects[objects.length - 1]);
    const val = btf.types.find((t) => t.kind === 'STRUCT' && t.name === 'val')!;
    const l = structLayout(btf, val.id);
    const special = Object.fromEntries(l.members.map((m) => [m.name, m.special ?? null]));
    expect(special).toEqual({
      lock: 'bpf_spin_lock',
      head: 'bpf_list_head contains elem.node',
      stash: 'kptr elem',
      slots: 'kptr elem [2]',
      pc: 'percpu_kptr tnode',
      weak: 'kptr_untrusted tnode',
      root: 'bpf_rb_root contains tnode.rb',
      timer: 'bpf_timer',
      nested: null,
    });
    expect(l.members.find((m) => m.name === 'stash')!.type).toBe('struct elem __kptr *');
    // bpf_obj_new on 6.18 initialises exactly the special fields, nested ones included.
    expect(objNewZeroedRanges(l).map((z) => `${z.field}@${z.offset}+${z.size}:${z.init}`)).toEqual([
      'lock@0+4:zero',
      'head@8+16:list_head=self',
      'stash@24+8:zero',
      'slots@32+16:zero',
      'pc@48+8:zero',
      'weak@56+8:zero',
      'root@64+16:zero',
      'timer@80+16:zero',
      'nested.lock@96+4:zero',
      'nested.head@104+16:list_head=self',
    ]);
  });
});

describe('vmlinux layouts', () => {
  const path = '/sys/kernel/btf/vmlinux';
  it('every uniquely named kernel struct equals pahole, and every member declaration equals bpftool format c', async () => {
    const { parseBtf } = await import('../../../main/object/btf/parse');
    const btf = parseBtf(new Uint8Array(readFileSync(path)));
    const counts = new Map<string, number>();
    for (const t of btf.types) if ((t.kind === 'STRUCT' || t.kind === 'UNION') && t.name) counts.set(`${t.kind} ${t.name}`, (counts.get(`${t.kind} ${t.name}`) ?? 0) + 1);
    const unique = btf.types.filter((t): t is BtfComposite => (t.kind === 'STRUCT' || t.kind === 'UNION') && !!t.name && counts.get(`${t.kind} ${t.name}`) === 1);

    // Every struct with a unique name (pahole prints all of vmlinux in well under a second):
    // bit-fields past their unit in packed structs (orc_entry), padding after a run
    // of bit-fields that later members share (nft_meta) included.
    const byName = new Map(unique.filter((t) => t.kind === 'STRUCT').map((t) => [t.name, t]));
    const pahole = parsePahole(sh('pahole', ['-F', 'btf', path])).filter((p) => p.kind === 'struct' && byName.has(p.name));
    expect(pahole.length).toBeGreaterThan(5000);
    for (const p of pahole) {
      const l = structLayout(btf, byName.get(p.name)!.id);
      const ours = [l.members.map((m) => [m.offset, m.size, m.bitOffset]), l.size, l.holes.map((h) => h.size), l.bitHoles.map((h) => h.bits), l.padding, l.bitPadding];
      const theirs = [p.members.map((m) => [m.offset, m.size, m.bit]), p.size, p.holes, p.bitHoles, p.padding, p.bitPadding];
      if (JSON.stringify(ours) !== JSON.stringify(theirs)) expect(ours, p.name).toEqual(theirs);
    }
    for (const name of ['bpf_list_head', 'bpf_list_node', 'bpf_rb_node', 'bpf_spin_lock', 'bpf_mem_alloc', 'btf_record', 'sk_buff', 'task_struct', 'orc_entry', 'nft_meta']) {
      expect(pahole.some((p) => p.name === name), name).toBe(true);
    }

    const theirs = parseBpftoolC(sh('bpftool', ['btf', 'dump', 'file', path, 'format', 'c']));
    let compared = 0;
    for (const t of unique) {
      const decls = theirs.get(`${t.kind === 'STRUCT' ? 'struct' : 'union'} ${t.name}`);
      if (!decls) continue;
      for (const m of t.members) {
        const inner = btf.types[m.type];
        if (!m.name || ((inner.kind === 'STRUCT' || inner.kind === 'UNION') && !inner.name)) continue;
        const want = decls.get(m.name);
        // bpftool renames clashing type names (foo___2); those members are skipped.
        if (want === undefined || /___\d/.test(want)) continue;
        let ours = cdecl(btf, m.type, m.name, { tagStyle: 'attribute' });
        if (m.bitfieldSize) ours += `: ${m.bitfieldSize}`;
        if (ours !== want) expect(ours, `${t.name}.${m.name}`).toBe(want);
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(50_000);
  });
});

describe('layout summaries equal pahole', () => {
  it('for every uniquely named struct and union of vmlinux (holes, bit holes, padding, paddings of members, cachelines)', async () => {
    const { layoutSummary } = await import('../../../main/object/layout');
    const { parseBtf } = await import('../../../main/object/btf/parse');
    const vmlinux = '/sys/kernel/btf/vmlinux';
    const btf = parseBtf(new Uint8Array(readFileSync(vmlinux)));
    const byName = new Map<string, BtfComposite | null>();
    for (const t of btf.types) {
      if ((t.kind !== 'STRUCT' && t.kind !== 'UNION') || !t.name) continue;
      const key = `${t.kind === 'STRUCT' ? 'struct' : 'union'} ${t.name}`;
      byName.set(key, byName.has(key) ? null : t);
    }
    let compared = 0;
    for (const block of sh('pahole', ['-F', 'btf', vmlinux]).split(/\n(?=(?:struct|union) \S+ \{\n)/)) {
      const head = /^((?:struct|union) \S+) \{/.exec(block);
      const t = head && byName.get(head[1]);
      if (!t) continue;
      const body = /^[\s\S]*?\n\}[^\n]*/.exec(block)![0];
      const theirs = [...body.matchAll(/^\t\/\* ((?:size|sum|padding|bit_padding|last cacheline)[^*]*) \*\/$/gm)].map((m) => m[1]);
      const ours = layoutSummary(structLayout(btf, t.id));
      if (JSON.stringify(ours) !== JSON.stringify(theirs)) expect(ours, head![1]).toEqual(theirs);
      compared++;
    }
    expect(compared).toBeGreaterThan(5000);
  });
});

describe('layout text equals pahole', () => {
  const vmlinux = '/sys/kernel/btf/vmlinux';
  it('whole text (annotations off) for every example struct pahole prints without <ERROR> or inline members, summary lines for all', async () => {
    const { formatLayout, layoutSummary } = await import('../../../main/object/layout');
    const { parseBtf } = await import('../../../main/object/btf/parse');
    let whole = 0;
    let summaries = 0;
    const check = (btf: ReturnType<typeof load>, text: string, where: string): void => {
      const blocks = text.split(/\n(?=(?:struct|union) \S+ \{\n)/);
      for (const block of blocks) {
        const head = /^(struct|union) (\S+) \{/.exec(block);
        if (!head) continue;
        const body = /^[\s\S]*?\n\}[^\n]*/.exec(block)![0];
        const t = btf.types.find((x) => (x.kind === 'STRUCT' || x.kind === 'UNION') && x.name === head[2] && x.kind === head[1].toUpperCase());
        if (!t) continue;
        const l = structLayout(btf, t.id);
        // (pahole's "forced alignments" come from alignment it infers; we do not infer it.)
        const theirSummary = [...body.matchAll(/^\t\/\* ((?:size|sum|padding|bit_padding|last cacheline)[^*]*) \*\/$/gm)].map((m) => m[1]);
        expect(layoutSummary(l), `${where}: ${head[2]}`).toEqual(theirSummary);
        summaries++;
        // pahole 1.24 prints wrong C for some members, we print right C there:
        // <ERROR> for type tags, `int *` for a pointer to an array (__uint()),
        // `const char  *`, and multi-dimensional arrays with their sizes swapped.
        const paholeWrong = body.includes('<ERROR') || /^\tint \*\s+(type|max_entries|map_flags|key_size|value_size);/m.test(body) || /\w  \*/.test(body) || body.includes('* *') || body.includes('__aligned__') || body.includes('Force alignment') || (body.includes('__packed__') && !where.endsWith('.o')) || /\[\d+\]\[\d+\]/.test(body);
        if (!paholeWrong) {
          expect(formatLayout(l, { annotate: false }), `${where}: ${head[2]}`).toBe(body);
          whole++;
        }
      }
    };
    for (const file of objects) check(load(file), sh('pahole', ['-F', 'btf', file]), file);
    const vbtf = parseBtf(new Uint8Array(readFileSync(vmlinux)));
    // pahole also infers alignment attributes and packing of kernel structs, which
    // BTF does not record: those (and its C mistakes) are left out of the text
    // check; their numbers are checked above.
    const counts = new Map<string, number>();
    for (const t of vbtf.types) if (t.kind === 'STRUCT' && t.name) counts.set(t.name, (counts.get(t.name) ?? 0) + 1);
    const names = vbtf.types.filter((t) => t.kind === 'STRUCT' && t.name && counts.get(t.name) === 1).filter((_, i) => i % 40 === 0).map((t) => t.name);
    names.push('task_struct', 'sk_buff', 'bpf_map', 'bpf_prog_aux', 'btf_record', 'bpf_mem_alloc', 'inode', 'file', 'rq', 'net_device');
    // Bit-fields sharing a unit with later members ("combined with next fields"), cachelines
    // crossed inside a union's arm, flexible arrays in nested structs and alone, "(0 bytes)"
    // bit-field sums, padding notes meeting hole notes; padding of an anonymous struct
    // member counted (bpf_trampoline's func), of a typedef'd one not (poll_wqueues' pt).
    names.push('dev_pm_info', 'key', 'kvm_run', 'kvm_cpuid', 'perf_cgroup_event', 'bpf_raw_tracepoint_args', 'nft_meta', 'cpuinfo_x86', 'leaf_0x2_reg', 'hw_perf_event', 'msqid_ds', 'bpf_trampoline', 'poll_wqueues');
    check(vbtf, sh('pahole', ['-F', 'btf', '-C', names.join(','), vmlinux]), 'vmlinux');
    expect(whole).toBeGreaterThan(200);
    expect(summaries).toBeGreaterThan(250);
  });

  it('an anonymous const struct member is printed inline with its qualifier (struct vm_fault)', async () => {
    const { formatLayout } = await import('../../../main/object/layout');
    const { parseBtf } = await import('../../../main/object/btf/parse');
    const vbtf = parseBtf(new Uint8Array(readFileSync(vmlinux)));
    const vmFault = vbtf.types.find((t) => t.kind === 'STRUCT' && t.name === 'vm_fault')!;
    const text = formatLayout(structLayout(vbtf, vmFault.id), { annotate: false });
    // pahole -F btf prints `const struct {` here too (then lays the inner struct out as a separate one).
    expect(sh('pahole', ['-F', 'btf', '-C', 'vm_fault', vmlinux])).toMatch(/^\tconst struct \{$/m);
    expect(text).toMatch(/^\tconst struct \{\n\t\tstruct vm_area_struct \* vma;/m);
    expect(text).not.toMatch(/struct\s+;/);
  });
});

describe('bit-fields past their storage unit', () => {
  // A packed struct whose 40- and 60-bit fields run past their 8-byte units,
  // and a run of bit-fields that a later member shares bytes with.
  const file = compileBpf('straddle', `${PRELUDE}
struct straddle { unsigned int a:3; unsigned int b:30; unsigned long long c:40; char d; unsigned short e:9; unsigned long long f:60; } __attribute__((packed));
struct tailrun { int x; unsigned int key:8; unsigned char dreg, sreg; };
struct straddle straddle_g; struct tailrun tailrun_g;
SEC("tc") int straddle_prog(void *ctx) { return straddle_g.b + tailrun_g.key; }
`);
  it('holes, bit holes, padding and bit_padding equal pahole -F btf; summary lines too', async () => {
    const { layoutSummary } = await import('../../../main/object/layout');
    const btf = load(file);
    const text = sh('pahole', ['-F', 'btf', file]);
    const pahole = parsePahole(text);
    for (const name of ['straddle', 'tailrun']) {
      const p = pahole.find((x) => x.name === name)!;
      const t = btf.types.find((x) => x.kind === 'STRUCT' && x.name === name)!;
      const l = structLayout(btf, t.id);
      expect([l.size, l.holes.map((h) => h.size), l.bitHoles.map((h) => h.bits), l.padding, l.bitPadding], name).toEqual([p.size, p.holes, p.bitHoles, p.padding, p.bitPadding]);
      const body = new RegExp(`^struct ${name} \\{[\\s\\S]*?\\n\\}`, 'm').exec(text)![0];
      const theirSummary = [...body.matchAll(/^\t\/\* ((?:size|sum|padding|paddings|bit_padding|last cacheline)[^*]*) \*\/$/gm)].map((m) => m[1]);
      expect(layoutSummary(l), name).toEqual(theirSummary);
    }
    // The 7 bits between c (ends at bit 73) and d (byte 10), and 3 bits after f (bit 157 of 160).
    const l = structLayout(btf, btf.types.find((x) => x.kind === 'STRUCT' && x.name === 'straddle')!.id);
    expect(l.bitHoles).toEqual([{ bitOffset: 73, bits: 7 }]);
    expect([l.padding, l.bitPadding]).toEqual([0, 3]);
  });
});
