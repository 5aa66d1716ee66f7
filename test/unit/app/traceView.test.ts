import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TraceInfo } from '../../../main/api/contract';
import { createHandlers } from '../../../main/api/handlers';
import { BpfscopeError } from '../../../main/errors';

/**
 * The handler table on traces imported (with `bpfscope import`, as a user
 * would) from the kernel logs in test/fixtures/logs, every example program
 * that has one. What it answers is checked against the kernel's own text,
 * resources/progs/manifest.json (the kernel's verdicts), pahole and the
 * object's line info (bpfscope disasm).
 */
const ROOT = join(import.meta.dirname, '../../..');
const LOGS = join(ROOT, 'test/fixtures/logs');
const PROGS = join(ROOT, 'resources/progs');

interface Entry {
  object: string;
  program: string;
  expect: string;
}
const manifest = (JSON.parse(readFileSync(join(PROGS, 'manifest.json'), 'utf8')) as { programs: Entry[] }).programs.filter(
  (p) => existsSync(join(LOGS, `${p.object.replace('.bpf.o', '')}.${p.program}.log`)),
);
const logOf = (e: Entry): string => join(LOGS, `${e.object.replace('.bpf.o', '')}.${e.program}.log`);

const h = createHandlers();
let info: TraceInfo;
let tmp = '';
const call = <T>(channel: string, ...args: unknown[]): Promise<T> => h.dispatch(channel, args) as Promise<T>;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'bpfscope-app-'));
  const trace = join(tmp, 'all.trace');
  for (const e of manifest) {
    const r = spawnSync(process.execPath, [join(ROOT, 'main/bin.mjs'), 'import', logOf(e), '--object', join(PROGS, e.object), '-p', e.program, '-o', trace], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
  }
  // A run in bpfscope's machine, with the maps freed (drains), in the same trace.
  const run = spawnSync(process.execPath, [join(ROOT, 'main/bin.mjs'), 'run', join(PROGS, 'list.bpf.o'), '-p', 'list_mixed', '--free-maps', '-o', trace], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(run.stderr);
  info = await call<TraceInfo>('trace:open', trace);
}, 300_000);
afterAll(() => {
  h.close();
  rmSync(tmp, { recursive: true, force: true });
});

const programId = (name: string): number => info.programs.find((p) => p.name === name)!.id;

/** `; R6=ctx() R9=scalar(…, var_off=(0x0; 0xffffffff)) fp-8=mmmm refs=3` → {R6: 'ctx()', …, 'fp-8': 'mmmm'}. */
function printed(delta: string): Map<string, string> {
  const re = /(?:^|\s)(R\d+|fp-\d+|refs)=/g;
  const marks: { name: string; start: number; end: number }[] = [];
  for (let m; (m = re.exec(delta)); ) marks.push({ name: m[1], start: m.index, end: re.lastIndex });
  const out = new Map<string, string>();
  marks.forEach((m, i) => out.set(m.name, delta.slice(m.end, i + 1 < marks.length ? marks[i + 1].start : undefined).trim()));
  return out;
}

