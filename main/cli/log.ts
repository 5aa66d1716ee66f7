import type { Command } from './index';
import { parseArgs } from './args';
import { BpfscopeError } from '../errors';

export const command: Command = {
  summary: 'print the raw verifier log stored in a trace, byte for byte',
  usage: `usage: bpfscope log TRACE [-p PROG]

Writes the verifier log of PROG (or of the trace's only program) exactly as
the kernel printed it.`,
  async run(argv) {
    const args = parseArgs(argv, { values: ['program'], aliases: { p: 'program' } });
    if (args.positional.length !== 1) throw new BpfscopeError("log takes one trace file; see 'bpfscope help log'");
    const path = args.positional[0];
    const { readTrace } = await import('./trace-file');
    const { readProgramLog } = await import('../trace/load');
    return readTrace('log', path, async (db) => {
      const progs = db.prepare('SELECT id, name FROM programs ORDER BY id').all() as { id: number; name: string }[];
      const want = args.values.get('program');
      let prog: { id: number; name: string } | undefined;
      if (want !== undefined) {
        // A name, or a program's id (as `runs --json` and `show -p` have it): a trace may hold one name twice.
        prog = progs.find((p) => p.name === want) ?? progs.find((p) => String(p.id) === want);
        if (!prog) throw new BpfscopeError(`no program '${want}' in the trace (programs: ${progs.map((p) => p.name).join(', ') || 'none'})`, path);
      } else if (progs.length === 1) {
        prog = progs[0];
      } else {
        throw new BpfscopeError(`the trace holds ${progs.length} programs; name one with -p (${progs.map((p) => p.name).join(', ')})`, path);
      }
      const hasLogs = db.prepare("SELECT 1 FROM sqlite_master WHERE type='table' AND name='program_logs'").get();
      let log = hasLogs ? readProgramLog(db, prog.id) : undefined;
      if (log === undefined) {
        // An imported log (bpfscope import) is kept as lines by the verifier analysis.
        const { logInfo, readLogLines } = await import('../trace/verifierRead');
        const info = logInfo(db, prog.id);
        if (info && info.lineCount > 0) {
          log = Buffer.from(readLogLines(db, prog.id, 1, info.lineCount).map((l) => l.text + '\n').join(''), 'utf8');
        }
      }
      if (log === undefined) throw new BpfscopeError(`program '${prog.name}' has no stored log (it never reached the kernel)`, path);
      if (log.length === 0) {
        // Printing nothing would look like a broken trace: say why there is nothing.
        const row = db.prepare('SELECT log_level, error FROM programs WHERE id = ?').get(prog.id) as { log_level: number | null; error: string | null };
        const why = row.log_level === 0 ? 'it was recorded with --log-level 0' : 'the kernel printed nothing for it';
        throw new BpfscopeError(`program '${prog.name}' has an empty log: ${why}${row.error ? ` (its error: ${row.error.split('\n')[0]})` : ''}`, path);
      }
      await new Promise<void>((resolve, reject) => process.stdout.write(log, (e) => (e ? reject(e) : resolve())));
      return 0;
    });
  },
};
