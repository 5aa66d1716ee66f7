/** What a 6.18 level-2 verifier log says about instructions, for comparing listings with it. */
export interface LogInsns {
  /** `func#N @IDX` lines: the first instruction of each function the kernel found. */
  funcStarts: number[];
  /** Every `IDX: (OP) TEXT` printed, from the live-regs table and from the walk (text without the state after `;`). */
  insns: Map<number, Set<string>>;
  /** Each `; source @ file:line` line with the index of the instruction printed after it. */
  sources: { idx: number; text: string }[];
}

export function parseLogInsns(log: string): LogInsns {
  const out: LogInsns = { funcStarts: [], insns: new Map(), sources: [] };
  const add = (idx: number, text: string): void => {
    let s = out.insns.get(idx);
    if (!s) out.insns.set(idx, (s = new Set()));
    s.add(text);
  };
  let pendingSource: string | undefined;
  for (const line of log.split('\n')) {
    let m = /^func#\d+ @(\d+)$/.exec(line);
    if (m) {
      out.funcStarts.push(Number(m[1]));
      continue;
    }
    m = /^\s+(\d+): [0-9.]{10} (\([0-9a-f]{2}\) .*)$/.exec(line);
    if (m) {
      add(Number(m[1]), m[2]);
      continue;
    }
    if (line.startsWith('; ')) {
      pendingSource = line;
      continue;
    }
    // An instruction line: the text never contains ';', the state after it is set off by ` ; `.
    m = /^(\d+): (\([0-9a-f]{2}\) [^;]*?)\s*(?:; .*)?$/.exec(line);
    if (m) {
      const idx = Number(m[1]);
      add(idx, m[2]);
      if (pendingSource !== undefined) out.sources.push({ idx, text: pendingSource });
      pendingSource = undefined;
    }
  }
  return out;
}
