/**
 * The example programs against the kernel: every program in the manifest
 * gets the verdict the manifest says, the kernel still prints the committed
 * fixture logs, and `make -C resources/progs` rebuilds the committed objects
 * instruction for instruction.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { level1Fixture, LEVEL1 } from '../../ref/capture-logs';
import { kernelSkipReason, kernelTitle } from '../../helpers/kernel';
import { missingKfuncs, objectUnsupported, onlyStructOpsMemberGaps, withSkipReason } from '../../helpers/support';
import { expectRefusedForMissingKfuncs } from '../object/helpers';
import { expectRefusedAsLibbpf } from '../kernel/libbpf-refusal';
import { recordObject } from '../../../main/kernel/record';
import { createTrace } from '../../../main/trace/db';
import { DEFAULT_PACKET, ensureVmlinuxHeader, examplePrograms, normalizeLog, PROGS_DIR, refLoad } from '../../helpers/ref';

function have(cmd: string, args: string[] = ['--version']): boolean {
  return spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
}

/** Program symbols of an object: FUNC symbols outside .text, from llvm-objdump. */
function programSymbols(obj: string): string[] {
  const out = execFileSync('llvm-objdump-19', ['-t', obj], { encoding: 'utf8' });
  const names: string[] = [];
  for (const line of out.split('\n')) {
    const m = /\sF\s+(\S+)\s+[0-9a-f]+\s+(\S+)$/.exec(line);
    if (m && m[1] !== '.text') names.push(m[2]);
  }
  return names;
}

/** The instruction listing with relocations, without the file name line. */
function listing(obj: string): string {
  const out = execFileSync('llvm-objdump-19', ['-d', '-r', obj], { encoding: 'utf8' });
  return out.split('\n').slice(2).join('\n');
}

const programs = examplePrograms();

const objects = [...new Set(programs.map((p) => p.object))];
const objdumpReason = have('llvm-objdump-19') ? undefined : 'llvm-objdump-19 not installed';

describe('example program manifest', () => {
  it('lists every committed object and nothing else', () => {
    const committed = readdirSync(PROGS_DIR).filter((f) => f.endsWith('.bpf.o')).sort();
    expect([...objects].sort()).toEqual(committed);
    for (const f of committed) expect(existsSync(path.join(PROGS_DIR, f.replace(/\.o$/, '.c')))).toBe(true);
  });

  it('has a fixture log for every program', () => {
    for (const p of programs) expect(existsSync(p.logFixture), p.logFixture).toBe(true);
  });

  it.skipIf(!!objdumpReason)(`names every program of every object, with its section${objdumpReason ? ` [skipped: ${objdumpReason}]` : ''}`, () => {
    for (const obj of objects) {
      const inManifest = programs.filter((p) => p.object === obj).map((p) => p.program).sort();
      expect(programSymbols(path.join(PROGS_DIR, obj)).sort(), obj).toEqual(inManifest);
      const out = execFileSync('llvm-objdump-19', ['-t', path.join(PROGS_DIR, obj)], { encoding: 'utf8' });
      for (const p of programs.filter((q) => q.object === obj)) {
        expect(out).toMatch(new RegExp(`\\sF\\s+${p.section.replace(/[.]/g, '\\.')}\\s+[0-9a-f]+\\s+${p.program}$`, 'm'));
      }
    }
  });
});

/** Why the running kernel cannot load this example object (a kfunc it lacks), or undefined. */
const unsupported = (object: string): string | undefined => (kernelSkipReason() ? undefined : objectUnsupported(path.join(PROGS_DIR, object)));

