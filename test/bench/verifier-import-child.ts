/**
 * Child process of verifier-import.bench.ts: a bare readline pass over the
 * log, then the import into a new trace, in one process so that its peak RSS
 * is the import's (the readline pass holds one line at a time). Prints JSON.
 */
import { createReadStream } from 'node:fs';
import readline from 'node:readline';
import { createTrace } from '../../main/trace/db';
import { writeVerifierLog } from '../../main/trace/verifier';

async function readlinePass(file: string): Promise<{ ms: number; lines: number }> {
  const t0 = performance.now();
  let lines = 0;
  for await (const _line of readline.createInterface({ input: createReadStream(file), crlfDelay: Infinity })) lines++;
  return { ms: performance.now() - t0, lines };
}

const [log, trace] = process.argv.slice(2);
const rl1 = await readlinePass(log);
const db = createTrace(trace);
const pid = Number(
  db.prepare("INSERT INTO programs(name, origin, created_at) VALUES ('bench_loop', 'import', ?)").run(new Date().toISOString())
    .lastInsertRowid,
);
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const s = await writeVerifierLog(db, pid, createReadStream(log, { highWaterMark: 1 << 20 }));
const importMs = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
db.close();
const rl2 = await readlinePass(log);
process.stdout.write(
  `${JSON.stringify({
    readlineMs: Math.min(rl1.ms, rl2.ms), lines: rl1.lines, importMs, importCpuMs: (cpu.user + cpu.system) / 1000,
    maxRssMB: process.resourceUsage().maxRSS / 1024, steps: s.steps, paths: s.paths,
    mismatches: s.mismatches, unknownLines: s.unknownLines, verdict: s.verdict, programId: pid,
  })}\n`,
);
