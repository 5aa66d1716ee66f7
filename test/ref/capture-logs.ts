/**
 * Regenerates test/fixtures/logs/: the verifier logs this kernel prints for
 * every example program (resources/progs/manifest.json), loaded one at a
 * time by test/ref/refload.c through libbpf.
 *
 *   npx tsx test/ref/capture-logs.ts        (as root, or with CAP_BPF)
 *
 * <object>.<program>.log         level 2, every program
 * <object>.<program>.level1.log  level 1, for LEVEL1 below
 *
 * KERNEL                         the release (uname -r) they come from
 *
 * They are parser fixtures (test/unit/verifier, the app's and e2e tests import
 * them; test/unit/insn/disasm.test.ts compares the objects' listings with
 * them, kfunc ids aside) and are never compared with a live load: another
 * build of the same kernel prints other kfunc ids, addresses and even state
 * counts. Tests that compare with the kernel load the program again, on the
 * kernel they run on (refLoad).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { examplePrograms, FIXTURE_LOGS_DIR, normalizeLog, refLoad } from '../helpers/ref';

/** One accepted and one rejected program, logged at level 1 as well. */
export const LEVEL1 = [
  { object: 'new_drop.bpf.o', program: 'new_drop' },
  { object: 'reject_leak.bpf.o', program: 'leak_on_branch' },
];

/** The kernel release the fixture logs were captured on. */
export const FIXTURE_KERNEL_FILE = path.join(FIXTURE_LOGS_DIR, 'KERNEL');

export function level1Fixture(object: string, program: string): string {
  return path.join(FIXTURE_LOGS_DIR, `${object.replace(/\.bpf\.o$/, '')}.${program}.level1.log`);
}

/** A log up to what differs between builds that print the same thing: kfunc BTF ids (helper ids are small and fixed). */
const maskKfuncIds = (log: string): string => normalizeLog(log).replace(/\b(\w+)#\d{4,}\b/g, '$1#ID');

/** Writes a fixture unless only addresses, timing or kfunc ids changed (no churn). */
function save(file: string, log: string): string {
  if (existsSync(file) && maskKfuncIds(readFileSync(file, 'utf8')) === maskKfuncIds(log)) return 'unchanged';
  writeFileSync(file, log);
  return 'written';
}

async function main(): Promise<void> {
  mkdirSync(FIXTURE_LOGS_DIR, { recursive: true });
  writeFileSync(FIXTURE_KERNEL_FILE, `${os.release()}\n`);
  for (const p of examplePrograms()) {
    const r = await refLoad(p.object, p.program, { logLevel: 2 });
    if (r.verdict !== p.expect) {
      throw new Error(`${p.object} ${p.program}: kernel says ${r.verdict}, manifest says ${p.expect}`);
    }
    const what = save(p.logFixture, r.log);
    console.log(`${path.relative(process.cwd(), p.logFixture)}  ${r.verdict}  ${r.logSize} bytes  ${what}`);
  }
  for (const { object, program } of LEVEL1) {
    const r = await refLoad(object, program, { logLevel: 1 });
    const file = level1Fixture(object, program);
    const what = save(file, r.log);
    console.log(`${path.relative(process.cwd(), file)}  ${r.verdict}  ${r.logSize} bytes  ${what}`);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