describe('handler table on imported kernel logs', () => {
  it('lists every program with the verdict the kernel gave (manifest)', () => {
    expect(info.programs.length).toBe(manifest.length);
    for (const e of manifest) expect(info.programs.find((p) => p.name === e.program)?.verdict, e.program).toBe(e.expect);
  });

  it('registers at every insn step equal the text the kernel printed after ";"; printed values that differ from the step before are `changed`', async () => {
    let compared = 0;
    for (const e of manifest) {
      const id = programId(e.program);
      const log = readFileSync(logOf(e), 'utf8').split('\n');
      const steps = info.programs.find((p) => p.id === id)!.steps;
      const rows = await call<{ step: number; line: number; kind: string }[]>('steps:rows', info.traceId, id, 0, steps);
      for (const row of rows) {
        const text = log[row.line - 1];
        const m = /^\d+: \([0-9a-f]{2}\) .*?;\s(?:frame\d+: )?(.*)$/.exec(text);
        if (row.kind !== 'insn' || !m || text.includes('frame')) continue;
        type S = { frames: { regs: Record<string, { raw: string }>; stack: Record<string, { raw: string }> }[]; changed: string[]; line: number; path: number };
        const st = await call<S>('steps:state', info.traceId, id, row.step);
        const prev = row.step > 0 ? await call<S>('steps:state', info.traceId, id, row.step - 1) : null;
        expect(st.line).toBe(row.line);
        const cur = st.frames[st.frames.length - 1];
        const want = printed(m[1]);
        for (const [name, raw] of want) {
          if (name === 'refs') continue;
          const got = name.startsWith('R') ? cur.regs[name]?.raw : cur.stack[name.slice(2)]?.raw;
          expect(got, `${e.program} step ${row.step} ${name}`).toBe(raw);
          compared++;
        }
        if (prev && prev.path === st.path && prev.frames.length === st.frames.length) {
          const before = prev.frames[prev.frames.length - 1];
          for (const [name, raw] of want) {
            if (name === 'refs') continue;
            const old = name.startsWith('R') ? before.regs[name]?.raw : before.stack[name.slice(2)]?.raw;
            if (old !== raw) expect(st.changed, `${e.program} step ${row.step} ${name}`).toContain(name);
          }
        }
      }
    }
    expect(compared).toBeGreaterThan(500);
  });

  it('log lines are the file byte for byte, each labelled with the step it belongs to', async () => {
    const id = programId('list_mixed');
    const e = manifest.find((x) => x.program === 'list_mixed')!;
    const log = readFileSync(logOf(e), 'utf8').replace(/\n$/, '').split('\n');
    const lines = await call<{ line: number; text: string; step: number | null }[]>('log:lines', info.traceId, id, 1, 100_000);
    expect(lines.map((l) => l.text)).toEqual(log);
    const rows = await call<{ step: number; line: number }[]>('steps:rows', info.traceId, id, 0, 100_000);
    for (const r of rows) expect(lines[r.line - 1].step).toBe(r.step);
    let last = -1;
    for (const l of lines) {
      if (l.step === null) continue;
      expect(l.step).toBeGreaterThanOrEqual(last);
      last = l.step;
    }
    // A window from the middle gives the same rows.
    const mid = await call<{ line: number; text: string; step: number | null }[]>('log:lines', info.traceId, id, 100, 7);
    expect(mid).toEqual(lines.slice(99, 106));
  });

  it('search: text and regex, forwards and backwards, bad regex as a sentence', async () => {
    const id = programId('list_mixed');
    const log = readFileSync(logOf(manifest.find((x) => x.program === 'list_mixed')!), 'utf8').split('\n');
    const first = log.findIndex((l) => l.includes('call bpf_list_push_back')) + 1;
    const hit = await call<{ line: number; step: number | null }>('log:search', info.traceId, id, 'CALL BPF_LIST_PUSH_BACK', false, 1, false);
    expect(hit.line).toBe(first);
    const re = await call<{ line: number }>('log:search', info.traceId, id, 'call bpf_list_push_(front|back)', true, first + 1, false);
    expect(re.line).toBe(log.findIndex((l, i) => i >= first && /call bpf_list_push_(front|back)/.test(l)) + 1);
    const back = await call<{ line: number }>('log:search', info.traceId, id, 'bpf_list_push_back', false, log.length, true);
    expect(back.line).toBe(log.map((l) => l.includes('bpf_list_push_back')).lastIndexOf(true) + 1);
    expect(await call('log:search', info.traceId, id, 'no such text anywhere', false, 1, false)).toBeNull();
    await expect(call('log:search', info.traceId, id, '(', true, 1, false)).rejects.toThrow(/bad regular expression/);
  });

  it('lastWrite: the step where the register last changed its text, along the path and the branches that pushed it', async () => {
    const id = programId('list_push');
    const steps = info.programs.find((p) => p.id === id)!.steps;
    const raw = async (s: number, reg: string): Promise<string | undefined> =>
      (await call<{ frames: { regs: Record<string, { raw: string }> }[] }>('steps:state', info.traceId, id, s)).frames[0].regs[reg]?.raw;
    for (const s of [20, 40, 60, steps - 1]) {
      for (const reg of ['R0', 'R6', 'R8']) {
        const w = await call<number | null>('steps:lastWrite', info.traceId, id, s, 0, reg);
        if (w === null) continue;
        expect(await raw(w, reg)).toBe(await raw(s, reg));
        // The step before w in this state's history: w-1 on the same path, else the branch that pushed the path.
        const row = (await call<{ path: number }[]>('steps:rows', info.traceId, id, w, 1))[0];
        const path = (await call<{ paths: { startStep: number; pushedStep: number | null }[] }>('paths:list', info.traceId, id, row.path, 1)).paths[0];
        const before = w > path.startStep ? w - 1 : path.pushedStep;
        if (before !== null) expect(await raw(before, reg)).not.toBe(await raw(w, reg));
      }
    }
  });

  it('first error is the rejected programs\' last step; none for accepted ones', async () => {
    for (const e of manifest) {
      const p = info.programs.find((x) => x.name === e.program)!;
      const s = await call<number | null>('steps:firstError', info.traceId, p.id);
      if (e.expect === 'accepted') expect(s, e.program).toBeNull();
      else {
        expect(s, e.program).not.toBeNull();
        const st = await call<{ error?: string }>('steps:state', info.traceId, p.id, p.steps - 1);
        expect(st.error, e.program).toBeTruthy();
      }
    }
  });

  it('listing: insn text and C source lines equal the object\'s (bpfscope disasm with line info)', async () => {
    for (const e of manifest) {
      const id = programId(e.program);
      const rows = await call<{ insn: number; text: string; source: string | null; visits: number }[]>('insns:listing', info.traceId, id);
      const dis = execFileSync(process.execPath, [join(ROOT, 'main/bin.mjs'), 'disasm', join(PROGS, e.object), '-p', e.program], { encoding: 'utf8' }).split('\n');
      const text = new Map<number, string>();
      const source = new Map<number, string>();
      let src: string | null = null;
      for (const l of dis) {
        const m = /^(\d+): (.*)$/.exec(l);
        if (l.startsWith('; ')) src = l.slice(2);
        else if (m) {
          text.set(Number(m[1]), m[2]);
          if (src) source.set(Number(m[1]), src);
          src = null;
        }
      }
      let checked = 0;
      for (const r of rows) {
        // ld_imm64 of a map prints the kernel's address in the log, map[NAME] in the object.
        if (r.text.startsWith('(18)')) continue;
        // A kfunc's BTF id belongs to the kernel build that printed the fixture log;
        // the disassembly runs without any kernel's BTF (this test needs no
        // kernel): compare kfuncs by name.
        const kfuncByName = (t: string | undefined): string | undefined => t?.replace(/(call \w+)#\d{4,}\b/, '$1');
        expect(kfuncByName(r.text), `${e.program} insn ${r.insn}`).toBe(kfuncByName(text.get(r.insn)));
        // The kernel prints the line info in effect when a path reaches an insn: the
        // nearest line_info entry at or before it (a jump can land past its first insn).
        if (r.source !== null) {
          let at = r.insn;
          while (at > 0 && !source.has(at)) at--;
          expect(r.source, `${e.program} insn ${r.insn}`).toBe(source.get(at));
        }
        checked++;
      }
      expect(checked, e.program).toBeGreaterThan(0);
    }
  });

  it('struct layouts equal pahole: members, holes, tail padding, size', async () => {
    let checked = 0;
    for (const e of manifest) {
      const id = programId(e.program);
      const types = await call<string[]>('layout:types', info.traceId, id);
      for (const t of types) {
        let pahole: string;
        try {
          pahole = execFileSync('pahole', ['-C', t, join(PROGS, e.object)], { encoding: 'utf8' });
        } catch {
          continue;
        }
        if (!pahole.trim()) continue;
        const l = await call<{ size: number; fields: { name: string; offset: number; size: number; kind: string; depth: number; bitSize: number | null }[] }>(
          'layout:get', info.traceId, id, t,
        );
        expect(l.size, t).toBe(Number(/size: (\d+)/.exec(pahole)![1]));
        // pahole prints anonymous unions/structs as nested blocks: compare the named members.
        const top = l.fields.filter((f) => f.depth === 0 && (f.kind === 'member' || f.kind === 'special') && f.bitSize === null && f.name !== '(anon)');
        const want = [...pahole.matchAll(/^\t[^\t/].*?\s\**(\w+)(?:\[\d+\])*;\s+\/\*\s+(\d+)\s+(\d+)\s+\*\//gm)].map((m) => [m[1], Number(m[2]), Number(m[3])]);
        expect(top.map((f) => [f.name, f.offset, f.size]), t).toEqual(want);
        const holes = l.fields.filter((f) => f.kind === 'hole').map((f) => f.size);
        expect(holes, t).toEqual([...pahole.matchAll(/XXX (\d+) bytes? hole/g)].map((m) => Number(m[1])));
        const pad = /padding: (\d+)/.exec(pahole);
        expect(l.fields.find((f) => f.kind === 'padding')?.size ?? 0, t).toBe(pad ? Number(pad[1]) : 0);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(5);
  });

  it('references: one lifetime per ref_obj_id the kernel printed, the leak marked on the rejected program', async () => {
    for (const e of manifest) {
      const id = programId(e.program);
      const text = readFileSync(logOf(e), 'utf8');
      const printedIds = new Set([...text.matchAll(/ref_obj_id=(\d+)/g)].map((m) => Number(m[1])));
      const refs = await call<{ refObjId: number; kind: string; leaked: boolean }[]>('refs:list', info.traceId, id);
      for (const rid of printedIds) expect(refs.some((r) => r.refObjId === rid), `${e.program} ref ${rid}`).toBe(true);
      const leak = /Unreleased reference id=(\d+)/.exec(text);
      for (const r of refs) expect(r.leaked, `${e.program} ref ${r.refObjId}`).toBe(!!leak && Number(leak[1]) === r.refObjId);
    }
  });

  it('allocator events of a run show on the program\'s timeline as `bpfscope run --json` reports them', async () => {
    expect(info.hasRuntime).toBe(true);
    const json = JSON.parse(
      execFileSync(process.execPath, [join(ROOT, 'main/bin.mjs'), 'run', join(PROGS, 'list.bpf.o'), '-p', 'list_mixed', '--free-maps', '--json'], { encoding: 'utf8' }),
    ) as { events: { seq: number; kind: string; object: number; insn: number; type: string }[] };
    const events = await call<{ seq: number; kind: string; objectLabel: string; insn: number | null }[]>('alloc:events', info.traceId, programId('list_mixed'));
    expect(events.map((e) => [e.seq, e.kind, e.objectLabel, e.insn])).toEqual(
      json.events.map((e) => [e.seq, e.kind, `object ${e.object} ${e.type}`, e.insn >= 0 ? e.insn : null]),
    );
    expect(json.events.some((e) => e.kind === 'drain' || e.insn < 0)).toBe(true);
    // Another program of the same object has no runs: no events.
    expect(await call('alloc:events', info.traceId, programId('list_push'))).toEqual([]);
  });

  it('paths come in windows that add up to the whole list', async () => {
    const id = programId('list_mixed');
    const all = await call<{ total: number; paths: { path: number }[] }>('paths:list', info.traceId, id, 0, 100_000);
    expect(all.paths.length).toBe(all.total);
    const a = await call<{ paths: { path: number }[] }>('paths:list', info.traceId, id, 0, 3);
    const b = await call<{ paths: { path: number }[] }>('paths:list', info.traceId, id, 3, 100_000);
    expect([...a.paths, ...b.paths]).toEqual(all.paths);
  });

  it('bad requests are sentences: no such step, no such type, closed trace', async () => {
    const id = programId('list_push');
    await expect(call('steps:state', info.traceId, id, 1_000_000)).rejects.toThrow(/no step 1000000/);
    await expect(call('layout:get', info.traceId, id, 'no_such_struct')).rejects.toThrow(/no struct or union 'no_such_struct'/);
    await expect(call('steps:state', 999, id, 0)).rejects.toThrow(/no open trace with id 999/);
    await expect(call('trace:open', '/nonexistent.trace')).rejects.toThrow(/no such trace file/);
  });

  it('a damaged trace gives sentences naming the file, never a crash', async () => {
    const bytes = readFileSync(info.path);
    const dir = join(tmp, 'bad');
    mkdirSync(dir);
    let seed = 7;
    const rnd = (): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    for (let i = 0; i < 12; i++) {
      const bad = Buffer.from(bytes);
      const file = join(dir, `bad${i}.trace`);
      if (i % 3 === 0) writeFileSync(file, bad.subarray(0, Math.floor(rnd() * bad.length)));
      else {
        for (let k = 0; k < 64; k++) bad[100 + Math.floor(rnd() * (bad.length - 100))] = Math.floor(rnd() * 256);
        writeFileSync(file, bad);
      }
      const hh = createHandlers();
      try {
        const t = (await hh.dispatch('trace:open', [file])) as TraceInfo;
        for (const p of t.programs) {
          for (const [ch, args] of [['steps:state', [0]], ['log:lines', [1, 50]], ['insns:listing', []], ['refs:list', []], ['layout:types', []]] as const) {
            await hh.dispatch(ch, [t.traceId, p.id, ...args]).catch((err: unknown) => {
              expect(err).toBeInstanceOf(BpfscopeError);
              expect((err as BpfscopeError).describe()).toContain(file);
            });
          }
        }
      } catch (err) {
        expect(err).toBeInstanceOf(BpfscopeError);
        expect((err as BpfscopeError).describe()).toContain(file);
      } finally {
        hh.close();
      }
    }
  });
});
