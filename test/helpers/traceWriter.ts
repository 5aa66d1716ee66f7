/**
 * A trace writer in a process of its own, for the WAL test: it creates the
 * trace (createTrace: WAL journal) and appends COUNT imported logs to it,
 * each a program row and its analysis written in transactions by the same
 * writer `bpfscope import` uses, printing `done N` after each, while the
 * test reads the trace from another process.
 *
 *   node --import tsx test/helpers/traceWriter.ts TRACE LOG COUNT
 */
import { readFileSync } from 'node:fs';
import { createTrace } from '../../main/trace/db';
import { writeVerifierLog } from '../../main/trace/verifier';

const [trace, logFile, count] = process.argv.slice(2);
const log = readFileSync(logFile, 'utf8');
const db = createTrace(trace);
for (let i = 1; i <= Number(count); i++) {
  const pid = Number(
    db.prepare("INSERT INTO programs(object_id, name, origin, created_at) VALUES (NULL, ?, 'import', ?)").run(`prog${i}`, new Date().toISOString())
      .lastInsertRowid,
  );
  await writeVerifierLog(db, pid, log, { checkpointEvery: 16 });
  process.stdout.write(`done ${i}\n`);
}
db.close();
