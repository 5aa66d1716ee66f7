import os from 'node:os';
import type { Command } from './index';
import { parseArgs } from './args';
import { BpfscopeError } from '../errors';
import { parseObject, type BpfObject } from '../object/object';
import { inFileOf, readObjectFile } from './read-file';
import { parseBtf } from '../object/btf/parse';
import type { Btf } from '../object/btf/types';
import { applyCoreRelos } from '../object/core';
import { entryPrograms, linkProgram, type LinkedProgram } from '../object/link';
import { programListing, kfuncIdsFromBtf, type ListingEntry } from '../object/insn/listing';

export const command: Command = {
  summary: 'print the instructions of an object\'s programs as the verifier log prints them',
  usage: `usage: bpfscope disasm OBJ [-p PROG] [--kernel-btf FILE] [--kernel-release R] [--json]

Prints each program of OBJ linked as libbpf links it (the program, then the
subprograms it calls, so indices equal the kernel's), one instruction per line
as the verifier log prints it: 'IDX: (OP) TEXT', with '; source @ file:line'
lines from line_info before the instructions they describe ('; source' alone
with --kernel-release before 6.8, as those kernels print it).

  -p, --program PROG   only this program (its function name)
  --kernel-btf FILE    resolve against this kernel BTF (e.g.
                       /sys/kernel/btf/vmlinux) as libbpf does: CO-RE
                       relocations (field offsets, sizes, type and enum
                       facts) and kfunc BTF ids; without it CO-RE'd
                       instructions print as compiled and a kfunc call
                       prints its name alone, since the id is the kernel's; a
                       weak kfunc that BTF lacks prints 'call #0', as libbpf
                       loads it
  --kernel-release R   print source lines as kernel release R (uname -r,
                       e.g. 6.1.0-50-amd64, or 'running' for this machine's)
                       prints them in its log: '; source' before 6.8,
                       '; source @ file:line' since; default: since 6.8
  --json               {programs: [{name, section, functions, lines, relocations}]}

Map, global-data and __kconfig references print as map[NAME] /
map[SECTION]+OFF (map[.kconfig]+OFF): the kernel prints the map's address
there. Other extern variables (__ksym) print as ksym[NAME].`,
  async run(argv) {
    const args = parseArgs(argv, { values: ['program', 'kernel-btf', 'kernel-release'], switches: ['json'], aliases: { p: 'program' } });
    const [file, extra] = args.positional;
    if (file === undefined || extra !== undefined) throw new BpfscopeError('expected one object file (bpfscope help disasm)');
    const obj = parseObject(readObjectFile(file), file);
    const btfPath = args.values.get('kernel-btf');
    const kernelBtf = btfPath === undefined ? undefined : inFileOf(btfPath, () => parseBtf(readObjectFile(btfPath)));
    const kfuncIds = kernelBtf && kfuncIdsFromBtf(kernelBtf);
    const release = args.values.get('kernel-release');
    if (release !== undefined && release !== 'running' && !/^\d+\.\d+/.test(release)) {
      throw new BpfscopeError(`--kernel-release takes a release such as 6.1.0-50-amd64 or 6.12, or 'running' (got '${release}')`);
    }
    const kernelRelease = release === 'running' ? os.release() : release;
    const wanted = args.values.get('program');
    const names = wanted !== undefined ? [wanted] : entryPrograms(obj.elf).filter((p) => p.global).map((p) => p.name);
    const programs = names.map((name) =>
      inFileOf(file, () => {
        const linked = linkProgram(obj, name);
        const shown = kernelBtf ? withCoreApplied(obj, linked, kernelBtf) : linked;
        return { linked: shown, listing: programListing(shown, kfuncIds, { kernelRelease }) };
      }),
    );
    if (args.switches.has('json')) {
      process.stdout.write(JSON.stringify({ file, programs: programs.map(toJson) }, bigintReplacer, 2) + '\n');
      return 0;
    }
    const out: string[] = [];
    for (const { linked, listing } of programs) {
      if (wanted === undefined) out.push(`${out.length ? '\n' : ''}${linked.name} (${linked.section}):`);
      for (const e of listing) out.push(e.text);
    }
    process.stdout.write(out.join('\n') + '\n');
    return 0;
  },
};

/** The program as libbpf hands it to the kernel after CO-RE against `target` (the object's own BTF is the local side). */
function withCoreApplied(obj: BpfObject, linked: LinkedProgram, target: Btf): LinkedProgram {
  const relos = linked.relocations.flatMap((r) => (r.kind === 'core' ? [{ ...r.relo, insnIdx: r.insnIdx }] : []));
  if (!relos.length || !obj.btf) return linked;
  return { ...linked, insns: applyCoreRelos(linked.insns, relos, obj.btf, [{ name: 'vmlinux', btf: target }]).insns };
}

function toJson({ linked, listing }: { linked: LinkedProgram; listing: ListingEntry[] }): unknown {
  return {
    name: linked.name,
    section: linked.section,
    functions: linked.functions,
    lines: listing.map((e) =>
      e.type === 'insn'
        ? { type: 'insn', idx: e.idx, text: e.text, code: e.insn.code, kind: e.insn.kind, op: e.insn.op, dst: e.insn.dst, src: e.insn.src, off: e.insn.off, imm: e.insn.imm, imm64: e.insn.imm64, target: e.insn.target }
        : { type: 'source', idx: e.idx, text: e.text, file: e.file, line: e.line, column: e.column },
    ),
    relocations: linked.relocations,
  };
}

function bigintReplacer(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? `0x${value.toString(16)}` : value;
}
