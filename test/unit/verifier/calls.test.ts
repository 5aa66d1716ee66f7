/**
 * Call steps (issue 10, item 6): the state at a `call` insn is the state
 * after the call (R0-R5 clobbered as check_helper_call / check_kfunc_call /
 * clear_caller_saved_regs leave them, R0 as returned), and the step carries
 * the arguments R1-R5 as they were before the call. Checked on the real 6.18
 * logs of test/fixtures/logs, by meaning (names, kinds, values the program
 * computes), never by a kfunc's or BTF type's id, which differ between builds.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { kernelSkipReason, kernelTitle } from '../../helpers/kernel';
import { objectUnsupported, withSkipReason } from '../../helpers/support';
import { findByName } from '../../../main/object/btf/lookup';
import { parseObject } from '../../../main/object/object';
import { createTrace, type TraceDb } from '../../../main/trace/db';
import { writeVerifierLog, type LogSummary } from '../../../main/trace/verifier';
import { forgetProgram } from '../../../main/trace/verifierCache';
import { readLogLines, readSteps, stateAtStep, type StepRow, type StepState } from '../../../main/trace/verifierRead';
import { lexLine } from '../../../main/verifier/lexer';
import { parseCall } from '../../../main/verifier/reconstruct';

const DIR = path.resolve(__dirname, '../../fixtures/logs');
const PROGS = path.resolve(__dirname, '../../../resources/progs');
const logs = readdirSync(DIR).filter((f) => /^[a-z_]+\.[a-z_0-9]+\.log$/.test(f)).sort();
const tmp = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-calls-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let n = 0;
/** Import a fixture log with its object stored (as `bpfscope import --object` does). */
async function load(file: string, checkpointEvery = 64): Promise<{ db: TraceDb; pid: number; s: LogSummary; steps: StepRow[] }> {
  const [obj, prog] = file.split('.');
  const db = createTrace(path.join(tmp, `${file}.${n++}.trace`));
  const bytes = readFileSync(path.join(PROGS, `${obj}.bpf.o`));
  const sha = createHash('sha256').update(bytes).digest('hex');
  const oid = Number(db.prepare('INSERT INTO objects(path, sha256, bytes) VALUES (?, ?, ?)').run(`${obj}.bpf.o`, sha, bytes).lastInsertRowid);
  const pid = Number(db.prepare("INSERT INTO programs(object_id, name, origin, created_at) VALUES (?, ?, 'import', 'now')").run(oid, prog).lastInsertRowid);
  const s = await writeVerifierLog(db, pid, readFileSync(path.join(DIR, file), 'utf8'), { checkpointEvery });
  return { db, pid, s, steps: readSteps(db, pid, 0, s.steps) };
}

function insnText(db: TraceDb, pid: number, st: StepRow): string {
  const l = lexLine(readLogLines(db, pid, st.line, 1)[0].text);
  return l.kind === 'insn' ? l.text : '';
}

/** The call insn steps of a log whose text matches `re`. */
function callSteps(db: TraceDb, pid: number, steps: StepRow[], re: RegExp): StepRow[] {
  return steps.filter((st) => st.kind === 'insn' && re.test(insnText(db, pid, st)));
}

const cur = (s: StepState) => s.frames[s.frames.length - 1];

