import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { kernelSkipReason, kernelTitle } from '../../helpers/kernel';
import { PROGS_DIR } from '../../helpers/ref';
import { BpfscopeError } from '../../../main/errors';
import { createTrace } from '../../../main/trace/db';
import { recordObject } from '../../../main/kernel/record';
import { leakedBpfFds, openFds } from '../../helpers/support';

/**
 * Damaged objects through the whole recorder: every outcome is either a
 * recording (the kernel judges what it gets) or one BpfscopeError; never a
 * TypeError/RangeError, never an fd left open.
 */
const work = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-f-fuzz-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe.skipIf(!!kernelSkipReason())(kernelTitle('recording damaged objects'), () => {
  it('bit flips and truncations give a recording or a BpfscopeError', async () => {
    let seed = 4242;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const objects = ['new_drop', 'list', 'globals', 'compute', 'subprog'].map((n) => readFileSync(path.join(PROGS_DIR, `${n}.bpf.o`)));
    let recorded = 0;
    let refused = 0;
    const db = createTrace(path.join(work, 'fuzz.trace'));
    const file = path.join(work, 'damaged.bpf.o');
    const before = openFds();
    for (let i = 0; i < 60; i++) {
      const src = objects[i % objects.length];
      const b = Buffer.from(src.subarray(0, i % 7 === 0 ? rnd(src.length) : src.length));
      for (let k = 0, n = 1 + rnd(8); k < n && b.length > 0; k++) b[rnd(b.length)] = rnd(256);
      writeFileSync(file, b);
      try {
        await recordObject(db, file, { logLevel: 1 });
        recorded++;
      } catch (err) {
        if (!(err instanceof BpfscopeError)) throw new Error(`iteration ${i}: ${err instanceof Error ? err.stack : String(err)}`);
        expect(err.describe()).toContain(file);
        refused++;
      }
    }
    db.close();
    expect(leakedBpfFds(before)).toEqual([]);
    expect(recorded).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);
    // 60 recordings: about 15 s here, over 2 minutes in a TCG guest.
  }, 600_000);
});
