import { readFileSync, existsSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, beforeAll } from 'vitest';
import { kernelSkipReason, kernelTitle } from '../../helpers/kernel';
import { examplePrograms, FIXTURE_LOGS_DIR, refLoad, type ExampleProgram } from '../../helpers/ref';
import { objectUnsupported, withSkipReason } from '../../helpers/support';
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

function compare(p: ExampleProgram, log: string, kfuncIds?: (name: string) => number | undefined, kernelRelease?: string): void {
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
  // Every instruction we list is one the kernel printed, where it prints the live-regs
  // table (every instruction, visited or not; kernels before it print only the visited ones).
  if (/^\s+\d+: [0-9.]{10} \(/m.test(log)) for (const idx of ours.keys()) expect({ idx, printed: parsed.insns.has(idx) }).toEqual({ idx, printed: true });
  // Subprogram starts: the kernel's func#N @IDX equal the linked functions' first instructions.
  expect(parsed.funcStarts).toEqual(linked.functions.map((f) => f.start).sort((a, b) => a - b));
  // Source lines: our listing's line for the line_info in effect at the instruction the
  // kernel printed after it, printed as that kernel prints it.
  const sources = programListing(linked, kfuncIds, { kernelRelease }).filter((e) => e.type === 'source');
  expect(sources.length).toBe(linked.lineInfo.length);
  for (const s of parsed.sources) {
    const l = sources.filter((x) => x.idx <= s.idx).at(-1);
    expect(l, `line_info for ${s.idx}`).toBeDefined();
    expect({ idx: s.idx, text: l!.text }).toEqual({ idx: s.idx, text: s.text });
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

interface OtherKernelLogs {
  release: string;
  programs: { object: string; program: string; verdict: string; log: string }[];
}

/**
 * The real logs of other kernels (test/fixtures/logs/<major.minor>/, captured
 * with libbpf on that kernel): the listing printed for that kernel's release
 * reads like its log, source lines included (6.1 prints `; SOURCE` alone).
 */
for (const dir of readdirSync(FIXTURE_LOGS_DIR).filter((d) => existsSync(path.join(FIXTURE_LOGS_DIR, d, 'index.json'))).sort()) {
  const index = JSON.parse(readFileSync(path.join(FIXTURE_LOGS_DIR, dir, 'index.json'), 'utf8')) as OtherKernelLogs;
  const logged = index.programs.filter((x) => x.log);
  describe(`disassembly equals the logs kernel ${index.release} printed (test/fixtures/logs/${dir})`, () => {
    it('has logs', () => expect(logged.length).toBeGreaterThan(5));
    for (const x of logged) {
      const p = programs.find((q) => q.object === x.object && q.program === x.program);
      it(`${x.object} ${x.program}`, () => {
        expect(p).toBeDefined();
        compare(p!, readFileSync(path.join(FIXTURE_LOGS_DIR, dir, x.log), 'utf8'), undefined, index.release);
      });
    }
  });
}

describe.skipIf(!!kernelSkipReason())(kernelTitle('disassembly equals what this kernel prints, kfunc ids included'), () => {
  let kfuncIds: (name: string) => number | undefined = () => undefined;
  beforeAll(() => {
    kfuncIds = kfuncIdsFromBtf(parseBtf(new Uint8Array(readFileSync('/sys/kernel/btf/vmlinux'))));
  });
  for (const p of programs) {
    // An object with a kfunc this kernel lacks is refused before the kernel prints
    // anything (progs.test.ts checks that refusal, libbpf's and ours).
    const reason = kernelSkipReason() ? undefined : objectUnsupported(p.objectPath);
    it.skipIf(!!reason)(withSkipReason(`${p.object} ${p.program}`, reason), async () => {
      const r = await refLoad(p.objectPath, p.program, { logLevel: 2 });
      expect(r.verdict).toBe(p.expect);
      compare(p, r.log, kfuncIds, os.release());
    });
  }
});
