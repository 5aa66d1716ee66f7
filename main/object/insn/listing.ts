import type { Btf } from '../btf/types';
import type { LinkedProgram } from '../link';
import { linkedNames } from '../link';
import { decodeInsns, disassemble, type Insn } from './instruction';

/**
 * How the kernel of `release` prints a line_info source line: `; SOURCE @ FILE:LINE`
 * since 6.8 (verbose_linfo gained the file's base name and the line number with
 * "bpf: emit source code file name and line number in verifier log"), `; SOURCE`
 * alone before. No release (a listing from the object alone): the newer form.
 */
export function linfoPrintsFileLine(release?: string): boolean {
  if (release === undefined) return true;
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (!m) return true;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major > 6 || (major === 6 && minor >= 8);
}

export interface ListingOptions {
  /** The kernel whose log the listing is to read like (the trace's recorded kernel, `uname -r`): it decides how source lines print. */
  kernelRelease?: string;
}

/** One line of a program listing: an instruction or the source line before it. */
export type ListingEntry =
  | { type: 'insn'; idx: number; text: string; insn: Insn }
  /** `; <source> @ <file>:<line>` (`; <source>` for a kernel before 6.8), as the verifier log prints line_info. */
  | { type: 'source'; idx: number; text: string; file: string; line: number; column: number; source: string };

/**
 * The listing the verifier log would show for a linked program, in index
 * order: each line_info record printed before its instruction as
 * log.c's verbose_linfo does (source text left-trimmed, file name without
 * its directories), then `IDX: (OP) TEXT` for each instruction.
 * `kfuncIds` supplies a kfunc's BTF id by name (kfuncIdsFromBtf); without
 * it a kfunc call prints the name alone. `opts.kernelRelease` prints source
 * lines as that kernel does (linfoPrintsFileLine).
 */
export function programListing(prog: LinkedProgram, kfuncIds?: (name: string) => number | undefined, opts: ListingOptions = {}): ListingEntry[] {
  const fileLine = linfoPrintsFileLine(opts.kernelRelease);
  const slots = decodeInsns(prog.insns);
  const names = linkedNames(prog, kfuncIds);
  const lines = new Map<number, (typeof prog.lineInfo)[number]>();
  for (const l of prog.lineInfo) lines.set(l.linkedIdx, l);
  const out: ListingEntry[] = [];
  for (const { idx, text } of disassemble(prog.insns, names)) {
    const l = lines.get(idx);
    if (l) {
      const source = l.line.replace(/^\s+/, '');
      const file = l.fileName.slice(l.fileName.lastIndexOf('/') + 1);
      out.push({ type: 'source', idx, text: fileLine ? `; ${source} @ ${file}:${l.lineNum}` : `; ${source}`, file, line: l.lineNum, column: l.column, source });
    }
    const insn = slots[idx];
    if (insn.kind !== 'ld_imm64_tail') out.push({ type: 'insn', idx, text: `${idx}: ${text}`, insn });
  }
  return out;
}

/** A kfunc name → BTF id lookup over a kernel BTF (vmlinux): the id the kernel prints after `#`. */
export function kfuncIdsFromBtf(btf: Btf): (name: string) => number | undefined {
  const ids = new Map<string, number>();
  for (const t of btf.types) if (t.kind === 'FUNC' && !ids.has(t.name)) ids.set(t.name, t.id);
  return (name) => ids.get(name);
}
