import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import type { Command } from './index';
import { intOption, parseArgs, fileOption } from './args';
import { BpfscopeError, inFile } from '../errors';
import type { SessionReport } from '../runtime/session';

export const command: Command = {
  summary: "run a program in bpfscope's own BPF machine and record every allocator event",
  usage: `usage: bpfscope run OBJ -p PROG [--data FILE] [--ctx FILE] [--repeat N] [--free-maps]
                    [--trace-insns [--trace-limit N]] [--budget N] [--seed N] [-o TRACE] [--json]

Runs PROG of OBJ in bpfscope's interpreter, as BPF_PROG_TEST_RUN would: on
the packet in --data (default: the same 64-byte UDP packet 'record --run'
uses) and the context in --ctx (a struct __sk_buff/xdp_md prefix, or a
syscall program's whole context: --ctx, else --data, else that packet's
bytes), --repeat times in a row on the same maps. Every allocator event is recorded (new, drop, push_front, push_back,
pop_front, pop_back, rb_add, rb_remove, refcount_acquire, kptr_xchg, drain,
free) with its instruction and the object's owner. --free-maps frees the
maps after the runs as the kernel does when their last reference goes
(list heads and rb roots drained, kptrs dropped). --trace-insns stores the
registers after every instruction of the last run (up to --trace-limit
steps, default 250,000).
Maps of maps start with the inner maps their initial values name, prog
arrays with their initial programs: bpf_tail_call jumps to those (built
from OBJ on the same maps) with the kernel's rules (at most 33 in a row;
an empty slot or an index past max_entries falls through).
.kconfig externs get this host's values (its release and kernel config) and
typeless __ksym externs their /proc/kallsyms address, as 'record' gives them.
--budget stops a run after N instructions (default 50,000,000). --seed
seeds bpf_get_prandom_u32. -o writes everything into TRACE (appending a
program with origin 'run'); --json prints
{retval, events, objects, maps, runs}. Exit 1 when a run faulted.`,
  async run(argv) {
    const args = parseArgs(argv, {
      values: ['program', 'data', 'ctx', 'repeat', 'output', 'budget', 'seed', 'trace-limit'],
      switches: ['free-maps', 'trace-insns', 'json'],
      aliases: { o: 'output', p: 'program' },
    });
    if (args.positional.length !== 1) throw new BpfscopeError(`run takes one object file (got ${args.positional.length}); see 'bpfscope help run'`);
    const objPath = args.positional[0];
    const progName = args.values.get('program');
    if (!progName) throw new BpfscopeError('run needs -p PROG, the program to run');
    const repeat = intOption(args, 'repeat', 1);
    if (repeat < 1) throw new BpfscopeError('--repeat must be at least 1');
    const budget = intOption(args, 'budget', 50_000_000);
    const seed = intOption(args, 'seed', 0x2545f491);
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(objPath);
    } catch (err) {
      throw new BpfscopeError(`cannot read object: ${err instanceof Error ? err.message : String(err)}`, objPath);
    }
    const { parseObject } = await import('../object/object');
    const { fromObject } = await import('../runtime/load');
    const { runSession } = await import('../runtime/session');
    const { hostExterns } = await import('../kernel/kconfig');
    const obj = parseObject(bytes, objPath);
    const prog = (() => {
      try {
        // CO-RE against the program's own BTF: the context structs (__sk_buff,
        // xdp_md) are UAPI, so the compiler's offsets are the kernel's. The
        // externs get this host's values (.kconfig from its release and config,
        // typeless ksyms from its kallsyms), as `record` gives the kernel.
        return fromObject(obj, progName, { externs: hostExterns(obj) });
      } catch (err) {
        throw inFile(err, objPath);
      }
    })();
    // The same defaults as `record --run`, so both run on the same bytes.
    const input = (await import('../kernel/test-run')).testRunInputs(prog.progType, fileOption(args, 'data'), fileOption(args, 'ctx'));
    const report = runSession(prog, {
      repeat,
      freeMaps: args.switches.has('free-maps'),
      traceInsns: args.switches.has('trace-insns'),
      traceLimit: intOption(args, 'trace-limit', 250_000),
      budget,
      seed,
      input,
    });

    const out = args.values.get('output');
    if (out) {
      const { writeTraceAtomically } = await import('../trace/atomic');
      const { writeRunSession } = await import('../trace/runtime');
      const { encodeRaw } = await import('../object/insn/raw');
      // Added to a copy that replaces the trace at the end, as import does: a kill never leaves half a run in it.
      await writeTraceAtomically(out, 'target', (db) => {
        const sha = createHash('sha256').update(bytes).digest('hex');
        const existing = db.prepare('SELECT id FROM objects WHERE sha256 = ?').get(sha) as { id: number } | undefined;
        const objectId = existing?.id ?? Number(db.prepare('INSERT INTO objects(path, sha256, bytes) VALUES (?,?,?)').run(objPath, sha, bytes).lastInsertRowid);
        const section = obj.programs.find((p) => p.name === progName)?.section ?? null;
        const programId = Number(
          db
            .prepare('INSERT INTO programs(object_id, name, section, prog_type, origin, insns, created_at) VALUES (?,?,?,?,?,?,?)')
            .run(objectId, progName, section, prog.progType, 'run', encodeRaw(prog.insns), new Date().toISOString()).lastInsertRowid,
        );
        writeRunSession(db, programId, report);
      });
    }

    if (args.switches.has('json')) {
      const { trace: _trace, traceStart: _start, ...rest } = report;
      process.stdout.write(JSON.stringify(jsonOf(rest), null, 2) + '\n');
    } else {
      process.stdout.write(formatReport(report));
    }
    return report.runs.some((r) => r.fault) ? 1 : 0;
  },
};

