import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import type { Command } from './index';
import { parseArgs } from './args';
import { BpfscopeError, inFile } from '../errors';
import { createTrace, type TraceDb } from '../trace/db';
import { logFileChunks, writeVerifierLog, type LogSummary } from '../trace/verifier';
import { lexLine } from '../verifier/lexer';
import { splitLines } from '../verifier/lines';

const usage = `usage: bpfscope import LOG [--object OBJ] [-p PROG] -o TRACE

Parse a verifier log (levels 1 and 2, kernels 5.15 to 7.x; raw, or as libbpf,
bpftool -d, veristat -v or the selftests print it) and store it in TRACE with
the reconstructed state at every step. LOG may be '-' for standard input.
  --object OBJ    the .bpf.o the log is from: stored in the trace (BTF, instructions, source)
  -p, --program   the program's name (picks one program from a log with several)
  -o, --output    the trace file to create or add to`;

/** The program names of a wrapped log (`prog 'x': -- BEGIN PROG LOAD LOG --`), streamed. */
async function wrappedPrograms(path: string): Promise<string[]> {
  const names: string[] = [];
  for await (const batch of splitLines(logFileChunks(path))) {
    for (const text of batch.texts) {
      if (!text.includes('-- BEGIN')) continue;
      const t = lexLine(text);
      if (t.kind === 'wrapBegin' && t.program !== null) names.push(t.program);
    }
  }
  return names;
}

function storeObject(db: TraceDb, path: string): number {
  if (!existsSync(path)) throw new BpfscopeError('no such object file', path);
  return insertObject(db, path, readFileSync(path));
}

function insertObject(db: TraceDb, path: string, bytes: Buffer): number {
  const sha = createHash('sha256').update(bytes).digest('hex');
  const have = db.prepare('SELECT id FROM objects WHERE sha256 = ?').get(sha) as { id: number } | undefined;
  if (have) return have.id;
  return Number(db.prepare('INSERT INTO objects(path, sha256, bytes) VALUES (?, ?, ?)').run(path, sha, bytes).lastInsertRowid);
}

async function programSections(path: string): Promise<Map<string, { section: string; progType: string | null }>> {
  const out = new Map<string, { section: string; progType: string | null }>();
  const { parseObject } = await import('../object/object');
  try {
    const obj = parseObject(new Uint8Array(readFileSync(path)), path);
    for (const p of obj.programs) {
      out.set(p.name, { section: p.section, progType: p.progType ?? null });
    }
  } catch (err) {
    throw inFile(err, path);
  }
  return out;
}

export const command: Command = {
  summary: 'parse a verifier log into a trace (state at every step, paths, references)',
  usage,
  async run(argv) {
    const args = parseArgs(argv, { values: ['object', 'program', 'output'], aliases: { p: 'program', o: 'output' } });
    const log = args.positional[0];
    const out = args.values.get('output');
    if (!log || !out || args.positional.length > 1) {
      process.stderr.write(`${usage}\n`);
      return 2;
    }
    if (log !== '-' && (!existsSync(log) || !statSync(log).isFile())) throw new BpfscopeError('no such log file', log);
    const objPath = args.values.get('object');
    const sections = objPath ? await programSections(objPath) : new Map<string, { section: string; progType: string | null }>();
    let wanted = args.values.get('program');
    const db = createTrace(out);
    try {
      const objectId = objPath ? storeObject(db, objPath) : null;
      // Which programs: the one asked for, else every program a wrapper names, else one.
      let names: (string | undefined)[] = [wanted];
      if (wanted === undefined && log !== '-') {
        const found = await wrappedPrograms(log);
        if (found.length > 0) names = found;
      }
      if (wanted !== undefined && sections.size > 0 && !sections.has(wanted)) {
        throw new BpfscopeError(`the object has no program '${wanted}' (it has: ${[...sections.keys()].join(', ')})`, objPath);
      }
      const summaries: { name: string; s: LogSummary }[] = [];
      for (const name of names) {
        const fallback = name ?? (sections.size === 1 ? [...sections.keys()][0] : 'prog');
        const info = sections.get(name ?? fallback);
        const pid = Number(db.prepare(`INSERT INTO programs(object_id, name, section, prog_type, origin, created_at)
            VALUES (?, ?, ?, ?, 'import', ?)`).run(objectId, fallback, info?.section ?? null, info?.progType ?? null,
          new Date().toISOString()).lastInsertRowid);
        const input = log === '-' ? process.stdin : logFileChunks(log);
        let s: LogSummary;
        try {
          s = await writeVerifierLog(db, pid, input, { program: name });
        } catch (err) {
          throw inFile(err, log);
        }
        if (name === undefined && s.wrappedProgram !== null && s.wrappedProgram !== fallback) {
          db.prepare('UPDATE programs SET name = ? WHERE id = ?').run(s.wrappedProgram, pid);
        }
        summaries.push({ name: name ?? s.wrappedProgram ?? fallback, s });
        wanted = undefined;
      }
      for (const { name, s } of summaries) {
        const verdict = s.verdict ?? 'unknown (log cut short)';
        process.stdout.write(
          `${name}: program ${s.programId}, ${s.lines} lines, ${s.steps} steps, ${s.paths} paths, ${s.refs} refs, ` +
            `verdict ${verdict}, ${s.mismatches} mismatches, ${s.unknownLines} unknown lines` +
            (s.cutLines > 0 ? `, ${s.cutLines} over-long lines cut` : '') + '\n',
        );
        if (s.errors.length > 0) process.stdout.write(`  error: ${s.errors.join(' / ')}\n`);
        if (s.steps === 0) process.stdout.write('  no verifier steps found in this log\n');
      }
      process.stdout.write(`wrote ${out}\n`);
    } finally {
      db.close();
    }
    return 0;
  },
};
