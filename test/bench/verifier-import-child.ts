/**
 * Child process of verifier-import.bench.ts: bare readline passes over the
 * log and imports into new traces, interleaved, ROUNDS times each (the best
 * of each is reported: on a shared machine single runs swing by 2x). One
 * process, so that its peak RSS is the import's (a readline pass holds one
 * line at a time). Prints JSON.
 */
import { createReadStream, rmSync } from 'node:fs';
import readline from 'node:readline';
import { createTrace } from '../../main/trace/db';
import { writeVerifierLog, type LogSummary } from '../../main/trace/verifier';

const ROUNDS = 3;

async function readlinePass(file: string): Promise<{ ms: number; lines: number }> {
  const t0 = performance.now();
  let lines = 0;
  for await (const _line of readline.createInterface({ input: createReadStream(file), crlfDelay: Infinity })) lines++;
  return { ms: performance.now() - t0, lines };
}

const [log, trace] = process.argv.slice(2);
const readlineMs: number[] = [];
const importMs: number[] = [];
const importCpuMs: number[] = [];
let lines = 0;
let s: LogSummary | undefined;
let pid = 0;
for (let r = 0; r < ROUNDS; r++) {
  const rl = await readlinePass(log);
  readlineMs.push(rl.ms);
  lines = rl.lines;
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${trace}${suffix}`, { force: true });
  const db = createTrace(trace);
  pid = Number(
    db.prepare("INSERT INTO programs(name, origin, created_at) VALUES ('bench_loop', 'import', ?)").run(new Date().toISOString())
      .lastInsertRowid,
  );
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  s = await writeVerifierLog(db, pid, createReadStream(log, { highWaterMark: 1 << 20 }));
  importMs.push(performance.now() - t0);
  const cpu = process.cpuUsage(cpu0);
  importCpuMs.push((cpu.user + cpu.system) / 1000);
  db.close();
}
process.stdout.write(
  `${JSON.stringify({
    readlineMs: Math.min(...readlineMs), readlineAll: readlineMs, lines, importMs: Math.min(...importMs), importAll: importMs,
    importCpuMs: Math.min(...importCpuMs), maxRssMB: process.resourceUsage().maxRSS / 1024, steps: s?.steps,
    paths: s?.paths, mismatches: s?.mismatches, unknownLines: s?.unknownLines, verdict: s?.verdict, programId: pid,
  })}\n`,
);
