import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import type { Command } from './index';
import { parseArgs } from './args';
import { BpfscopeError, inFile } from '../errors';
import { writeTraceAtomically } from '../trace/atomic';
import type { TraceDb } from '../trace/db';
import { logFileChunks, writeVerifierLog, type LogSummary } from '../trace/verifier';
import { lexLine } from '../verifier/lexer';
import { LogCheck, type LogProblem } from '../verifier/logCheck';
import { splitLines } from '../verifier/lines';

const usage = `usage: bpfscope import LOG [--object OBJ] [-p PROG] -o TRACE

Parse a verifier log (levels 1 and 2, kernels 5.15 to 7.x; raw, or as libbpf,
bpftool -d, veristat -v or the selftests print it) and store it in TRACE with
the reconstructed state at every step. LOG may be '-' for standard input.
A file that is no verifier log (empty, binary, or text without one line the
verifier prints) is refused, exit 1, and nothing is written. TRACE is
written to a temporary file beside it and renamed over it when complete: an
interrupted import leaves TRACE as it was.
  --object OBJ    the .bpf.o the log is from: stored in the trace (BTF, instructions, source)
  -p, --program   the program's name (picks one program from a log with several)
  -o, --output    the trace file to create or add to`;

function notALog(p: LogProblem, file: string): BpfscopeError {
  return new BpfscopeError(p.message, file, p.where);
}

/** The chunks, passed on once the check has seen them; binary data stops the reading there. */
async function* checked<C extends string | Uint8Array>(chunks: AsyncIterable<C>, check: LogCheck, file: string): AsyncGenerator<C> {
  for await (const c of chunks) {
    check.feed(typeof c === 'string' ? Buffer.from(c, 'utf8') : c);
    if (check.early) throw notALog(check.early, file);
    yield c;
  }
}

/**
 * Read the log before writing anything: is it a verifier log (else the
 * sentence why), and, when `names` is asked for, the program names of a
 * wrapped log (`prog 'x': -- BEGIN PROG LOAD LOG --`), streamed. Without
 * `names` the reading stops as soon as the check knows.
 */
async function prescan(path: string, names: boolean): Promise<string[]> {
  const check = new LogCheck();
  const found: string[] = [];
  const chunks = checked(logFileChunks(path), check, path);
  if (names) {
    for await (const batch of splitLines(chunks)) {
      for (const text of batch.texts) {
        if (!text.includes('-- BEGIN')) continue;
        const t = lexLine(text);
        if (t.kind === 'wrapBegin' && t.program !== null) found.push(t.program);
      }
    }
  } else {
    for await (const _ of chunks) if (check.done) break;
  }
  const problem = check.finish();
  if (problem) throw notALog(problem, path);
  return found;
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
    const shown = log === '-' ? 'standard input' : log;
    const wanted = args.values.get('program');
    const found = log === '-' ? [] : await prescan(log, wanted === undefined);
    const objPath = args.values.get('object');
    const sections = objPath ? await programSections(objPath) : new Map<string, { section: string; progType: string | null }>();
    if (wanted !== undefined && sections.size > 0 && !sections.has(wanted)) {
      throw new BpfscopeError(`the object has no program '${wanted}' (it has: ${[...sections.keys()].join(', ')})`, objPath);
    }
    const summaries = await writeTraceAtomically(out, 'target', async (db) => {
      const objectId = objPath ? storeObject(db, objPath) : null;
      // Which programs: the one asked for, else every program a wrapper names, else one.
      const names: (string | undefined)[] = wanted === undefined && found.length > 0 ? found : [wanted];
      const done: { name: string; s: LogSummary }[] = [];
      for (const name of names) {
        const fallback = name ?? (sections.size === 1 ? [...sections.keys()][0] : 'prog');
        const info = sections.get(name ?? fallback);
        const pid = Number(db.prepare(`INSERT INTO programs(object_id, name, section, prog_type, origin, created_at)
            VALUES (?, ?, ?, ?, 'import', ?)`).run(objectId, fallback, info?.section ?? null, info?.progType ?? null,
          new Date().toISOString()).lastInsertRowid);
        // Standard input is read once: it is checked as it is parsed, and a refusal drops the whole write.
        const stdinCheck = log === '-' ? new LogCheck() : null;
        const input = stdinCheck ? checked(process.stdin as AsyncIterable<Uint8Array>, stdinCheck, shown) : logFileChunks(log);
        let s: LogSummary;
        try {
          s = await writeVerifierLog(db, pid, input, { program: name });
        } catch (err) {
          throw inFile(err, shown);
        }
        const problem = stdinCheck?.finish();
        if (problem) throw notALog(problem, shown);
        if (name === undefined && s.wrappedProgram !== null && s.wrappedProgram !== fallback) {
          db.prepare('UPDATE programs SET name = ? WHERE id = ?').run(s.wrappedProgram, pid);
        }
        done.push({ name: name ?? s.wrappedProgram ?? fallback, s });
      }
      return done;
    });
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
    return 0;
  },
};
