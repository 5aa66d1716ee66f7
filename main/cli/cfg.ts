import type { Command } from './index';
import { parseArgs } from './args';
import { BpfscopeError } from '../errors';
import { CfgView } from '../api/cfgView';
import { cfgToDot } from '../cfg/dot';
import type { CfgGraph } from '../cfg/graph';
import { pickProgram } from './show';
import { readTrace } from './trace-file';

const usage = `usage: bpfscope cfg TRACE [-p PROG] [--dot | --json] [--step N]

The control-flow graph of a verified program with the verifier's walk on it:
basic blocks (cut as bpftool's 'prog dump xlated visual' cuts them), one graph
per subprogram linked by call edges, how many times the verifier visited each
block, how often it walked each edge, where it pruned states as safe, and for
a rejected program the history that led to the error. Instructions come from
the object stored in the trace, else from the texts the log printed.
  -p, --program   the program (name or id) when the trace has several
  --dot           Graphviz DOT (dot -Tsvg draws it): clusters per subprogram,
                  blocks filled by visits, the failing path in red
  --json          the graph as the app gets it (blocks, edges, funcs, failing)
  --step N        with --json or alone: the history to step N (its blocks and edges)
Without --dot/--json: one line per block.`;

function text(g: CfgGraph): string {
  const out = [`${g.blocks.length} blocks, ${g.edges.length} edges, ${g.funcs.length} subprogram(s); instructions from the ${g.source}`];
  const failing = new Set(g.failing?.blocks ?? []);
  for (const f of g.funcs) {
    out.push(`${f.name} (insn ${f.start}..${f.end - 1}):`);
    for (const id of f.blocks) {
      const b = g.blocks[id];
      const succ = g.edges.filter((e) => e.from === id).map((e) => `${e.kind} b${e.to}${e.walked ? ` ${e.walked}×` : ''}${e.prunedAfter ? ` pruned ${e.prunedAfter}` : ''}`);
      out.push(
        `  b${id} insn ${b.start}..${b.end}  visits ${b.visits}` +
          `${b.pruned ? `  pruned ${b.pruned}` : ''}${b.firstStep !== null ? `  first step ${b.firstStep}` : ''}` +
          `${failing.has(id) ? '  [failing path]' : ''}${succ.length ? `  -> ${succ.join(', ')}` : b.exit ? '  exit' : ''}`,
      );
    }
  }
  return out.join('\n');
}

export const command: Command = {
  summary: 'the control-flow graph of a program with the verifier walk (text, DOT, JSON)',
  usage,
  async run(argv) {
    const args = parseArgs(argv, { values: ['program', 'step'], switches: ['dot', 'json'], aliases: { p: 'program' } });
    const file = args.positional[0];
    if (!file || args.positional.length > 1) {
      process.stderr.write(`${usage}\n`);
      return 2;
    }
    if (args.switches.has('dot') && args.switches.has('json')) throw new BpfscopeError('give --dot or --json, not both');
    const stepText = args.values.get('step');
    if (stepText !== undefined && !/^\d+$/.test(stepText)) throw new BpfscopeError(`--step takes a step number, not '${stepText}'`);
    if (stepText !== undefined && args.switches.has('dot')) throw new BpfscopeError('--step goes with --json or the text output, not --dot');
    return readTrace('cfg', file, (db) => {
      const prog = pickProgram(db, file, args.values.get('program'));
      const view = new CfgView(db, prog.id);
      if (stepText !== undefined) {
        const path = view.pathAt(Number(stepText));
        if (args.switches.has('json')) process.stdout.write(`${JSON.stringify(path)}\n`);
        else {
          process.stdout.write(
            `step ${path.step}: block b${path.current}; history through ${path.blocks.length} blocks: ${path.blocks.map((b) => `b${b}`).join(' ')}` +
              `${path.truncated ? ' (oldest part left out)' : ''}\n`,
          );
        }
        return 0;
      }
      const g = view.graph();
      if (args.switches.has('dot')) process.stdout.write(cfgToDot(g, prog.name));
      else if (args.switches.has('json')) process.stdout.write(`${JSON.stringify(g)}\n`);
      else process.stdout.write(`${text(g)}\n`);
      return 0;
    });
  },
};