describe('call steps on the logs this kernel printed', () => {
  for (const f of logs) {
    it(`${f}: every call shows R1-R5 as before it and R0 as after it; the next insn's state is untouched`, async () => {
      const { db, pid, s, steps } = await load(f, 5);
      expect(s.mismatches).toBe(0);
      // The same trace with a checkpoint at every step: replays and checkpoints agree on every step, call included.
      const dense = await load(f, 1);
      for (const st of steps) expect(stateAtStep(dense.db, dense.pid, st.step), `${f} step ${st.step}`).toEqual(stateAtStep(db, pid, st.step));
      for (const st of steps) {
        const text = insnText(db, pid, st);
        if (st.kind !== 'insn' || !text.startsWith('call ')) continue;
        const at = stateAtStep(db, pid, st.step);
        const callee = parseCall(text)!;
        expect(at.call, `${f} step ${st.step} ${text}`).toBeDefined();
        const c = at.call!;
        expect([c.insn, c.step, c.kind, c.target, c.id]).toEqual([st.insn, st.step, callee.kind, callee.target, callee.id]);
        // The arguments are the caller's R1-R5 just before the call (the state after the previous step).
        const before = stateAtStep(db, pid, st.step - 1);
        const caller = before.frames[c.frame];
        expect(c.frame).toBe(before.frames.length - 1);
        for (const r of ['R1', 'R2', 'R3', 'R4', 'R5'] as const) expect(c.args[r]?.raw, `${f} step ${st.step} ${r}`).toBe(caller.regs[r]?.raw);
        // After it, the caller's R1-R5 are not initialised (the kernel's mark_reg_not_init);
        // where verification stopped at the call, the state is the one before it.
        const after = at.frames[c.frame];
        if (steps[st.step + 1]) {
          for (const r of ['R1', 'R2', 'R3', 'R4', 'R5']) expect(after.regs[r], `${f} step ${st.step} ${r} after`).toBeUndefined();
        } else {
          expect(at.frames).toEqual(before.frames);
        }
        const next = steps[st.step + 1];
        if (c.kind !== 'subprog') {
          // A helper or kfunc returns at once: R0 in the state is the returned one. The kernel
          // prints that state unless the next insn is pruned, or the call is where it stopped.
          const expected = !next ? 'stopped' : next.kind === 'safe' ? 'pruned' : 'returned';
          expect(c.status, `${f} step ${st.step}`).toBe(expected);
          if (c.status === 'returned') expect(c.ret?.raw).toBe(after.regs.R0?.raw);
          else expect(c.ret).toBeNull();
        } else {
          expect(c.status).toBe(next?.kind === 'call' ? 'callee' : 'returned');
        }
        if (next?.kind === 'state' && next.insn === st.insn + 1) {
          // The kernel printed the call's state on the next line: the call step shows that state,
          // and the line's own step is the same state, the one insn st.insn + 1 starts from.
          const line = stateAtStep(db, pid, next.step);
          expect(at.frames).toEqual(line.frames);
          expect(at.refs).toEqual(line.refs);
          expect(line.call).toEqual({ ...c });
        }
      }
      for (const st of steps) {
        const at = stateAtStep(db, pid, st.step);
        const prev = steps[st.step - 1];
        const callRelated = (st.kind === 'insn' && insnText(db, pid, st).startsWith('call ')) || st.kind === 'return' ||
          ((st.kind === 'state' || st.kind === 'call') && prev?.kind === 'insn' && insnText(db, pid, prev).startsWith('call '));
        if (!callRelated) expect(at.call, `${f} step ${st.step} (${st.kind})`).toBeUndefined();
      }
      db.close();
      dense.db.close();
    });
  }
});

