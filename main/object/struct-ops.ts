import { BpfscopeError } from '../errors';
import { findAllByName, resolveType, skipModifiers, typeById } from './btf/lookup';
import type { Btf, BtfComposite, BtfDatasec } from './btf/types';
import { STT_SECTION } from './elf';
import type { BpfObject } from './object';

/**
 * struct_ops variables: a `SEC(".struct_ops")` or `SEC(".struct_ops.link")`
 * global of a kernel struct type (`struct bpf_dummy_ops ops = { .test_1 =
 * (void *)test_1 }`). Each function-pointer member the initializer sets is a
 * relocation in `.rel.struct_ops[.link]` against the program's symbol; the
 * member is found by the relocation's offset inside the variable, as libbpf's
 * bpf_object__collect_st_ops_relos finds it.
 */
export interface StructOpsMember {
  /** Index among the local struct's members (the kernel's index is looked up by name at load). */
  index: number;
  name: string;
  /** Byte offset of the member inside the variable. */
  offset: number;
  program: string;
}

export interface StructOpsVariable {
  name: string;
  section: '.struct_ops' | '.struct_ops.link';
  /** The struct's name, which the kernel's BTF must also have (e.g. bpf_dummy_ops). */
  typeName: string;
  /** The variable's size: the value size of the BPF_MAP_TYPE_STRUCT_OPS map libbpf makes of it (key 4, one entry). */
  size: number;
  /** Every member of the local struct, set or not, in order (libbpf 1.1 looks each up in the kernel's struct). */
  memberNames: string[];
  members: StructOpsMember[];
}

export const STRUCT_OPS_SECTIONS = ['.struct_ops', '.struct_ops.link'] as const;

/** Every struct_ops variable of the object with the programs its members point at; a malformed one is a BpfscopeError naming the file and offset. */
export function structOpsVariables(obj: BpfObject): StructOpsVariable[] {
  const { elf, btf } = obj;
  const out: StructOpsVariable[] = [];
  for (const section of STRUCT_OPS_SECTIONS) {
    const sec = elf.sections.find((s) => s.name === section);
    if (!sec) continue;
    const fail = (msg: string, at = 0): never => {
      throw new BpfscopeError(`${obj.file}: ${section} at byte ${at}: ${msg}`, undefined, { offset: sec.offset + at });
    };
    const ds = btf && (findAllByName(btf, section, 'DATASEC')[0] as BtfDatasec | undefined);
    if (!btf || !ds) return fail(`no DATASEC ${section} in the object's BTF: struct_ops variables need BTF`);
    const vars = ds.vars.map((v) => {
      const vt = typeById(btf, v.type);
      if (vt.kind !== 'VAR') return fail(`DATASEC entry ${v.type} is ${vt.kind}, not VAR`, v.offset);
      const st = typeById(btf, resolveType(btf, vt.type));
      if (st.kind !== 'STRUCT') return fail(`variable '${vt.name}' is ${st.kind}, not a struct`, v.offset);
      return { name: vt.name, offset: v.offset, size: v.size, type: st as BtfComposite, members: [] as StructOpsMember[] };
    });
    const rel = elf.relSections.find((r) => r.target === sec.index);
    for (const e of rel?.entries ?? []) {
      const sym = elf.symbols[e.symbol];
      if (!sym) return fail(`relocation names symbol ${e.symbol}, which the symbol table lacks`, e.offset);
      const v = vars.find((x) => e.offset >= x.offset && e.offset < x.offset + x.size);
      if (!v) return fail(`relocation against '${sym.name}' is outside every variable`, e.offset);
      const at = e.offset - v.offset;
      const index = v.type.members.findIndex((m) => m.bitsOffset === at * 8);
      if (index < 0) return fail(`relocation against '${sym.name}' is not at a member of '${v.name}'`, e.offset);
      const m = v.type.members[index];
      const mt = typeById(btf, skipModifiers(btf, m.type));
      const target = mt.kind === 'PTR' ? typeById(btf, skipModifiers(btf, mt.type)) : undefined;
      if (target?.kind !== 'FUNC_PROTO') return fail(`member '${m.name}' of '${v.name}' is not a function pointer`, e.offset);
      // The symbol is the program's function (or its section symbol plus an offset in the slot).
      const progSym = sym.type === STT_SECTION ? undefined : sym;
      const prog = obj.programs.find((p) => p.sectionIndex === sym.shndx && (progSym ? p.name === progSym.name : p.insnOffset === 0));
      if (!prog) return fail(`member '${m.name}' of '${v.name}' points at '${sym.name}', which is not a program`, e.offset);
      if (prog.progType !== 'struct_ops') return fail(`member '${m.name}' of '${v.name}' points at '${prog.name}', a ${prog.progType ?? 'untyped'} program, not struct_ops`, e.offset);
      v.members.push({ index, name: m.name, offset: at, program: prog.name });
    }
    for (const v of vars) out.push({ name: v.name, section, typeName: v.type.name, size: v.size, memberNames: v.type.members.map((m) => m.name), members: v.members.sort((a, b) => a.index - b.index) });
  }
  return out;
}

/** The variable and member that point at a program, or undefined when none does (its load then carries no struct). */
export function structOpsSlot(vars: readonly StructOpsVariable[], program: string): { variable: StructOpsVariable; member: StructOpsMember } | undefined {
  for (const variable of vars) {
    const member = variable.members.find((m) => m.program === program);
    if (member) return { variable, member };
  }
  return undefined;
}

/**
 * What the kernel's BTF lacks for a struct_ops variable: its struct, or the
 * first member of the local struct (set or not) the kernel's struct has no
 * member of that name for. libbpf 1.1 fails the object then (-ENOENT for the
 * struct, -ENOTSUP "Cannot find member M in kernel BTF" for a member), so an
 * object built against a newer vmlinux.h (6.18's bpf_dummy_ops has
 * test_sleepable) is refused on an older kernel even if that member is unset.
 */
export function kernelStructGap(variable: StructOpsVariable, kernel: Btf): { kind: 'struct' } | { kind: 'member'; member: string } | undefined {
  const kern = findAllByName(kernel, variable.typeName, 'STRUCT')[0] as BtfComposite | undefined;
  if (!kern) return { kind: 'struct' };
  const have = new Set(kern.members.map((m) => m.name));
  const member = variable.memberNames.find((n) => !have.has(n));
  return member === undefined ? undefined : { kind: 'member', member };
}
