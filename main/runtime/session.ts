import { hex } from './maps';
import { MachineFault } from './fault';
import { Machine, type FaultReport, type InsnStep, type MachineOptions } from './machine';
import { Memory } from './memory';
import { buildCtx, type BuiltCtx, type RunInput } from './ctx';
import type { AllocEvent, AllocObject } from './events';
import type { RuntimeProgram } from './program';
import { printInsn } from '../object/insn/instruction';

export interface SessionOptions extends MachineOptions {
  /** Runs in a row on the same maps (BPF_PROG_TEST_RUN called N times). */
  repeat?: number;
  /** After the runs, free the maps as the kernel does when the last reference goes. */
  freeMaps?: boolean;
  input?: RunInput;
}

export interface RunOutcome {
  run: number;
  /** R0's lower 32 bits, as BPF_PROG_TEST_RUN reports retval; null when the run faulted. */
  retval: number | null;
  /** Full R0 as hex. */
  r0: string;
  steps: number;
  fault?: FaultReport;
  dataOut?: string;
  printk: string[];
  /** Objects the program still owned when it exited (a leak the verifier would have refused). */
  leaked: number[];
}

export interface MapDump {
  type: number;
  keySize: number;
  valueSize: number;
  /** Byte ranges of special fields (pointers, locks): not comparable with the kernel's bytes. */
  specialRanges: [offset: number, size: number][];
  entries: { key: string; value: string }[];
  /** Ring buffers: every record submitted, in order, as hex. */
  records?: string[];
}

export interface SessionReport {
  program: string;
  runs: RunOutcome[];
  /** The last run's retval. */
  retval: number | null;
  events: AllocEvent[];
  objects: AllocObject[];
  maps: Record<string, MapDump>;
  mapsFreed: boolean;
  /** Why freeing the maps stopped early, when it did. */
  mapFreeFault?: string;
  /** Reads of object bytes the program never wrote (kernel: zero or stale). */
  uninitObjectReads: number;
  /** Registers after each instruction of the last run (with traceInsns). */
  trace?: InsnStep[];
  /** Registers before the traced run's first instruction: [lo[], hi[]]. */
  traceStart?: { lo: number[]; hi: number[] };
}

/** Run a program `repeat` times on one machine (maps persist), then optionally free the maps. */
export function runSession(prog: RuntimeProgram, opts: SessionOptions = {}): SessionReport {
  let m: Machine;
  try {
    m = new Machine(prog, opts);
  } catch (err) {
    // The program cannot even be set up (a relocation to a missing map...): one faulted run.
    if (!(err instanceof MachineFault)) throw err;
    const fault: FaultReport = { kind: err.kind, message: err.message, insn: -1, step: 0, regs: [] };
    return { program: prog.name, runs: [{ run: 0, retval: null, r0: '0x0', steps: 0, fault, printk: [], leaked: [] }], retval: null, events: [], objects: [], maps: {}, mapsFreed: false, uninitObjectReads: 0 };
  }
  const runs: RunOutcome[] = [];
  const repeat = Math.max(1, opts.repeat ?? 1);
  // BPF_PROG_TEST_RUN builds the context (skb, xdp_buff) once and runs the
  // program `repeat` times on it: packet and context writes carry over.
  let ctx: BuiltCtx | MachineFault | undefined;
  for (let run = 0; run < repeat; run++) {
    m.clock.run = run;
    if (ctx === undefined) {
      try {
        ctx = buildCtx(m.memory, prog.progType, opts.input ?? {});
      } catch (err) {
        if (!(err instanceof MachineFault)) throw err;
        ctx = err;
      }
    }
    runs.push(runOnce(m, prog, ctx, run));
    // Between two runs, an RCU grace period lets freed units be reused.
    m.objects.globalMa.gracePeriod();
    m.objects.percpuMa.gracePeriod();
    if (runs[run].fault) break;
  }
  const maps = dumpMaps(m);
  let mapFreeFault: string | undefined;
  if (opts.freeMaps) {
    m.clock.run = runs.length;
    m.clock.insn = -1;
    m.clock.step = 0;
    try {
      for (const map of m.maps) map.free();
    } catch (err) {
      // A run that faulted can leave state the kernel never would (a node
      // of a freed object still linked): say so instead of crashing.
      mapFreeFault = err instanceof Error ? err.message : String(err);
    }
  }
  return {
    program: prog.name,
    runs,
    retval: runs[runs.length - 1].retval,
    events: m.objects.events,
    objects: m.objects.objects,
    maps,
    mapsFreed: !!opts.freeMaps,
    mapFreeFault,
    uninitObjectReads: m.memory.uninitObjectReads,
    trace: opts.traceInsns ? [...m.trace] : undefined,
    traceStart: opts.traceInsns ? m.traceStart : undefined,
  };
}

function runOnce(m: Machine, prog: RuntimeProgram, ctx: BuiltCtx | MachineFault, run: number): RunOutcome {
  const printkStart = m.printk.length;
  if (ctx instanceof MachineFault) {
    return { run, retval: null, r0: '0x0', steps: 0, fault: { kind: ctx.kind, message: ctx.message, insn: -1, step: 0, regs: [] }, printk: [], leaked: [] };
  }
  m.packet = ctx.packet;
  const out: RunOutcome = { run, retval: null, r0: '0x0', steps: 0, printk: [], leaked: [] };
  const firstObject = m.objects.objects.length;
  try {
    m.runMain(Memory.hiOf(ctx.region), 0);
    out.retval = m.lo[0] >>> 0;
    out.r0 = '0x' + m.reg64(0).toString(16);
  } catch (err) {
    if (err instanceof MachineFault) {
      out.fault = { kind: err.kind, message: err.message, insn: err.insn ?? -1, step: err.step ?? m.steps, regs: m.regsHex() };
      const text = insnText(prog, out.fault.insn);
      if (text) out.fault.text = text;
    } else {
      // A bug in the machine: reported as a fault of the run, never a crash.
      out.fault = { kind: 'internal', message: `internal error: ${err instanceof Error ? err.message : String(err)}`, insn: -1, step: m.steps, regs: m.regsHex() };
    }
  }
  out.steps = m.steps;
  const d = ctx.dataOut();
  if (d) out.dataOut = hex(d);
  out.printk = m.printk.slice(printkStart);
  if (!out.fault) out.leaked = m.objects.objects.slice(firstObject).filter((o) => o.freeSeq === null && o.owner === 'prog').map((o) => o.id);
  return out;
}

function dumpMaps(m: Machine): Record<string, MapDump> {
  const out: Record<string, MapDump> = {};
  for (const map of m.maps) {
    out[map.spec.name] = {
      type: map.spec.type,
      keySize: map.spec.keySize,
      valueSize: map.spec.valueSize,
      specialRanges: map.fields.map((f) => [f.offset, f.size]),
      entries: map.entries().map(({ key, value }) => ({ key, value: hex(value.data) })),
    };
    if (map.spec.type === 27) out[map.spec.name].records = map.records.map((b) => hex(b));
  }
  return out;
}

/** The instruction as the kernel's log prints it, kfuncs by name; undefined when there is none. */
function insnText(prog: RuntimeProgram, idx: number): string | undefined {
  const insn = prog.insns[idx];
  if (!insn) return undefined;
  try {
    return printInsn(insn, prog.insns[idx + 1], {
      call: (i) => {
        const name = prog.kfuncs.get(i.idx);
        return name ? { name, id: null } : undefined;
      },
    });
  } catch {
    return undefined;
  }
}
