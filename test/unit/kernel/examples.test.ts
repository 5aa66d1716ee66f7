import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { kernelSkipReason, kernelTitle } from '../../helpers/kernel';
import { examplePrograms, normalizeLog, PROGS_DIR, refLoad, type RefResult } from '../../helpers/ref';
import { createTrace } from '../../../main/trace/db';
import { recordObject } from '../../../main/kernel/record';
import { loadReport, readProgramLog } from '../../../main/trace/load';
import { LEVEL1 } from '../../ref/capture-logs';
import { compileBpf } from '../../helpers/bpfcc';
import { objectUnsupported } from '../../helpers/support';
import { expectRefusedAsLibbpf, loadableExamples } from './libbpf-refusal';

/**
 * bpfscope's loader against libbpf 1.1 (test/ref/refload) on every example
 * program: same verdict, same errno, the same verifier log byte for byte
 * once what legitimately differs between two loads is masked (normalizeLog:
 * the kernel addresses ld_imm64 prints for maps, the `verification time`
 * figure; kfunc ids are the running kernel's in both and compared as they are),
 * and, for test runs, the same return value and the same map contents.
 * Where this kernel lacks a kfunc of the object (bpf_obj_new and friends on
 * 6.1), libbpf refuses every program of it before the kernel sees one; the
 * test then checks that bpfscope refuses it the same way.
 */
const work = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-f-examples-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

type Dump = Record<string, { key: string; value: string }[]>;

function ourMaps(db: ReturnType<typeof createTrace>, programId: number): Dump {
  const rows = db
    .prepare('SELECT m.map, m.key, m.value FROM test_run_maps m JOIN test_runs r ON r.id = m.run_id WHERE r.program_id = ?')
    .all(programId) as { map: string; key: Buffer; value: Buffer }[];
  const out: Dump = {};
  for (const r of rows) (out[r.map] ??= []).push({ key: r.key.toString('hex'), value: r.value.toString('hex') });
  return out;
}

/**
 * Kernel pointers inside map values (an empty bpf_list_head points at itself) differ per load:
 * a little-endian u64 with 0xff in its top byte that is not a small negative number (top 32 bits
 * all ones). 6.18's direct map starts 0xffff8880…, a 6.12 guest's may start 0xff18….
 */
const isKernelPointer = (w: string): boolean => w.endsWith('ff') && !w.endsWith('ffffffff');
/** Kernel addresses masked, entries in key order: a hash map's iteration order is the kernel's bucket order, which two loads need not share. */
function maskDump(d: Dump): Dump {
  const out: Dump = {};
  for (const [k, v] of Object.entries(d)) {
    out[k] = v
      .map((e) => ({ key: e.key, value: e.value.replace(/[0-9a-f]{16}/g, (w) => (isKernelPointer(w) ? 'ADDR' : w)) }))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }
  return out;
}

function refDump(r: RefResult): Dump {
  const out: Dump = {};
  for (const [name, entries] of Object.entries(r.maps ?? {})) if (entries.length > 0) out[name] = entries;
  return out;
}

