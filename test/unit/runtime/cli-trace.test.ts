import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openTrace } from '../../../main/trace/db';
import { listAllocEvents, listObjects, listRuns, readInsnTrace, readRuntimeMaps } from '../../../main/trace/runtime';
import { runSession } from '../../../main/runtime/session';
import { DEFAULT_PACKET, PROGS_DIR, REPO_ROOT } from '../../helpers/ref';
import { loadExample } from './helpers';

const work = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-runcli-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const LIST = path.join(PROGS_DIR, 'list.bpf.o');

function cli(...args: string[]) {
  return spawnSync('node', [path.join(REPO_ROOT, 'main/bin.mjs'), 'run', ...args], { encoding: 'utf8' });
}

describe('bpfscope run', () => {
  const trace = path.join(work, 'run.trace');
  const r = cli(LIST, '-p', 'list_mixed', '--repeat', '2', '--free-maps', '--trace-insns', '-o', trace, '--json');
  const json = JSON.parse(r.stdout) as {
    retval: number;
    events: { seq: number; insn: number; kind: string; object: number; type: string; size: number; owner: string | null }[];
    objects: { id: number; type: string; size: number; newSeq: number; freeSeq: number | null; freedBy: string | null }[];
    maps: Record<string, { entries: { key: string; value: string }[] }>;
  };

  it('prints the JSON the issue describes', () => {
    expect(r.status).toBe(0);
    // List after the pushes (back, front, back, front): 3 1 0 2; pops take 3 (len+30) and 2 (len+20).
    expect(json.retval).toBe(2 * DEFAULT_PACKET.length + 50);
    expect(Object.keys(json.events[0]).sort()).toEqual(['detail', 'insn', 'kind', 'object', 'owner', 'run', 'seq', 'size', 'step', 'type']);
    expect(json.events[0]).toMatchObject({ detail: expect.stringMatching(/^unit 64 at 0xff[0-9a-f]{6}00000008$/) });
    expect(json.events[0]).toMatchObject({ seq: 1, kind: 'new', object: 1, type: 'elem', size: 40, owner: 'prog' });
    expect(new Set(json.events.map((e) => e.kind))).toEqual(new Set(['new', 'push_back', 'push_front', 'pop_front', 'pop_back', 'drop', 'free', 'drain']));
    expect(json.objects).toHaveLength(8);
    expect(json.objects.every((o) => o.freeSeq !== null && o.freedBy !== null)).toBe(true);
    expect(json.maps.holders.entries).toHaveLength(4);
  });

  it('writes the same events, objects and runs into the trace', () => {
    const db = openTrace(trace);
    try {
      const prog = db.prepare("SELECT id, name, origin FROM programs WHERE origin = 'run'").get() as { id: number; name: string };
      expect(prog.name).toBe('list_mixed');
      const events = listAllocEvents(db, prog.id);
      expect(events.map(({ seq, insn, kind, object, owner }) => ({ seq, insn, kind, object, owner }))).toEqual(
        json.events.map(({ seq, insn, kind, object, owner }) => ({ seq, insn, kind, object, owner })),
      );
      const objects = listObjects(db, prog.id);
      expect(objects.map(({ id, newSeq, freeSeq, freedBy }) => ({ id, newSeq, freeSeq, freedBy }))).toEqual(
        json.objects.map(({ id, newSeq, freeSeq, freedBy }) => ({ id, newSeq, freeSeq, freedBy })),
      );
      expect(listRuns(db, prog.id).map((x) => x.retval)).toEqual([json.retval, json.retval]);
      expect(Object.keys(readRuntimeMaps(db, prog.id))).toEqual(['holders']);
    } finally {
      db.close();
    }
  });

  it('stores the registers of every step of the last run; any window reads back exactly', () => {
    const session = runSession(loadExample(LIST, 'list_mixed'), { input: { data: DEFAULT_PACKET }, repeat: 2, traceInsns: true });
    // Replay the in-memory deltas to the full registers after each step.
    const lo = [...session.traceStart!.lo];
    const hi = [...session.traceStart!.hi];
    const full = session.trace!.map((s) => {
      for (const [reg, l, h] of s.changed) {
        lo[reg] = l;
        hi[reg] = h;
      }
      return { step: s.step, insn: s.insn, regs: lo.map((l, i) => '0x' + ((BigInt(hi[i] >>> 0) << 32n) | BigInt(l >>> 0)).toString(16)) };
    });
    expect(full).toHaveLength(session.runs[1].steps);
    const db = openTrace(trace);
    try {
      const id = (db.prepare("SELECT id FROM programs WHERE origin = 'run'").get() as { id: number }).id;
      const all = readInsnTrace(db, id, 1, full.length);
      expect(all.map(({ step, insn, regs }) => ({ step, insn, regs }))).toEqual(full);
      const win = readInsnTrace(db, id, 50, 10);
      expect(win.map((w) => w.step)).toEqual([50, 51, 52, 53, 54, 55, 56, 57, 58, 59]);
      expect(win.map((w) => w.regs)).toEqual(full.slice(49, 59).map((f) => f.regs));
      // The last step is the exit: R0 holds the return value.
      expect(BigInt(all[all.length - 1].regs[0])).toBe(BigInt(json.retval));
    } finally {
      db.close();
    }
  });

  it('prints a readable text report', () => {
    const t = cli(LIST, '-p', 'list_push', '--free-maps');
    expect(t.status).toBe(0);
    expect(t.stdout).toMatch(/^run 0: retval 3 \(R0=0x3\), \d+ instructions$/m);
    expect(t.stdout).toMatch(/push_front\s+#1\s+struct elem\s+list holders\[0\]\+8/);
    expect(t.stdout).toMatch(/3 objects allocated, 0 alive after the maps were freed/);
  });

  it('names bad arguments in one line', () => {
    const t = cli(LIST);
    expect(t.status).toBe(1);
    expect(t.stderr.trim()).toBe('bpfscope run: run needs -p PROG, the program to run');
    const u = cli(path.join(work, 'missing.o'), '-p', 'x');
    expect(u.status).toBe(1);
    expect(u.stderr).toMatch(/missing\.o: cannot read object/);
  });
});
