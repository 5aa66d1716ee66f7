/**
 * For kernel tests that meet an object the running kernel cannot load (a
 * kfunc missing from its BTF: bpf_obj_new and friends on 6.1): what libbpf
 * says about it, on this kernel, and the check that bpfscope refuses it the
 * same way. Also the example programs this kernel can load, for tests of a
 * generic feature that only need some program.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'vitest';
import { missingKfuncs, missingStructOps, objectUnsupported, onlyStructOpsMemberGaps } from '../../helpers/support';
import { examplePrograms, PROGS_DIR, refloadPath, type ExampleProgram } from '../../helpers/ref';
import type { TraceDb } from '../../../main/trace/db';
import type { ProgramOutcome } from '../../../main/kernel/record';
import { readProgramLog } from '../../../main/trace/load';

const run = promisify(execFile);

export interface LibbpfRefusal {
  verdict: 'accepted' | 'rejected';
  errno: number;
  logSize: number;
  /** libbpf's warnings (test/ref/refload prints LIBBPF_WARN lines to stderr). */
  stderr: string;
}

/** Load `program` of `object` with libbpf (refload) and keep what libbpf printed. */
export async function libbpfLoad(object: string, program: string, logLevel = 2): Promise<LibbpfRefusal> {
  const bin = await refloadPath();
  const objPath = path.isAbsolute(object) ? object : path.join(PROGS_DIR, object);
  const work = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-refusal-'));
  try {
    const json = path.join(work, 'r.json');
    const r = await run(bin, [objPath, '-p', program, '--log-level', String(logLevel), '--log-out', path.join(work, 'log'), '--json-out', json]);
    const j = JSON.parse(readFileSync(json, 'utf8')) as { verdict: 'accepted' | 'rejected'; errno: number; log_size: number };
    return { verdict: j.verdict, errno: j.errno, logSize: j.log_size, stderr: r.stderr };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * bpfscope refused `o` (a program of an object whose kfuncs this kernel
 * lacks) exactly as libbpf refuses the same program on this kernel: both
 * rejected before the kernel saw it (same errno, no log), and bpfscope's
 * sentence names every missing kfunc, the first one being the one libbpf names.
 */
export async function expectRefusedAsLibbpf(db: TraceDb, o: ProgramOutcome, objectPath: string, logLevel = 2): Promise<void> {
  if (missingKfuncs(objectPath).length === 0 && missingStructOps(objectPath).length > 0) return expectStructOpsRefused(db, o, objectPath, logLevel);
  const missing = missingKfuncs(objectPath);
  expect(missing.length, 'the object is one this kernel cannot load').toBeGreaterThan(0);
  const ref = await libbpfLoad(objectPath, o.program, logLevel);
  expect([ref.verdict, ref.errno, ref.logSize]).toEqual(['rejected', 22, 0]);
  const named = /^libbpf: extern \(func ksym\) '([^']+)': not found in kernel or module BTFs$/m.exec(ref.stderr);
  expect(named, ref.stderr).not.toBeNull();
  expect(missing).toContain(named![1]);
  expect([o.verdict, o.errno]).toEqual([ref.verdict, ref.errno]);
  expect(readProgramLog(db, o.programId)?.length ?? 0).toBe(0);
  const ours = [...(o.error ?? '').matchAll(/extern kfunc '([^']+)' is not in this kernel's BTF/g)].map((m) => m[1]);
  expect(ours).toEqual(missing);
  expect(ours[0]).toBe(named![1]);
  const row = db.prepare('SELECT processed_insns FROM programs WHERE id = ?').get(o.programId) as { processed_insns: number | null };
  expect(row.processed_insns).toBeNull();
  const ext = db.prepare("SELECT name, btf_id FROM load_externs WHERE kind = 'kfunc' AND btf_id IS NULL ORDER BY name").all() as { name: string }[];
  for (const m of missing) expect(ext.map((e) => e.name)).toContain(m);
}

/**
 * An object whose struct_ops struct the kernel lacks: libbpf 1.1 refuses the
 * whole object with ENOENT, naming the struct, before the kernel sees any
 * program. bpfscope refuses the programs that implement the struct the same
 * way (same errno, no log, the struct named); the object's other programs
 * still load (there is no such program in the examples).
 */
async function expectStructOpsRefused(db: TraceDb, o: ProgramOutcome, objectPath: string, logLevel: number): Promise<void> {
  const missing = missingStructOps(objectPath);
  const ref = await libbpfLoad(objectPath, o.program, logLevel);
  if (onlyStructOpsMemberGaps(objectPath)) {
    // Only members of the object's struct the kernel's lacks (6.1's bpf_dummy_ops has no test_sleepable):
    // libbpf 1.1 refuses the object (-ENOTSUP, no log), bpfscope loads the programs of the members the kernel
    // has (see the struct_ops tests) and records the kernel member it named.
    expect([ref.verdict, ref.errno, ref.logSize]).toEqual(['rejected', 95, 0]);
    const member = /^libbpf: struct_ops init_kern \S+: Cannot find member (\S+) in kernel BTF$/m.exec(ref.stderr);
    expect(member, ref.stderr).not.toBeNull();
    expect(missing.map((m) => m.slice(m.indexOf('.') + 1))).toContain(member![1]);
    const rows = db.prepare("SELECT target, value FROM load_relocations WHERE program_id = ? AND kind = 'struct_ops'").all(o.programId) as { target: string; value: number | null }[];
    expect(rows.length, 'the program is one a struct_ops variable points at').toBe(1);
    expect(rows[0].target).toMatch(/^vmlinux STRUCT '\w+' \[\d+\] member \d+ '\w+'$/);
    expect(o.errno === 95 && (readProgramLog(db, o.programId)?.length ?? 0) === 0, 'bpfscope still gave the program to the kernel').toBe(false);
    return;
  }
  expect([ref.verdict, ref.errno, ref.logSize]).toEqual(['rejected', 2, 0]);
  const named = /^libbpf: struct_ops init_kern: struct (\S+) is not found in kernel BTF$/m.exec(ref.stderr);
  expect(named, ref.stderr).not.toBeNull();
  expect(missing).toContain(named![1]);
  expect([o.verdict, o.errno]).toEqual([ref.verdict, ref.errno]);
  expect(readProgramLog(db, o.programId)?.length ?? 0).toBe(0);
  expect(o.error).toMatch(new RegExp(`^program '${o.program}' implements (\\w+)\\.\\w+ \\(.* variable '\\w+'\\), but vmlinux BTF has no struct '\\1'$`));
  expect(missing.some((m) => o.error!.endsWith(`no struct '${m}'`))).toBe(true);
}

/** The example programs (manifest order) whose object this kernel can load. */
export function loadableExamples(): ExampleProgram[] {
  return examplePrograms().filter((p) => !objectUnsupported(p.objectPath));
}