describe.skipIf(!!kernelSkipReason())(kernelTitle('example programs in the kernel'), () => {
  for (const p of programs) {
    // The kernel's log is compared with bpfscope's own recording on the same kernel
    // (test/unit/kernel/examples.test.ts), never with the committed fixture: that
    // was printed by another build (kfunc ids, states and counts differ).
    // The manifest's verdicts are the kernel's wherever it loads the object (6.12, 6.18);
    // where it lacks one of the object's kfuncs, libbpf refuses every program of it.
    const reason = unsupported(p.object);
    if (reason) {
      // A missing kfunc or struct: libbpf and bpfscope refuse the program before the kernel sees it. Only a
      // member of a struct_ops struct the kernel lacks: libbpf 1.1 refuses the object, bpfscope still gives
      // the kernel the programs whose own member it has (expectRefusedAsLibbpf checks both sides).
      const memberGap = onlyStructOpsMemberGaps(p.objectPath);
      it(`${p.object} ${p.program}: ${memberGap ? 'refused by libbpf 1.1, loaded by bpfscope' : 'refused before the kernel sees it, by libbpf and by bpfscope alike'} (${reason})`, async () => {
        if (missingKfuncs(p.objectPath).length > 0) {
          await expectRefusedForMissingKfuncs(p.objectPath, p.program, missingKfuncs(p.objectPath));
          return;
        }
        const work = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-progs-refused-'));
        const db = createTrace(path.join(work, 'r.trace'));
        try {
          const [o] = await recordObject(db, p.objectPath, { programs: [p.program], logLevel: 2 });
          await expectRefusedAsLibbpf(db, o, p.objectPath);
        } finally {
          db.close();
          rmSync(work, { recursive: true, force: true });
        }
      });
    }
    it.skipIf(!!reason)(withSkipReason(`${p.object} ${p.program}: ${p.expect}`, reason), async () => {
      const r = await refLoad(p.object, p.program, { logLevel: 2, run: p.run });
      expect(r.verdict).toBe(p.expect);
      expect(r.errno === 0).toBe(p.expect === 'accepted');
      if (p.run) {
        expect(r.runErrno).toBeUndefined();
        expect(r.retval).toBeTypeOf('number');
      }
      // The log ends with the verifier's summary; a rejected one has the
      // error just before it.
      expect(r.log).toMatch(/processed \d+ insns \(limit \d+\)/);
    });
  }

  for (const { object, program } of LEVEL1) {
    const reason = unsupported(object);
    it.skipIf(!!reason)(withSkipReason(`${object} ${program}: at level 1 the kernel prints no per-instruction state for an accepted program, and its verdict`, reason), async () => {
      const r = await refLoad(object, program, { logLevel: 1 });
      if (r.verdict === 'accepted') expect(r.log).not.toMatch(/^\d+: \(/m);
      expect(r.log).toMatch(/processed \d+ insns \(limit \d+\)/);
      // The verdict is the program's (the manifest's); the committed level-1 fixture
      // is a parser fixture from another build and is not compared.
      expect(r.verdict).toBe(programs.find((p) => p.object === object && p.program === program)?.expect);
    });
  }

  it('refload rejects a program name the object does not have', async () => {
    await expect(refLoad('new_drop.bpf.o', 'no_such_prog')).rejects.toThrow(/no program named no_such_prog/);
  });
});

const buildReason = !have('clang-19')
  ? 'clang-19 not installed'
  : !have('make')
    ? 'make not installed'
    : objdumpReason ?? (existsSync('/sys/kernel/btf/vmlinux') || existsSync(path.join(PROGS_DIR, 'vmlinux.h'))
      ? undefined
      : 'no vmlinux.h and no /sys/kernel/btf/vmlinux to generate it');

describe.skipIf(!!buildReason)(`make -C resources/progs${buildReason ? ` [skipped: ${buildReason}]` : ''}`, () => {
  // Build a copy so the committed objects stay untouched.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-progs-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('rebuilds every object with the same instructions and relocations', () => {
    for (const f of readdirSync(PROGS_DIR)) {
      if (f.endsWith('.bpf.c') || f === 'bpfscope.h' || f === 'Makefile' || f === 'vmlinux.h') {
        cpSync(path.join(PROGS_DIR, f), path.join(dir, f));
      }
    }
    cpSync(path.join(PROGS_DIR, 'bench'), path.join(dir, 'bench'), { recursive: true });
    execFileSync('make', ['-s', '-C', dir], { stdio: 'pipe' });
    for (const obj of objects) {
      expect(listing(path.join(dir, obj)), obj).toBe(listing(path.join(PROGS_DIR, obj)));
    }
  });

  it.skipIf(!!kernelSkipReason() || !!unsupported('ctx_types.bpf.o'))(withSkipReason(kernelTitle('socket filter and syscall programs: what their test runs see (ctx_types.bpf.o)'), unsupported('ctx_types.bpf.o')), async () => {
    const out = path.join(PROGS_DIR, 'ctx_types.bpf.o');
    const sock = await refLoad(out, 'socket_trim', { run: true });
    expect(sock.verdict).toBe('accepted');
    // The run starts at the network header: the IPv4 header length.
    expect(sock.retval).toBe((DEFAULT_PACKET[14] & 0xf) * 4);
    const sys = await refLoad(out, 'syscall_alloc', { run: true, dumpMaps: true });
    expect(sys.verdict).toBe('accepted');
    const le32 = (o: number): number => Buffer.from(DEFAULT_PACKET).readUInt32LE(o);
    expect(sys.retval).toBe((le32(0) + le32(4)) & 0xffff);
    expect(sys.dataOut).toEqual(DEFAULT_PACKET);
  });

  it('builds the benchmark loop with the requested iteration count', () => {
    const out = path.join(dir, 'out', 'loop.bpf.o');
    execFileSync('make', ['-s', '-C', dir, 'bench-loop', 'ITERS=37', `OUT=${out}`], { stdio: 'pipe' });
    // The loop bound is an immediate compare against ITERS in the listing.
    expect(listing(out)).toMatch(/if [rw]\d+ [!=<>s]+ 0x25 goto/);
  });
});