describe('what a call step says', () => {
  it('new_drop: bpf_obj_new_impl gets the local type id in R1 and returns ptr_or_null with a ref_obj_id', async () => {
    const { db, pid, steps } = await load('new_drop.new_drop.log');
    const [st] = callSteps(db, pid, steps, /^call bpf_obj_new_impl#/);
    const s = stateAtStep(db, pid, st.step);
    const c = s.call!;
    expect([c.kind, c.target, c.status]).toEqual(['kfunc', 'bpf_obj_new_impl', 'returned']);
    // bpf_obj_new(struct point) is bpf_obj_new_impl(bpf_core_type_id_local(struct point), NULL).
    expect(c.args.R1).toMatchObject({ baseType: 'scalar', smin: c.args.R1!.smax });
    expect(Number(c.args.R1!.smin)).toBeGreaterThan(0);
    expect(c.args.R2).toMatchObject({ raw: '0', baseType: 'scalar' });
    expect([c.args.R3, c.args.R4, c.args.R5]).toEqual([null, null, null]);
    // The prototype the program's BTF declares: two parameters (extern declarations name no parameters).
    expect(c.params).toEqual(['__u64', 'void *']);
    expect(c.ret).toMatchObject({ baseType: 'ptr', pointee: 'point', orNull: true });
    expect(c.ret!.refObjId).not.toBeNull();
    expect(s.refs.map((r) => r.refObjId)).toEqual([c.ret!.refObjId]);
    // The state after the call: R0 returned, R1-R5 gone, the callee-saved R7 and R10 kept.
    expect(Object.keys(cur(s).regs)).toEqual(['R0', 'R7', 'R10']);
    expect(cur(s).regs.R0.raw).toBe(c.ret!.raw);
    db.close();
  });

  it('helpers: bpf_loop takes its four arguments; bpf_spin_lock returns nothing; bpf_kptr_xchg returns the old pointer', async () => {
    const loop = await load('compute.loop_callback.log');
    for (const st of callSteps(loop.db, loop.pid, loop.steps, /^call bpf_loop#/)) {
      const c = stateAtStep(loop.db, loop.pid, st.step).call!;
      expect([c.kind, c.target, c.status, c.ret?.raw]).toEqual(['helper', 'bpf_loop', 'returned', 'scalar()']);
      expect(c.params).toEqual(['__u32 nr_loops', 'void *callback_fn', 'void *callback_ctx', '__u64 flags']);
      expect(c.args.R1?.baseType).toBe('scalar');
      expect(c.args.R2?.raw).toBe('func()');
      expect(c.args.R3?.raw).toBe('fp-8');
      expect(c.args.R4?.raw).toBe('0');
      expect(c.args.R5).toBeNull();
    }
    loop.db.close();

    const list = await load('list.list_push.log');
    const locks = callSteps(list.db, list.pid, list.steps, /^call bpf_spin_lock#/);
    expect(locks.length).toBeGreaterThan(0);
    for (const st of locks) {
      const s = stateAtStep(list.db, list.pid, st.step);
      const c = s.call!;
      // bpf_spin_lock returns void: R0 is not initialised after it.
      expect([c.kind, c.status, c.ret]).toEqual(['helper', 'returned', null]);
      expect(c.params).toEqual(['struct bpf_spin_lock *lock']);
      // The lock's address: a pointer into the map value that holds it.
      expect(c.args.R1?.baseType).toBe('map_value');
      expect(cur(s).regs.R0).toBeUndefined();
      expect(s.lockHeld).toBe(true);
    }
    list.db.close();

    const kptr = await load('kptr.kptr_stash.log');
    const [x] = callSteps(kptr.db, kptr.pid, kptr.steps, /^call bpf_kptr_xchg#/);
    const s = stateAtStep(kptr.db, kptr.pid, x.step);
    const c = s.call!;
    expect([c.kind, c.target, c.params]).toEqual(['helper', 'bpf_kptr_xchg', ['void *map_value', 'void *ptr']]);
    expect(c.args.R1?.baseType).toBe('map_value');
    // The object to stash: an owning reference, which the stash consumes.
    const given = c.args.R2!.refObjId!;
    expect(given).not.toBeNull();
    expect(s.refs.map((r) => r.refObjId)).not.toContain(given);
    expect(c.ret).toMatchObject({ pointee: 'elem', orNull: true });
    expect(s.refs.map((r) => r.refObjId)).toContain(c.ret!.refObjId);
    kptr.db.close();
  });

  it('subprograms: the caller frame at the call, the callee frame with the arguments, R0 at the return', async () => {
    const { db, pid, steps } = await load('subprog.subprog_calls.log');
    const [first] = callSteps(db, pid, steps, /^call pc\+3$/);
    const s = stateAtStep(db, pid, first.step);
    const c = s.call!;
    expect([c.kind, c.target, c.id, c.status, c.ret]).toEqual(['subprog', 'pc+3', null, 'callee', null]);
    expect(c.params).toHaveLength(2);
    expect(c.args.R1?.baseType).toBe('scalar');
    expect(c.args.R2?.baseType).toBe('scalar');
    expect(s.frames).toHaveLength(1);
    // The callee's entry: its frame holds what the caller passed; the call is still shown.
    const entry = steps[first.step + 1];
    expect(entry.kind).toBe('call');
    const e = stateAtStep(db, pid, entry.step);
    expect(e.call).toMatchObject({ insn: first.insn, step: first.step, status: 'callee' });
    expect(e.frames[1].regs.R1.raw).toBe(c.args.R1!.raw);
    expect(e.frames[1].regs.R2.raw).toBe(c.args.R2!.raw);
    // Its return: R0 is what the callee returned, in the caller's frame.
    const ret = steps.find((x) => x.kind === 'return' && x.step > first.step)!;
    const r = stateAtStep(db, pid, ret.step);
    expect(r.call).toMatchObject({ insn: first.insn, step: null, kind: 'subprog', status: 'returned' });
    expect(r.call!.args).toEqual(c.args);
    expect(r.call!.ret?.raw).toBe(r.frames[0].regs.R0.raw);
    expect(r.call!.ret?.baseType).toBe('scalar');
    // A global function is verified on its own: the call returns on the next line, R0 an unknown scalar.
    const [global] = callSteps(db, pid, steps, /^call pc\+6$/);
    const g = stateAtStep(db, pid, global.step).call!;
    expect([g.kind, g.status, g.ret?.raw]).toEqual(['subprog', 'returned', 'scalar()']);
    db.close();
  });

  it('a kfunc called from a callee is made from frame 1; a subprogram argument the caller never set is not initialised', async () => {
    const { db, pid, steps } = await load('subprog.subprog_alloc.log');
    const [st] = callSteps(db, pid, steps, /^call bpf_obj_new_impl#/);
    const s = stateAtStep(db, pid, st.step);
    expect(s.call).toMatchObject({ frame: 1, kind: 'kfunc', status: 'returned' });
    expect(s.call!.args.R1?.raw).toBe('28');
    expect(s.call!.ret?.refObjId).not.toBeNull();
    expect(s.frames[1].regs.R0.raw).toBe(s.call!.ret!.raw);
    // The caller passed only R1 (the second argument is a constant the compiler folded): R2 was not initialised.
    const [sub] = callSteps(db, pid, steps, /^call pc\+1$/);
    const c = stateAtStep(db, pid, sub.step).call!;
    expect(c.params).toEqual(['long a', 'long b']);
    expect(c.args.R2).toBeNull();
    db.close();
  });
});

describe('traces written before calls kept their arguments', () => {
  it('checkpoints without `call`: call steps replay from the step before and show the same call', async () => {
    const { db, pid, steps } = await load('list.list_mixed.log', 1);
    const now = steps.map((st) => stateAtStep(db, pid, st.step));
    // What an older writer stored: the same checkpoints, without the call and the call stack's call sites.
    const rows = db.prepare('SELECT step, state FROM verifier_checkpoints WHERE program_id = ?').all(pid) as { step: number; state: string }[];
    const put = db.prepare('UPDATE verifier_checkpoints SET state = ? WHERE program_id = ? AND step = ?');
    for (const r of rows) {
      const m = JSON.parse(r.state) as Record<string, unknown> & { callStack: Record<string, unknown>[] };
      delete m.call;
      for (const e of m.callStack) delete e.site;
      put.run(JSON.stringify(m), pid, r.step);
    }
    forgetProgram(db, pid);
    let calls = 0;
    for (const st of steps) {
      const old = stateAtStep(db, pid, st.step);
      if (st.kind === 'return') continue;
      expect(old, `step ${st.step}`).toEqual(now[st.step]);
      if (old.call) calls++;
    }
    expect(calls).toBeGreaterThan(5);
    db.close();
  });
});

/** The CLI as a user runs it (`npx bpfscope …`). */
function bpfscope(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [path.resolve(__dirname, '../../../main/bin.mjs'), ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const NEW_DROP = path.join(PROGS, 'new_drop.bpf.o');
/** Four CLI processes each (record, log, show twice): in a TCG VM shared with other tests that takes minutes. */
const LIVE_TIMEOUT = 600_000;
/** bpf_obj_new/drop are not in every kernel's BTF (6.1 has neither): libbpf and bpfscope refuse the object there. */
const newDropUnsupported = kernelSkipReason() ? undefined : objectUnsupported(NEW_DROP);

describe.skipIf(!!kernelSkipReason())(kernelTitle('a call recorded from this kernel'), () => {
  it('ip_checksum recorded live: the bpf_skb_load_bytes step shows R1-R4 as passed, R0 = scalar returned, R1-R5 clobbered', () => {
    // A helper call every kernel loads (compute.bpf.o has no kfunc): bpf_skb_load_bytes(skb, 14, words, 20).
    const obj = path.join(PROGS, 'compute.bpf.o');
    const trace = path.join(tmp, 'ip_checksum.live.trace');
    const rec = bpfscope('record', obj, '-p', 'ip_checksum', '-o', trace);
    expect(rec.stderr).toBe('');
    expect(rec.status).toBe(0);
    const log = bpfscope('log', trace, '-p', 'ip_checksum').stdout.split('\n');
    const all = JSON.parse(bpfscope('show', trace, '-p', 'ip_checksum', '--steps', '0..100000', '--json').stdout) as StepState[];
    // The call by meaning: the step whose log line is `N: (85) call bpf_skb_load_bytes#ID`.
    const at = all.find((s) => s.kind === 'insn' && /^\d+: \(85\) call bpf_skb_load_bytes#\d+$/.test(log[s.line - 1]))!;
    expect(at).toBeDefined();
    const c = at.call!;
    expect([c.kind, c.target, c.status, c.insn]).toEqual(['helper', 'bpf_skb_load_bytes', 'returned', at.insn]);
    expect(c.params).toHaveLength(4);
    // The arguments as the program set them before the call: the context, 14, the stack buffer, its size.
    expect(c.args.R1).toMatchObject({ baseType: 'ctx' });
    expect(c.args.R2).toMatchObject({ baseType: 'scalar', smin: '14', smax: '14' });
    expect(c.args.R3).toMatchObject({ baseType: 'fp', off: -32 });
    expect(c.args.R4).toMatchObject({ baseType: 'scalar', smin: '20', smax: '20' });
    expect(c.args.R5 ?? null).toBeNull();
    // R0 as the kernel printed it after the call: an unknown scalar; R1-R5 clobbered.
    expect(c.ret).toMatchObject({ baseType: 'scalar', smin: '-9223372036854775808', smax: '9223372036854775807' });
    const cur = at.frames[at.frames.length - 1];
    expect(cur.regs.R0.raw).toBe(c.ret!.raw);
    for (const r of ['R1', 'R2', 'R3', 'R4', 'R5']) expect(cur.regs[r]).toBeUndefined();
    expect(at.refs).toEqual([]);
    // The next insn (r1 = r0) starts from that state.
    const next = all.find((s) => s.step > at.step && s.kind === 'insn')!;
    expect(next.call).toBeUndefined();
    expect(next.frames[0].regs.R1).toMatchObject({ baseType: 'scalar' });
    expect(next.frames[0].regs.R2).toBeUndefined();
    // The text output says the same.
    const text = bpfscope('show', trace, '-p', 'ip_checksum', '--step', String(at.step)).stdout;
    expect(text).toMatch(/arguments before the call:\n    R1   ctx\S*\s+ctx[^\n]*  \(const void \*skb\)\n    R2   14 +scalar = 14  \(__u32 offset\)\n    R3   fp-32 +fp off=-32  \(void \*to\)\n    R4   20 +scalar = 20  \(__u32 len\)\n/);
    expect(text).toContain(`returned:\n    R0   ${c.ret!.raw}`);
  }, LIVE_TIMEOUT);

  it.skipIf(!!newDropUnsupported)(withSkipReason('new_drop recorded live: the bpf_obj_new_impl step shows R1 = the local type id passed, R0 = ptr_or_null with a ref_obj_id', newDropUnsupported), () => {
    const obj = NEW_DROP;
    const trace = path.join(tmp, 'new_drop.live.trace');
    const rec = bpfscope('record', obj, '-p', 'new_drop', '-o', trace);
    expect(rec.stderr).toBe('');
    expect(rec.status).toBe(0);
    const log = bpfscope('log', trace, '-p', 'new_drop').stdout.split('\n');
    const all = JSON.parse(bpfscope('show', trace, '-p', 'new_drop', '--steps', '0..100000', '--json').stdout) as StepState[];
    // The call by meaning: the step whose log line is `N: (85) call bpf_obj_new_impl#ID` (the id is this kernel's).
    const at = all.find((s) => s.kind === 'insn' && /^\d+: \(85\) call bpf_obj_new_impl#\d+$/.test(log[s.line - 1]))!;
    expect(at).toBeDefined();
    const c = at.call!;
    expect([c.kind, c.target, c.status, c.insn]).toEqual(['kfunc', 'bpf_obj_new_impl', 'returned', at.insn]);
    // bpf_obj_new(struct point) passes the type's id in the program's own BTF: a known scalar.
    const btf = parseObject(new Uint8Array(readFileSync(obj)), obj).btf!;
    const point = findByName(btf, 'struct point')!;
    expect(c.args.R1).toMatchObject({ baseType: 'scalar', smin: String(point.id), smax: String(point.id) });
    expect(c.args.R2).toMatchObject({ baseType: 'scalar', smin: '0', smax: '0' });
    expect(c.params).toHaveLength(2);
    // R0 as the kernel printed it after the call, on its own line or after ';'.
    expect(c.ret).toMatchObject({ baseType: 'ptr', pointee: 'point', orNull: true });
    const ref = c.ret!.refObjId!;
    expect(ref).toBeGreaterThan(0);
    const cur = at.frames[at.frames.length - 1];
    expect(cur.regs.R0.raw).toBe(c.ret!.raw);
    for (const r of ['R1', 'R2', 'R3', 'R4', 'R5']) expect(cur.regs[r]).toBeUndefined();
    expect(at.refs.map((r) => r.refObjId)).toEqual([ref]);
    // The next insn starts from that state (it writes only R6).
    const next = all.find((s) => s.step > at.step && s.kind === 'insn')!;
    expect(next.call).toBeUndefined();
    expect(next.frames[0].regs.R0.raw).toBe(cur.regs.R0.raw);
    expect(next.frames[0].regs.R1).toBeUndefined();
    // bpf_obj_drop_impl gets the object (the NULL-checked pointer with the same ref_obj_id) and releases it.
    const drop = all.find((s) => s.kind === 'insn' && /call bpf_obj_drop_impl#\d+/.test(log[s.line - 1]))!;
    expect(drop.call!.args.R1).toMatchObject({ baseType: 'ptr', pointee: 'point', orNull: false, refObjId: ref });
    expect(drop.refs).toEqual([]);
    // The text output says the same.
    const text = bpfscope('show', trace, '-p', 'new_drop', '--step', String(at.step)).stdout;
    expect(text).toMatch(new RegExp(`arguments before the call:\\n    R1   ${point.id} +scalar = ${point.id}`));
    expect(text).toContain(`returned:\n    R0   ${c.ret!.raw}`);
  }, LIVE_TIMEOUT);
});
