import { readFileSync, existsSync } from 'node:fs';
import { describe, expect, it, beforeAll } from 'vitest';
import { kernelSkipReason, kernelTitle } from '../../helpers/kernel';
import { examplePrograms, refLoad, type ExampleProgram } from '../../helpers/ref';
import { parseObject } from '../../../main/object/object';
import { parseBtf } from '../../../main/object/btf/parse';
import { linkProgram, type LinkedProgram } from '../../../main/object/link';
import { programListing, kfuncIdsFromBtf } from '../../../main/object/insn/listing';
import { parseLogInsns } from './kernel-log';

/**
 * The listing of every example program against the verifier log the kernel
 * prints for it. Normalised, and only these: an ld_imm64 that loads a map,
 * global data or an extern variable (the kernel prints the resolved kernel
 * address, `r1 = 0xffff...`; we print `map[NAME]`) is compared up to `rN = `;
 * in the committed fixtures (recorded on this kernel build, replayed on any
 * machine) a kfunc call's BTF id is compared as `#<digits>`, while against the
 * running kernel it is compared exactly, resolved from /sys/kernel/btf/vmlinux.
 */

interface Compared {
  ours: Map<number, string>;
  theirs: Map<number, Set<string>>;
}

function listingByIdx(linked: LinkedProgram, kfuncIds?: (name: string) => number | undefined): Map<number, string> {
  const out = new Map<number, string>();
  const ptr = new Set(linked.relocations.filter((r) => r.kind === 'map' || r.kind === 'data' || r.kind === 'extern').map((r) => r.insnIdx));
  for (const e of programListing(linked, kfuncIds)) {
    if (e.type !== 'insn') continue;
    const text = e.text.slice(e.text.indexOf(' ') + 1);
    out.set(e.idx, ptr.has(e.idx) ? text.replace(/ = .*$/, ' = <ptr>') : text);
  }
  return out;
}

function compare(p: ExampleProgram, log: string, kfuncIds?: (name: string) => number | undefined): void {
  const obj = parseObject(new Uint8Array(readFileSync(p.objectPath)), p.objectPath);
  const linked = linkProgram(obj, p.program);
  const ours = listingByIdx(linked, kfuncIds);
  const parsed = parseLogInsns(log);
  const ptr = new Set(linked.relocations.filter((r) => r.kind === 'map' || r.kind === 'data' || r.kind === 'extern').map((r) => r.insnIdx));
  const kfunc = new Set(linked.relocations.filter((r) => r.kind === 'kfunc').map((r) => r.insnIdx));
  expect(parsed.insns.size).toBeGreaterThan(0);
  for (const [idx, texts] of parsed.insns) {
    for (let text of texts) {
      if (ptr.has(idx)) text = text.replace(/ = .*$/, ' = <ptr>');
      let mine = ours.get(idx);
      if (!kfuncIds && kfunc.has(idx) && mine !== undefined) {
        expect(text).toMatch(/#\d+$/);
        text = text.replace(/#\d+$/, '');
      }
      expect({ idx, text: mine }).toEqual({ idx, text });
      mine = undefined;
    }
  }
  // Every instruction we list is one the kernel printed (the live-regs table prints them all).
  for (const idx of ours.keys()) expect({ idx, printed: parsed.insns.has(idx) }).toEqual({ idx, printed: true });
  // Subprogram starts: the kernel's func#N @IDX equal the linked functions' first instructions.
  expect(parsed.funcStarts).toEqual(linked.functions.map((f) => f.start).sort((a, b) => a - b));
  // Source lines: the line_info in effect at the instruction the kernel printed after it.
  const infos = [...linked.lineInfo].sort((a, b) => a.linkedIdx - b.linkedIdx);
  for (const s of parsed.sources) {
    const l = infos.filter((x) => x.linkedIdx <= s.idx).at(-1);
    expect(l, `line_info for ${s.idx}`).toBeDefined();
    const text = `; ${l!.line.replace(/^\s+/, '')} @ ${l!.fileName.slice(l!.fileName.lastIndexOf('/') + 1)}:${l!.lineNum}`;
    expect({ idx: s.idx, text }).toEqual({ idx: s.idx, text: s.text });
  }
}

const programs = examplePrograms();

describe('disassembly equals the committed verifier logs of the example programs', () => {
  it('has example programs with logs', () => {
    expect(programs.length).toBeGreaterThan(5);
    expect(programs.filter((p) => existsSync(p.logFixture)).length).toBe(programs.length);
  });
  for (const p of programs) {
    it(`${p.object} ${p.program}`, () => {
      compare(p, readFileSync(p.logFixture, 'utf8'));
    });
  }
});

describe.skipIf(!!kernelSkipReason())(kernelTitle('disassembly equals what this kernel prints, kfunc ids included'), () => {
  let kfuncIds: (name: string) => number | undefined = () => undefined;
  beforeAll(() => {
    kfuncIds = kfuncIdsFromBtf(parseBtf(new Uint8Array(readFileSync('/sys/kernel/btf/vmlinux'))));
  });
  for (const p of programs) {
    it(`${p.object} ${p.program}`, async () => {
      const r = await refLoad(p.objectPath, p.program, { logLevel: 2 });
      expect(r.verdict).toBe(p.expect);
      compare(p, r.log, kfuncIds);
    });
  }
});
