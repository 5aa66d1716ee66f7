import type { Command } from './index';
import { parseArgs } from './args';
import { formatTable } from './table';
import { BpfscopeError } from '../errors';

export const command: Command = {
  summary: "list a trace's programs: verdict, errno, error, processed insns, test-run retval",
  usage: `usage: bpfscope runs TRACE [--json]

The kernel the trace was recorded on (release, build, and whether in a VM),
then one row per program. ERROR is the final error line (the kernel's last
line, or the loader's sentence); the lines the kernel printed before it
follow in brackets. --json prints
[{program, verdict: "accepted"|"rejected", errno, error, errors, processedInsns, retval?, kernel?}],
error being the final error line, errors every error line in order (the
final one last; [] when none), kernel the recording kernel's release (absent
for imported logs).`,
  async run(argv) {
    const args = parseArgs(argv, { switches: ['json'] });
    if (args.positional.length !== 1) throw new BpfscopeError("runs takes one trace file; see 'bpfscope help runs'");
    const { readTrace } = await import('./trace-file');
    const { runSummaries } = await import('../trace/load');
    const { readRecordedKernel, describeKernel } = await import('../trace/kernel');
    return readTrace('runs', args.positional[0], (db) => {
      const rows = runSummaries(db);
      if (args.switches.has('json')) {
        process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
        return 0;
      }
      const kernel = readRecordedKernel(db);
      if (kernel) process.stdout.write(`kernel ${describeKernel(kernel)}\n`);
      const table = [['PROGRAM', 'VERDICT', 'ERRNO', 'INSNS', 'RETVAL', 'ERROR']];
      for (const r of rows) {
        table.push([
          r.program, r.verdict ?? '?', r.errno === null ? '' : String(r.errno), r.processedInsns === null ? '' : String(r.processedInsns),
          r.retval === undefined ? '' : String(r.retval),
          (r.error ?? '') + (r.errors.length > 1 ? ` (after: ${r.errors.slice(0, -1).join(' / ')})` : ''),
        ]);
      }
      process.stdout.write(formatTable(table));
      return 0;
    });
  },
};
