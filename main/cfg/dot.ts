import type { CfgGraph } from './graph';

/**
 * Graphviz DOT of a CFG with the verifier's walk: one cluster per
 * subprogram, blocks filled by visit count (ColorBrewer's ylorrd9 on a log
 * scale, grey when never visited), edges by kind, pruned and failing
 * marked. `dot -Tsvg` draws it.
 */
const quote = (s: string): string => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, ' ')}"`;

/** 1..9 on ylorrd9 for a visit count, 0 for none. */
export function heatLevel(visits: number, maxVisits: number): number {
  if (visits <= 0) return 0;
  if (maxVisits <= 1) return 1;
  return 1 + Math.min(8, Math.floor((8 * Math.log(visits)) / Math.log(maxVisits)));
}

const EDGE_STYLE: Record<string, string> = {
  fall: 'color="#555555"',
  taken: 'color="#1a7f37"',
  goto: 'color="#0550ae"',
  call: 'style=dashed, color="#8250df"',
  callback: 'style=dotted, color="#8250df"',
};

export function cfgToDot(g: CfgGraph, name = 'cfg'): string {
  const failBlocks = new Set(g.failing?.blocks ?? []);
  const failEdges = new Set(g.failing?.edges ?? []);
  const out: string[] = [
    `digraph ${quote(name)} {`,
    '  graph [fontname="monospace", rankdir=TB, compound=true];',
    '  node [shape=box, fontname="monospace", fontsize=10, style=filled, colorscheme=ylorrd9];',
    '  edge [fontname="monospace", fontsize=9];',
  ];
  for (const f of g.funcs) {
    out.push(`  subgraph ${quote(`cluster_${f.index}`)} {`, `    label=${quote(`${f.name} (insn ${f.start}..${f.end - 1})`)};`);
    for (const id of f.blocks) {
      const b = g.blocks[id];
      const level = heatLevel(b.visits, g.maxVisits);
      const head = `visits ${b.visits}${b.pruned ? ` · pruned ${b.pruned}` : ''}${b.firstStep !== null ? ` · first step ${b.firstStep}` : ''}`;
      const lines = b.insns.map((insn, k) => `${insn}: ${b.lines[k]}`);
      // \l ends a left-justified line in a DOT label.
      const label = [head, ...lines].map((l) => l.replace(/\\/g, '\\\\').replace(/"/g, '\\"')).join('\\l') + '\\l';
      const attrs = [`label="${label}"`, level ? `fillcolor=${level}` : 'fillcolor="#eeeeee"'];
      if (failBlocks.has(id)) attrs.push('color="#cf222e"', 'penwidth=2.5');
      out.push(`    b${id} [${attrs.join(', ')}];`);
    }
    out.push('  }');
  }
  for (const e of g.edges) {
    const attrs = [EDGE_STYLE[e.kind]];
    const label: string[] = [];
    if (e.walked) label.push(`${e.walked}×`);
    if (e.prunedAfter) label.push(`pruned ${e.prunedAfter}`);
    if (label.length) attrs.push(`label=${quote(label.join(' '))}`);
    if (e.prunedAfter) attrs.push('arrowhead=tee');
    if (failEdges.has(e.id)) attrs.push('color="#cf222e"', 'penwidth=2.5');
    if (!e.walked) attrs.push('style=dashed');
    out.push(`  b${e.from} -> b${e.to} [${attrs.join(', ')}];`);
  }
  out.push('}');
  return out.join('\n') + '\n';
}
