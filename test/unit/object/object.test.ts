import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { inspectObject } from '../../../main/object/summary';
import { parseObject, type BpfObject } from '../../../main/object/object';
import { structOpsVariables } from '../../../main/object/struct-ops';
import { parseBtf } from '../../../main/object/btf/parse';
import { findByName } from '../../../main/object/btf/lookup';
import { ATTACH_TYPES, PROG_TYPES, SECTION_PATTERNS, progTypeForSection } from '../../../main/object/progtypes';
import { MAP_TYPES } from '../../../main/object/maptypes';
import { kernelSkipReason, kernelTitle, MATRIX_ENV, matrixSuffix } from '../../helpers/kernel';
import { objectUnsupported, withSkipReason } from '../../helpers/support';
import { compileBpf, exampleObjects, NO_BTF_C, sh, SHAPES_C } from './helpers';

const here = path.dirname(new URL(import.meta.url).pathname);

/** Build libbpf-open.c (the libbpf oracle) once per source version. */
function libbpfOpen(): string {
  const src = path.join(here, 'libbpf-open.c');
  const dir = path.join(os.tmpdir(), 'bpfscope-libbpf-open');
  const bin = path.join(dir, `libbpf-open-${readFileSync(src).length}`);
  if (!existsSync(bin)) {
    mkdirSync(dir, { recursive: true });
    execFileSync('gcc', ['-O1', '-o', bin, src, '-lbpf']);
  }
  return bin;
}

interface LibbpfProg { name: string; section: string; type: number; attach: number; insns: number; autoload: boolean }
interface LibbpfMap { name: string; type: number; keySize: number; valueSize: number; maxEntries: number; flags: number; internal: boolean; keyId: number; valueId: number; init: string; mapExtra: bigint; numaNode: number; pinned: boolean }

