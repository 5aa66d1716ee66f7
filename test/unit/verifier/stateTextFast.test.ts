import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseStateText, splitStateTokens, type StateItem } from '../../../main/verifier/stateText';

/**
 * parseStateText reads register tokens in place. This checks it against the
 * plain way (split the tokens, then a regex per token) on every state text of
 * the kernel-printed and hand-written logs, and on tokens at the format's edges.
 */
function reference(text: string): StateItem[] {
  return splitStateTokens(text).map((tok): StateItem => {
    const r = /^R(\d{1,2})(?:_([rwD]{1,2}))?=(.*)$/s.exec(tok);
    if (r && Number(r[1]) <= 10) return { kind: 'reg', reg: Number(r[1]), live: r[2] ?? '', raw: r[3] };
    const sl = /^fp(-\d+)(_[rwD]{1,2})?=(.*)$/s.exec(tok);
    if (sl) return { kind: 'slot', off: Number(sl[1]), live: sl[2] ? sl[2].slice(1) : '', raw: sl[3] };
    const f = /^frame(\d+):$/.exec(tok);
    if (f) return { kind: 'frame', frame: Number(f[1]) };
    if (tok.startsWith('refs=')) {
      const ids = tok.slice(5).split(',').map(Number);
      if (ids.every((x) => Number.isSafeInteger(x) && x >= 0)) return { kind: 'refs', ids };
    }
    if (['cb', 'async_cb', 'exception_cb'].includes(tok)) return { kind: 'flag', name: tok };
    return { kind: 'other', text: tok };
  });
}

function stateTexts(): string[] {
  const out: string[] = [];
  for (const dir of [path.resolve(__dirname, '../../fixtures/logs'), path.resolve(__dirname, 'logs')]) {
    for (const f of readdirSync(dir)) {
      if (!f.endsWith('.log')) continue;
      for (const line of readFileSync(path.join(dir, f), 'utf8').split('\n')) {
        const semi = line.indexOf('; ');
        if (/^\d+: \(/.test(line) && semi > 0) out.push(line.slice(semi + 2));
        const st = /^(?:\d+|from \d+ to \d+): (.*)$/.exec(line);
        if (st) out.push(st[1]);
        if (/^\s+R\d/.test(line)) out.push(line.trim());
      }
    }
  }
  return out;
}

describe('state text read in one pass', () => {
  it('every state text of the logs: the items of the plain token-by-token reading', () => {
    const texts = stateTexts();
    expect(texts.length).toBeGreaterThan(1000);
    for (const t of texts) expect(parseStateText(t), t).toEqual(reference(t));
  });

  it('tokens at the edges: long register numbers, odd liveness suffixes, refs without R, spaces in parentheses', () => {
    const edge = [
      'R11=1 R100=2 R1_=3 R1_rwx=4 R1_rw=5 R=6 R1 R1=',
      'R10_D=fp0 R2_r=ctx() R3_w=scalar(smin=0,var_off=(0x0; 0xff)) fp-8_w=mmmmmmmm fp-16=0000????',
      'frame1: R1=ptr_or_null_foo(id=2,ref_obj_id=2) refs=2,3 cb refs=x Rfoo=1',
      '  R1=1   R2=2  ',
      'R1=scalar(smin=1 , smax=2) R0=(( R5=1',
    ];
    for (const t of edge) expect(parseStateText(t), t).toEqual(reference(t));
  });
});