function jsonOf(r: Omit<SessionReport, 'trace' | 'traceStart'>): object {
  return {
    program: r.program,
    retval: r.retval,
    events: r.events.map((e) => ({ seq: e.seq, run: e.run, step: e.step, insn: e.insn, kind: e.kind, object: e.object, type: e.type, size: e.size, owner: e.owner, ...(e.detail ? { detail: e.detail } : {}) })),
    objects: r.objects.map((o) => ({ id: o.id, type: o.type, size: o.size, unitSize: o.unitSize, addr: o.addr, newSeq: o.newSeq, freeSeq: o.freeSeq, freedBy: o.freedBy })),
    maps: r.maps,
    runs: r.runs,
    mapsFreed: r.mapsFreed,
    ...(r.mapFreeFault ? { mapFreeFault: r.mapFreeFault } : {}),
    uninitObjectReads: r.uninitObjectReads,
  };
}

export function formatReport(r: SessionReport): string {
  const lines: string[] = [];
  for (const run of r.runs) {
    if (run.fault) {
      const f = run.fault;
      lines.push(`run ${run.run}: FAULT at insn ${f.insn} (step ${f.step}): ${f.kind}: ${f.message}`);
      if (f.text) lines.push(`  ${f.insn}: ${f.text}`);
      lines.push('  ' + f.regs.map((v, i) => `R${i}=${v}`).join(' '));
    } else {
      lines.push(`run ${run.run}: retval ${run.retval} (R0=${run.r0}), ${run.steps} instructions`);
    }
    for (const p of run.printk) lines.push(`  printk: ${p}`);
    if (run.leaked.length) lines.push(`  leaked: ${run.leaked.map((id) => `object#${id}`).join(', ')} (still owned by the program at exit; the verifier refuses this)`);
  }
  if (r.events.length) {
    lines.push('', 'allocator events:', '  seq  run  step  insn  kind              object  type              owner');
    for (const e of r.events) {
      lines.push(
        `  ${String(e.seq).padStart(3)}  ${String(e.run).padStart(3)}  ${String(e.step).padStart(4)}  ${String(e.insn).padStart(4)}  ${e.kind.padEnd(16)}  #${String(e.object).padEnd(6)} ${('struct ' + e.type).padEnd(17)} ${e.owner ?? '(freed)'}${e.detail ? `  [${e.detail}]` : ''}`,
      );
    }
    lines.push('', 'objects:', '  id  type               size  unit  address             new  free  freed by');
    for (const o of r.objects) {
      lines.push(
        `  ${String(o.id).padStart(2)}  ${('struct ' + o.type).padEnd(18)} ${String(o.size).padStart(4)}  ${String(o.unitSize).padStart(4)}  0x${o.addr.padEnd(17)} ${String(o.newSeq).padStart(3)}  ${o.freeSeq === null ? ' alive' : String(o.freeSeq).padStart(4) + '  ' + o.freedBy}`,
      );
    }
  }
  const alive = r.objects.filter((o) => o.freeSeq === null).length;
  if (r.mapFreeFault) lines.push('', `freeing the maps stopped: ${r.mapFreeFault}`);
  lines.push('', `${r.objects.length} objects allocated, ${alive} alive${r.mapsFreed ? ' after the maps were freed' : ''}`);
  if (r.uninitObjectReads) lines.push(`note: ${r.uninitObjectReads} reads of object bytes the program never wrote (the kernel returns zeroes or stale bytes there)`);
  return lines.join('\n') + '\n';
}