function libbpfView(file: string): { progs: LibbpfProg[]; maps: LibbpfMap[] } {
  const out = sh(libbpfOpen(), [file]);
  const progs: LibbpfProg[] = [];
  const maps: LibbpfMap[] = [];
  for (const line of out.trim().split('\n')) {
    const f = line.split('\t');
    if (f[0] === 'prog') progs.push({ name: f[1], section: f[2], type: +f[3], attach: +f[4], insns: +f[5], autoload: f[6] === '1' });
    if (f[0] === 'map') maps.push({ name: f[1], type: +f[2], keySize: +f[3], valueSize: +f[4], maxEntries: +f[5], flags: +f[6], internal: f[7] === '1', keyId: +f[8], valueId: +f[9], init: f[10], mapExtra: BigInt(f[11]), numaNode: +f[12], pinned: f[13] === '1' });
  }
  return { progs, maps };
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

const objects = [...exampleObjects(), compileBpf('shapes', SHAPES_C), compileBpf('nobtf', NO_BTF_C, false)];

describe('parseObject equals what libbpf reads at open time', () => {
  for (const file of objects) {
    it(path.basename(file), () => {
      const obj: BpfObject = parseObject(new Uint8Array(readFileSync(file)), file);
      const ref = libbpfView(file);
      // (libbpf names a SEC("?tc") program's section without the '?'; ours keeps the ELF name.)
      expect(
        obj.programs.map((p) => ({ name: p.name, section: p.autoload ? p.section : p.section.slice(1), type: p.progTypeId, attach: p.expectedAttachTypeId, insns: p.insns.length, autoload: p.autoload })),
      ).toEqual(ref.progs);
      // libbpf makes a BPF_MAP_TYPE_STRUCT_OPS map of each .struct_ops variable; bpfscope keeps them apart
      // (the loader never creates them: see kernel/prepare.ts), so they are compared with structOpsVariables.
      const STRUCT_OPS_MAP = 26;
      const btfMaps = ref.maps.filter((m) => !m.internal && m.type !== STRUCT_OPS_MAP);
      expect(structOpsVariables(obj).map((v) => ({ name: v.name, keySize: 4, valueSize: v.size, maxEntries: 1 }))).toEqual(
        ref.maps.filter((m) => m.type === STRUCT_OPS_MAP).map(({ name, keySize, valueSize, maxEntries }) => ({ name, keySize, valueSize, maxEntries })),
      );
      expect(
        obj.maps.map((m) => ({ name: m.name, type: m.type, keySize: m.keySize, valueSize: m.valueSize, maxEntries: m.maxEntries, flags: m.flags, keyId: m.keyTypeId ?? 0, valueId: m.valueTypeId ?? 0, mapExtra: m.mapExtra, numaNode: m.numaNode, pinned: m.pinning === 1 })),
      ).toEqual(btfMaps.map(({ name, type, keySize, valueSize, maxEntries, flags, keyId, valueId, mapExtra, numaNode, pinned }) => ({ name, type, keySize, valueSize, maxEntries, flags, keyId, valueId, mapExtra, numaNode, pinned })));
      expect(inspectObject(obj).programs.map((p) => p.autoload ?? true)).toEqual(ref.progs.map((p) => p.autoload));
      // What inspect shows of them: map_extra, numa_node and pinning as libbpf has them.
      expect(inspectObject(obj).maps.map((m) => [m.name, m.mapExtra ?? '0', m.numaNode ?? 0, m.pinByName ?? false])).toEqual(
        btfMaps.map((m) => [m.name, m.mapExtra.toString(), m.numaNode, m.pinned]),
      );
      // Internal maps: one per global data section libbpf keeps, named after it, with its bytes.
      for (const m of ref.maps.filter((x) => x.internal)) {
        const sec = obj.data.filter((d) => m.name === d.name || m.name.endsWith(d.name.slice(0, 15)));
        expect(sec.length, `${m.name}`).toBeGreaterThanOrEqual(1);
        const d = sec.sort((a, b) => b.name.length - a.name.length)[0];
        expect(d.size, m.name).toBe(m.valueSize);
        if (d.kind !== 'kconfig') expect(hex(d.bytes), m.name).toBe(m.init);
      }
    });
  }
});

describe('relocations equal the ones libbpf collects', () => {
  for (const file of objects) {
    it(path.basename(file), () => {
      const obj = parseObject(new Uint8Array(readFileSync(file)), file);
      const r = spawnSync(libbpfOpen(), [file], { encoding: 'utf8', env: { ...process.env, LIBBPF_DEBUG: '1' } });
      // libbpf: sec '.reltc': collecting relocation for section(4) 'tc'
      // libbpf: sec '.reltc': relo #0: insn #3 against 'bpf_obj_new_impl'
      const theirs: string[] = [];
      let target = '';
      for (const line of r.stderr.split('\n')) {
        const sec = /collecting relocation for section\(\d+\) '(.*)'/.exec(line);
        if (sec) target = sec[1];
        const rel = /relo #\d+: insn #(\d+) against '(.*)'/.exec(line);
        if (rel) theirs.push(`${target}:${rel[1]}:${rel[2]}`);
      }
      const ours = [...obj.programs, ...obj.subprograms].flatMap((f) => f.relocations.map((x) => `${f.section}:${x.sectionInsnIdx}:${x.symbol}`));
      expect(ours.sort()).toEqual(theirs.sort());
    });
  }
});

// libbpf's debug log while it applies CO-RE relocations names each record:
//   prog 'list_push': relo #1: <local_type_id> [32] struct elem
//   prog 'list_push': relo #2: <byte_off> [21] struct __sk_buff.protocol (0:4 @ offset 16)
const LIBBPF_CORE_KIND: Record<string, string> = {
  field_byte_offset: 'byte_off', field_byte_size: 'byte_sz', field_exists: 'field_exists', field_signed: 'signed',
  field_lshift_u64: 'lshift_u64', field_rshift_u64: 'rshift_u64', type_id_local: 'local_type_id',
  type_id_target: 'target_type_id', type_exists: 'type_exists', type_size: 'type_size',
  enumval_exists: 'enumval_exists', enumval_value: 'enumval_value', type_matches: 'type_matches',
};

describe.skipIf(!!kernelSkipReason())(kernelTitle('CO-RE records equal the ones libbpf applies'), () => {
  for (const file of exampleObjects()) {
    // libbpf resolves externs before it applies CO-RE: with a kfunc this kernel lacks it
    // stops there, having applied none (progs.test.ts checks that refusal, libbpf's and ours).
    const reason = kernelSkipReason() ? undefined : objectUnsupported(file);
    it.skipIf(!!reason)(withSkipReason(path.basename(file), reason), () => {
      const obj = parseObject(new Uint8Array(readFileSync(file)), file);
      const r = spawnSync(libbpfOpen(), [file, 'load'], { encoding: 'utf8', env: { ...process.env, LIBBPF_DEBUG: '1' } });
      const seen = new Set<string>();
      let compared = 0;
      for (const line of r.stderr.split('\n')) {
        const m = /prog '(\w+)': relo #(\d+): <(\w+)> \[(\d+)\] [^(]*(?:\((\S+) @ offset \d+\))?$/.exec(line);
        if (!m || line.includes('candidate')) continue;
        const fn = [...obj.programs, ...obj.subprograms].find((f) => f.name === m[1])!;
        expect(fn, m[1]).toBeDefined();
        const rec = obj.btfExt!.coreRelos.find((s) => s.section === fn.section)!.records[Number(m[2])];
        const key = `${fn.section}#${m[2]}`;
        if (seen.has(key)) continue;
        seen.add(key);
        expect(LIBBPF_CORE_KIND[rec.kindName], line).toBe(m[3]);
        expect(rec.typeId, line).toBe(Number(m[4]));
        if (m[5] !== undefined) expect(rec.accessStr, line).toBe(m[5]);
        compared++;
      }
      const total = obj.btfExt?.coreRelos.reduce((n, s) => n + s.records.length, 0) ?? 0;
      expect(compared).toBe(total);
    });
  }
});

describe('object details', () => {
  const shapes = parseObject(new Uint8Array(readFileSync(objects[objects.length - 2])), 'shapes.bpf.o');

  it('an object without BTF still lists its programs and its variables from the symbol table', () => {
    const o = parseObject(new Uint8Array(readFileSync(objects[objects.length - 1])), 'nobtf.bpf.o');
    expect(o.btf).toBeUndefined();
    expect(o.programs.map((p) => [p.name, p.progType])).toEqual([['nobtf_xdp', 'xdp'], ['nobtf_sock', 'socket_filter']]);
    const vars = Object.fromEntries(o.data.flatMap((d) => d.variables.map((v) => [v.name, `${d.name}+${v.offset}/${v.size}`])));
    expect(vars).toMatchObject({ counter: '.data+0/4', limit: '.rodata+0/8', buf: '.bss+0/16' });
  });

  it('map-in-map: inner definition and initial slots from .rel.maps', () => {
    const outer = shapes.maps.find((m) => m.name === 'outer')!;
    expect(outer.typeName).toBe('array_of_maps');
    expect(outer.inner).toMatchObject({ typeName: 'array', keySize: 4, valueSize: 8, maxEntries: 1 });
    expect(outer.values).toEqual([null, 'inner1', null, 'inner2']);
  });

  it('relocations name their symbol, section and kind', () => {
    const p = shapes.programs[0];
    expect(p.relocations.map((r) => [r.kind, r.symbol, r.symbolSection]).sort()).toEqual([
      ['data', 'anon_g', '.bss'],
      ['data', 'packed_g', '.bss'],
    ]);
    for (const r of p.relocations) expect(p.insns[r.insnIdx].code).toBe(0x18);
  });

  it('externs of the examples are kfuncs with BTF FUNC ids', () => {
    const list = parseObject(new Uint8Array(readFileSync(objects.find((f) => f.endsWith('list.bpf.o'))!)), 'list.bpf.o');
    const names = list.externs.map((e) => e.name);
    expect(names).toContain('bpf_obj_new_impl');
    for (const e of list.externs) {
      expect(e.kind).toBe('kfunc');
      expect(list.btf!.types[e.btfId]).toMatchObject({ kind: 'FUNC', name: e.name, linkage: 2 });
    }
    // Every extern call site is a relocation of kind 'extern' on a call instruction.
    const ext = list.programs.flatMap((p) => p.relocations.filter((r) => r.kind === 'extern').map((r) => p.insns[r.insnIdx].code));
    expect(ext.length).toBeGreaterThan(0);
    expect(new Set(ext)).toEqual(new Set([0x85]));
  });

  it('func_info and line_info are sliced per function and start at its first instruction', () => {
    for (const f of [...shapes.programs, ...shapes.subprograms]) {
      expect(f.funcInfo[0]?.insnIdx).toBe(0);
      expect(f.btfFuncId).toBeGreaterThan(0);
      expect(shapes.btf!.types[f.btfFuncId]).toMatchObject({ kind: 'FUNC', name: f.name });
      for (const l of f.lineInfo) expect(l.insnIdx).toBeLessThan(f.insns.length);
    }
  });
});

const VMLINUX = '/sys/kernel/btf/vmlinux';
const enumTitle = `enum tables equal the running kernel${existsSync(VMLINUX) ? (process.env[MATRIX_ENV] ? matrixSuffix(os.release()) : '') : ` [skipped: no ${VMLINUX}]`}`;

describe.skipIf(!existsSync(VMLINUX))(enumTitle, () => {
  let btf: ReturnType<typeof parseBtf> | undefined;
  const values = (name: string, prefix: string): Map<string, number> => {
    btf ??= parseBtf(new Uint8Array(readFileSync(VMLINUX)));
    const t = findByName(btf, `enum ${name}`);
    if (!t || (t.kind !== 'ENUM' && t.kind !== 'ENUM64')) throw new Error(`no enum ${name}`);
    return new Map(t.values.filter((v) => v.name.startsWith(prefix)).map((v) => [v.name.slice(prefix.length).toLowerCase(), Number(v.value)]));
  };
  it('bpf_prog_type, bpf_map_type, bpf_attach_type', () => {
    // The kernel's enum is a prefix of ours: each value it has is our index for
    // that name, each of its values is one of ours, and a name it lacks (newer than
    // this kernel: 6.1 has no netfilter programs, no arena maps) comes after all of its values.
    const prefixOf = (ours: readonly string[], kernel: Map<string, number>, lookup: (n: string) => number | undefined): void => {
      let known = 0;
      ours.forEach((n, i) => {
        const v = lookup(n);
        if (v !== undefined) {
          expect(v, n).toBe(i);
          known++;
        } else expect(i, `${n}, not in this kernel's enum, after its ${kernel.size} values`).toBeGreaterThanOrEqual(kernel.size);
      });
      expect(known).toBe(kernel.size);
    };
    const progs = values('bpf_prog_type', 'BPF_PROG_TYPE_');
    prefixOf(PROG_TYPES, progs, (n) => progs.get(n));
    const maps = values('bpf_map_type', 'BPF_MAP_TYPE_');
    // 6.2 renamed (PERCPU_)CGROUP_STORAGE to ..._DEPRECATED and kept the old names as aliases of them.
    const mapValues = new Map([...maps].filter(([n]) => !maps.has(`${n}_deprecated`)));
    prefixOf(MAP_TYPES, mapValues, (n) => maps.get(`${n}_deprecated`) ?? maps.get(n));
    const attach = values('bpf_attach_type', 'BPF_');
    prefixOf(ATTACH_TYPES, attach, (n) => attach.get(n));
  });
  it('section names map to the program and attach types libbpf 1.1 gives them', () => {
    const names = SECTION_PATTERNS.map((p) => (p.endsWith('+') ? `${p.slice(0, -1)}/target` : p));
    names.push('tc', 'xdp', 'socket', 'syscall', 'fentry/x', 'kprobe', 'tracepoint/a/b', 'no_such_section');
    let known = 0;
    for (const line of sh(libbpfOpen(), ['--sections', ...names]).trim().split('\n')) {
      const [name, type, attach] = line.split('\t');
      const ours = progTypeForSection(name);
      // Names newer than the installed libbpf (tcx, netkit, *.session...) are ours alone.
      if (type === 'unknown') continue;
      expect(ours, name).toBeDefined();
      expect([ours!.progTypeId, ours!.expectedAttachTypeId], name).toEqual([Number(type), Number(attach)]);
      known++;
    }
    expect(known).toBeGreaterThan(80);
    expect(progTypeForSection('no_such_section')).toBeUndefined();
  });

  it('section names map like libbpf', () => {
    expect(progTypeForSection('tc')).toMatchObject({ progType: 'sched_cls', expectedAttachTypeId: 0 });
    expect(progTypeForSection('fentry/do_unlinkat')).toMatchObject({ progType: 'tracing', expectedAttachType: 'trace_fentry', attachTo: 'do_unlinkat' });
    expect(progTypeForSection('kprobe/foo')).toMatchObject({ progType: 'kprobe' });
    expect(progTypeForSection('syscall')).toMatchObject({ progType: 'syscall', sleepable: true });
    expect(progTypeForSection('tcx')).toBeUndefined();
  });
});