describe.skipIf(!!kernelSkipReason())(kernelTitle('record vs libbpf on every example program'), () => {
  const listObj = path.join(PROGS_DIR, 'list.bpf.o');
  const listMissing = objectUnsupported(listObj);
  it(`the load report of list_push: maps, ${listMissing ? 'the kfuncs this kernel lacks unresolved' : 'kfuncs resolved'}, CO-RE with the candidate chosen, functions${listMissing ? ` (${listMissing})` : ''}`, async () => {
    const db = createTrace(path.join(work, 'report.trace'));
    try {
      const [o] = await recordObject(db, listObj, { programs: ['list_push'], logLevel: 1 });
      const r = loadReport(db, o.programId);
      expect(r.maps.map((m) => [m.name, m.mapType, m.error])).toEqual([['holders', 'array', null]]);
      expect(r.functions[0]).toMatchObject({ name: 'list_push', section: 'tc', start: 0 });
      const kfuncs = r.relocations.filter((x) => x.kind === 'kfunc');
      if (listMissing) {
        // Refused before loading: the report still says what the loader did up to there.
        await expectRefusedAsLibbpf(db, o, listObj, 1);
        expect(kfuncs).toEqual([]);
        expect(r.externs.filter((e) => e.kind === 'kfunc').length).toBeGreaterThan(0);
        for (const e of r.externs.filter((x) => x.kind === 'kfunc')) expect([e.name, e.btfId ?? null, e.error]).toEqual([e.name, null, expect.stringContaining(`'${e.name}'`)]);
      } else {
        expect(o.verdict).toBe('accepted');
        expect(kfuncs.length).toBeGreaterThan(0);
        for (const k of kfuncs) expect(r.externs.find((e) => e.name === k.symbol)?.btfId).toBe(k.value);
      }
      expect(r.relocations.some((x) => x.kind === 'map' && x.symbol === 'holders')).toBe(true);
      const skbLen = r.core.find((c) => c.localSpec.startsWith('struct __sk_buff.len '));
      expect(skbLen).toBeDefined();
      expect(skbLen!.candidates.filter((c) => c.chosen)).toEqual([expect.objectContaining({ target: 'vmlinux', typeName: 'struct __sk_buff', matched: true })]);
      expect(r.btfFixes.length).toBeGreaterThan(0);
      expect(r.warnings).toEqual([]);
    } finally {
      db.close();
    }
  });

  // Level 1 too (the committed level-1 fixtures are parser fixtures from another build, never
  // compared with a live load): one accepted and one rejected program, both loaders on this kernel.
  // Where this kernel cannot load a LEVEL1 program, bpfscope must refuse it as libbpf does, and a
  // program it can load with the same verdict takes its place (a rejected one is compiled here
  // when no loadable example is rejected), so level 1 is compared on every kernel.
  const level1: { object: string; program: string; note?: string }[] = [];
  for (const { object, program } of LEVEL1) {
    const reason = objectUnsupported(path.join(PROGS_DIR, object));
    if (!reason) {
      level1.push({ object, program });
      continue;
    }
    it(`${object} ${program} at log level 1: refused as libbpf refuses it (${reason})`, async () => {
      const db = createTrace(path.join(work, `${program}.level1.refused.trace`));
      try {
        const [o] = await recordObject(db, path.join(PROGS_DIR, object), { programs: [program], logLevel: 1 });
        await expectRefusedAsLibbpf(db, o, path.join(PROGS_DIR, object), 1);
      } finally {
        db.close();
      }
    });
    const expected = examplePrograms().find((p) => p.object === object && p.program === program)!.expect;
    const stand = loadableExamples().find((p) => p.expect === expected);
    const note = `in place of ${program}: ${reason}`;
    if (stand) level1.push({ object: stand.objectPath, program: stand.program, note });
    else if (expected === 'rejected') level1.push({ object: '', program: 'unchecked_packet_read', note });
  }
  for (const c of level1) {
    it(`${path.basename(c.object) || 'unchecked_read.bpf.o'} ${c.program} at log level 1: verdict, errno, log${c.note ? ` (${c.note})` : ''}`, async () => {
      // A read of packet data without a bounds check: the verifier rejects it on every kernel.
      const object = c.object || compileBpf(work, 'unchecked_read', `#include "bpfscope.h"
SEC("tc") int unchecked_packet_read(struct __sk_buff *skb) { return *(int *)(long)skb->data; }
char LICENSE[] SEC("license") = "GPL";
`);
      const db = createTrace(path.join(work, `${c.program}.level1.trace`));
      try {
        const [o] = await recordObject(db, path.isAbsolute(object) ? object : path.join(PROGS_DIR, object), { programs: [c.program], logLevel: 1 });
        const ref = await refLoad(object, c.program, { logLevel: 1 });
        expect([o.verdict, o.errno ?? 0]).toEqual([ref.verdict, ref.errno]);
        if (!c.object) expect(o.verdict).toBe('rejected');
        const log = readProgramLog(db, o.programId)!.toString('utf8');
        if (o.verdict === 'accepted') expect(log).toMatch(/^processed \d+ insns \(limit \d+\)/m);
        else expect(log.length).toBeGreaterThan(0);
        expect(normalizeLog(log)).toBe(normalizeLog(ref.log));
      } finally {
        db.close();
      }
    });
  }

  for (const p of examplePrograms()) {
    const missing = objectUnsupported(p.objectPath);
    if (missing) {
      it(`${p.object} ${p.program}: refused as libbpf refuses it (${missing})`, async () => {
        const db = createTrace(path.join(work, `${p.program}.refused.trace`));
        try {
          const [o] = await recordObject(db, p.objectPath, { programs: [p.program], logLevel: 2, run: p.run });
          await expectRefusedAsLibbpf(db, o, p.objectPath, 2);
          expect(db.prepare('SELECT count(*) AS n FROM test_runs').get()).toEqual({ n: 0 });
        } finally {
          db.close();
        }
      });
      continue;
    }
    it(`${p.object} ${p.program}: verdict, log${p.run ? ', retval, maps' : ''}`, async () => {
      const db = createTrace(path.join(work, `${p.program}.trace`));
      try {
        const [o] = await recordObject(db, p.objectPath, { programs: [p.program], logLevel: 2, run: p.run });
        const ref = await refLoad(p.object, p.program, { logLevel: 2, run: p.run, dumpMaps: p.run });
        expect(o.verdict).toBe(ref.verdict);
        expect(o.verdict).toBe(p.expect);
        expect(o.errno ?? 0).toBe(ref.errno);
        const log = readProgramLog(db, o.programId)!.toString('utf8');
        expect(log.length).toBeGreaterThan(0);
        expect(normalizeLog(log)).toBe(normalizeLog(ref.log));
        const row = db.prepare('SELECT processed_insns, insns FROM programs WHERE id = ?').get(o.programId) as { processed_insns: number; insns: Buffer };
        expect(row.processed_insns).toBe(Number(/processed (\d+) insns/.exec(ref.log)![1]));
        expect(row.insns.length % 8).toBe(0);
        // line_info as loaded: where the kernel prints a source line before an instruction, the
        // trace's line for that instruction is the same one.
        const li = new Map((db.prepare('SELECT insn_idx, file, line_num, line FROM load_line_info WHERE program_id = ?').all(o.programId) as { insn_idx: number; file: string; line_num: number; line: string }[]).map((r) => [r.insn_idx, r]));
        const logLines = log.split('\n');
        let checked = 0;
        for (let i = 0; i + 1 < logLines.length; i++) {
          // 6.2 and later print `; line @ file:num`, earlier kernels `; line` alone.
          const src = /^; (.*?)(?: @ (\S+):(\d+))?$/.exec(logLines[i]);
          const insn = src && /^(\d+): \(/.exec(logLines[i + 1]);
          if (!src || !insn) continue;
          // The kernel prints the line_info record that covers the instruction: the last one at or before it.
          let at = Number(insn[1]);
          while (at >= 0 && !li.has(at)) at--;
          const row = li.get(at);
          expect(row, `line_info for insn ${insn[1]}`).toBeDefined();
          if (src[2] !== undefined) expect([row!.line.trim(), path.basename(row!.file), row!.line_num]).toEqual([src[1].trim(), path.basename(src[2]), Number(src[3])]);
          else expect(row!.line.trim()).toBe(src[1].trim());
          checked++;
        }
        expect(checked).toBeGreaterThan(0);
        // Nothing was worked around: the kernel took the object's BTF and every map as built.
        expect(db.prepare('SELECT text FROM load_warnings').all()).toEqual([]);
        expect(db.prepare('SELECT loaded, error FROM load_btf').all()).toEqual([{ loaded: 1, error: null }]);
        // Except a prog array's BTF: the kernel takes none for it, and libbpf 1.1 (refload too)
        // creates it with BTF first, then again without ("Retrying without BTF"): so do we.
        const worked = db.prepare('SELECT name, map_type_name, note, error FROM load_maps WHERE note IS NOT NULL OR error IS NOT NULL').all() as { map_type_name: string; note: string | null; error: string | null }[];
        expect(worked.filter((m) => !(m.map_type_name === 'prog_array' && m.error === null && m.note?.startsWith('created without BTF: with it, BPF_MAP_CREATE failed with EINVAL')))).toEqual([]);
        if (p.run) {
          // The examples initialise what they read (bpf_obj_new leaves all but the special
          // fields as the allocator recycled them), so both loaders must give the same
          // return value and the same maps' contents on the first try.
          const ours = { retval: o.retval, maps: maskDump(ourMaps(db, o.programId)) };
          const theirs = { retval: ref.retval, maps: maskDump(refDump(ref)) };
          expect(ours).toEqual(theirs);
          expect(o.retval).toBeTypeOf('number');
        }
      } finally {
        db.close();
      }
    });
  }

  // The other log levels a user asks for: 1 (errors and the summary only) and 6, record's
  // default (level 2 with statistics). Verdict, errno, the kernel's final line and the
  // whole log, on every example this kernel can load.
  for (const level of [1, 6]) {
    it(`every example at log level ${level}: verdict, errno, final line and log equal libbpf's`, async () => {
      const db = createTrace(path.join(work, `all.level${level}.trace`));
      try {
        for (const p of loadableExamples()) {
          const [o] = await recordObject(db, p.objectPath, { programs: [p.program], logLevel: level });
          const ref = await refLoad(p.objectPath, p.program, { logLevel: level });
          const what = `${p.object} ${p.program} at level ${level}`;
          expect([what, o.verdict, o.errno ?? 0]).toEqual([what, ref.verdict, ref.errno]);
          const log = readProgramLog(db, o.programId)?.toString('utf8') ?? '';
          expect(normalizeLog(log), what).toBe(normalizeLog(ref.log));
          const lastLine = (text: string): string => text.trimEnd().split('\n').filter((l) => !/^(processed \d+ insns|verification time|stack depth|max_states_per_insn)/.test(l)).at(-1) ?? '';
          if (o.verdict === 'rejected') expect([what, lastLine(o.error ?? '')]).toEqual([what, lastLine(ref.log)]);
          // At level 1 the kernel rewinds the log over every path that verified, so an
          // accepted program keeps no instruction lines (a rejected one keeps its failing path).
          if (level === 1 && o.verdict === 'accepted') {
            expect(log.split('\n').filter((l) => /^\d+: \(/.test(l)), what).toEqual([]);
            expect(log, what).toMatch(/^processed \d+ insns \(limit \d+\)[^\n]*\n$/m);
          }
        }
      } finally {
        db.close();
      }
    }, 600_000);
  }
});
