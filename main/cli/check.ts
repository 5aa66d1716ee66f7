import type { Command } from './index';
import { parseArgs } from './args';
import { BpfscopeError } from '../errors';

export const command: Command = {
  summary: "check a trace file: schema version, tables, SQLite's integrity_check, every stored block",
  usage: `usage: bpfscope check TRACE [--json]

Checks that TRACE is a bpfscope trace this version reads (its schema
version, the tables and columns the views query) and runs SQLite's
integrity_check over the whole file; then decodes every compressed block of
each program's log and steps and its recorded log, and checks them against
their rows and each other (what a page overwritten inside a blob leaves,
which SQLite's check cannot see). Prints "TRACE: ok", or "TRACE: damaged"
and one problem per line (the tables they are in), or one sentence saying
why the file does not open as a trace at all. Exit 0 when the trace is
sound, 1 when it is damaged or no trace. Other commands read a damaged trace
as far as it can be read and warn; on open they run the quicker quick_check
(for traces over 64 MB only on the tables other than the bulk blocks).
  --json   {file, ok, problems: [string]}`,
  async run(argv) {
    const args = parseArgs(argv, { switches: ['json'] });
    if (args.positional.length !== 1) throw new BpfscopeError("check takes one trace file; see 'bpfscope help check'");
    const file = args.positional[0];
    const { openTrace } = await import('../trace/db');
    const { fullCheck } = await import('../trace/health');
    const { blockProblems } = await import('../trace/blockCheck');
    const { readingTrace, CHECK_HINT } = await import('../trace/damage');
    let problems: string[];
    let refused = false;
    try {
      // integrity_check does all quick_check does and more: the open skips it.
      const db = openTrace(file, { quickCheck: false });
      try {
        problems = readingTrace(file, () => fullCheck(db));
        // The blocks' contents, which no b-tree check sees; on a file whose pages are already damaged
        // the b-tree problems are the answer, and reading blocks through them would only repeat it.
        if (problems.length === 0) problems = readingTrace(file, () => blockProblems(db));
      } finally {
        db.close();
      }
    } catch (err) {
      // A file that does not even open as a trace is the check's answer, not a failure of it.
      if (!(err instanceof BpfscopeError)) throw err;
      problems = [err.message.replace(CHECK_HINT, '')];
      refused = true;
    }
    if (args.switches.has('json')) {
      process.stdout.write(JSON.stringify({ file, ok: problems.length === 0, problems }, null, 2) + '\n');
    } else if (problems.length === 0) {
      process.stdout.write(`${file}: ok\n`);
    } else if (refused) {
      process.stdout.write(`${file}: ${problems[0]}\n`);
    } else {
      process.stdout.write(`${file}: damaged\n${problems.map((p) => `  ${p}\n`).join('')}`);
    }
    return problems.length === 0 ? 0 : 1;
  },
};
