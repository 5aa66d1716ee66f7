/**
 * Child process of verifier-import.bench.ts: bare readline passes over the
 * log and imports into new traces, interleaved, ROUNDS times each (the best
 * of each is reported: on a shared machine single runs swing by 2x). One
 * process, so that its peak RSS is the import's (a readline pass holds one
 * line at a time). Prints JSON.
 */
import { createReadStream, readFileSync, rmSync } from 'node:fs';
import readline from 'node:readline';
import { createTrace } from '../../main/trace/db';
import { logFileChunks, writeVerifierLog, type LogSummary } from '../../main/trace/verifier';

const ROUNDS = 5;

/** CPU time of this process's main thread alone, in ms (the deflate worker runs beside it). */
function mainThreadCpuMs(): number {
  const f = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
}

function cpuMs(since: NodeJS.CpuUsage): number {
  const c = process.cpuUsage(since);
  return (c.user + c.system) / 1000;
}

async function readlinePass(file: string): Promise<{ ms: number; cpuMs: number; lines: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let lines = 0;
  for await (const _line of readline.createInterface({ input: createReadStream(file), crlfDelay: Infinity })) lines++;
  return { ms: performance.now() - t0, cpuMs: cpuMs(c0), lines };
}

const [log, trace] = process.argv.slice(2);
const readlineMs: number[] = [];
const importMs: number[] = [];
const importCpuMs: number[] = [];
const importMainCpuMs: number[] = [];
const readlineCpuMs: number[] = [];
let lines = 0;
let s: LogSummary | undefined;
let pid = 0;
for (let r = 0; r < ROUNDS; r++) {
  const rl = await readlinePass(log);
  readlineMs.push(rl.ms);
  readlineCpuMs.push(rl.cpuMs);
  lines = rl.lines;
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${trace}${suffix}`, { force: true });
  const db = createTrace(trace);
  pid = Number(
    db.prepare("INSERT INTO programs(name, origin, created_at) VALUES ('bench_loop', 'import', ?)").run(new Date().toISOString())
      .lastInsertRowid,
  );
  const cpu0 = process.cpuUsage();
  const main0 = mainThreadCpuMs();
  const t0 = performance.now();
  s = await writeVerifierLog(db, pid, logFileChunks(log));
  importMs.push(performance.now() - t0);
  importMainCpuMs.push(mainThreadCpuMs() - main0);
  importCpuMs.push(cpuMs(cpu0));
  db.close();
}
process.stdout.write(
  `${JSON.stringify({
    readlineMs: Math.min(...readlineMs), readlineAll: readlineMs, lines, importMs: Math.min(...importMs), importAll: importMs,
    importCpuMs: Math.min(...importCpuMs), importMainCpuMs: Math.min(...importMainCpuMs),
    readlineCpuMs: Math.min(...readlineCpuMs), maxRssMB: process.resourceUsage().maxRSS / 1024, steps: s?.steps,
    paths: s?.paths, mismatches: s?.mismatches, unknownLines: s?.unknownLines, verdict: s?.verdict, programId: pid,
  })}\n`,
);
