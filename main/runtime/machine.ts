import type { RawInsn } from '../object/insn/raw';
import { bswap16, bswap32, div32, div64, mulhiU32, sar64, shl64, shr64 } from './alu';
import { MachineFault, fault } from './fault';
import { FUNC_TAG, Memory, type Region } from './memory';
import { MapState } from './maps';
import { ObjectModel, initFields } from './objects';
import {
  BPF_ATOMIC_ADD,
  BPF_ATOMIC_AND,
  BPF_ATOMIC_OR,
  BPF_ATOMIC_XOR,
  BPF_CMPXCHG,
  BPF_FETCH,
  BPF_LOAD_ACQ,
  BPF_MAX_LOOPS,
  BPF_PSEUDO_CALL,
  BPF_PSEUDO_KFUNC_CALL,
  BPF_STORE_REL,
  BPF_XCHG,
  MAX_BPF_STACK,
  MAX_CALL_FRAMES,
} from './opcodes';
import { MapType, type RuntimeProgram } from './program';

/** One program's slots, decoded for the interpreter loop. */
interface Decoded {
  code: Uint8Array;
  dst: Uint8Array;
  src: Uint8Array;
  off: Int32Array;
  imm: Int32Array;
  ldLo: Int32Array;
  ldHi: Int32Array;
  invalid: Map<number, string>;
}

/** BPF_FUNC_tail_call; MAX_TAIL_CALL_CNT (include/linux/bpf.h). */
const TAIL_CALL = 12;
const MAX_TAIL_CALL_CNT = 33;
import { callHelper } from './helpers';
import { callKfunc } from './kfuncs';

export interface MachineOptions {
  /** Instructions allowed per run before the run stops with a 'budget' fault. */
  budget?: number;
  /** Seed of bpf_get_prandom_u32. */
  seed?: number;
  /** Record the registers after every instruction. */
  traceInsns?: boolean;
  /** At most this many steps are traced per run (default 250,000). */
  traceLimit?: number;
}

/** One row of the concrete trace: the registers an instruction changed. */
export interface InsnStep {
  step: number;
  insn: number;
  /** [reg, lo, hi] for each register whose value changed. */
  changed: [number, number, number][];
}

export interface FaultReport {
  kind: string;
  message: string;
  insn: number;
  step: number;
  /** R0..R10 as 0x hex strings at the faulting instruction. */
  regs: string[];
  /** The faulting instruction as the verifier log prints it: `(79) r1 = *(u64 *)(r6 +8)`. */
  text?: string;
}

/**
 * The BPF machine: registers as (lo, hi) pairs of int32 in two typed arrays,
 * instructions pre-decoded into parallel typed arrays, one `switch` on the
 * opcode byte. The 64-bit common cases (add, sub, logic, moves, compares,
 * shifts, mul) are exact with 32-bit math and carries; division falls back
 * to BigInt when an operand needs more than 32 bits.
 */
export class Machine {
  readonly memory = new Memory();
  readonly lo = new Int32Array(11);
  readonly hi = new Int32Array(11);
  readonly maps: MapState[] = [];
  readonly objects: ObjectModel;
  readonly clock = { run: 0, step: 0, insn: -1 };
  readonly stack: Region;
  readonly printk: string[] = [];
  readonly trace: InsnStep[] = [];
  /** Registers before the first instruction of the traced run. */
  traceStart: { lo: number[]; hi: number[] } | undefined;
  /** Steps recorded at most (the rest of the run is not traced). */
  readonly traceLimit: number;
  readonly budget: number;
  steps = 0;
  /** Address of the bpf_spin_lock held, as `regionId:offset`, or null. */
  lockHeld: string | null = null;
  /** Region (map value, object, global section) of the lock held: the allocation it protects. */
  lockRegion = -1;
  /** bpf_rcu_read_lock nesting. */
  rcuDepth = 0;
  prandomState: number;
  ktimeNs = 0n;
  /** The packet of this run (tc, xdp, socket filters): its region, where data starts, its length. */
  packet: { region: Region; start: number; len: number } | undefined;

  /** The program running now: `prog`, or the one a tail call jumped to. */
  private cur: RuntimeProgram;
  /** Its decoded slots (swapped by a tail call). */
  private code!: Uint8Array;
  private dst!: Uint8Array;
  private src!: Uint8Array;
  private off!: Int32Array;
  private imm!: Int32Array;
  /** ld_imm64: the resolved 64-bit value's halves. */
  private ldLo!: Int32Array;
  private ldHi!: Int32Array;
  /** Slots that cannot run, with the reason (bad registers). */
  private invalid!: Map<number, string>;
  private readonly decoded = new Map<RuntimeProgram, Decoded>();
  /** Tail calls taken in this run (the kernel's tail_call_cnt). */
  private tailCalls = 0;
  private depth = 0;
  private readonly frameRet: number[] = [];
  private readonly frameSaved: Int32Array[] = [];
  private readonly mayGoto: number[] = [];
  private readonly tracing: boolean;
  private prevLo = new Int32Array(11);
  private prevHi = new Int32Array(11);

  constructor(
    readonly prog: RuntimeProgram,
    opts: MachineOptions = {},
  ) {
    this.budget = opts.budget ?? 50_000_000;
    this.prandomState = (opts.seed ?? 0x2545f491) >>> 0 || 1;
    this.tracing = !!opts.traceInsns;
    this.traceLimit = opts.traceLimit ?? 250_000;
    this.objects = new ObjectModel(this.memory, this.clock);
    for (const spec of prog.maps) {
      this.maps.push(
        new MapState(
          this.maps.length,
          spec,
          this.memory,
          (r, fields) => this.objects.freeFields(r, 0, fields),
          (r, fields) => initFields(r, 0, fields),
        ),
      );
    }
    for (const map of this.maps) map.linkSlots((name) => this.maps.find((x) => x.spec.name === name));
    this.stack = this.memory.add('stack', MAX_BPF_STACK * MAX_CALL_FRAMES, 'stack', { init: new Uint8Array(MAX_BPF_STACK * MAX_CALL_FRAMES) });
    this.cur = prog;
    this.switchTo(prog);
  }

  /** Run `p`'s slots from now on (the program itself, or a tail call's target). */
  private switchTo(p: RuntimeProgram): void {
    let d = this.decoded.get(p);
    if (!d) this.decoded.set(p, (d = this.decodeProgram(p)));
    this.cur = p;
    ({ code: this.code, dst: this.dst, src: this.src, off: this.off, imm: this.imm, ldLo: this.ldLo, ldHi: this.ldHi, invalid: this.invalid } = d);
  }

  private decodeProgram(p: RuntimeProgram): Decoded {
    const n = p.insns.length;
    const d: Decoded = {
      code: new Uint8Array(n + 1), dst: new Uint8Array(n + 1), src: new Uint8Array(n + 1), off: new Int32Array(n + 1),
      imm: new Int32Array(n + 1), ldLo: new Int32Array(n + 1), ldHi: new Int32Array(n + 1), invalid: new Map(),
    };
    p.insns.forEach((insn, i) => this.decode(p, d, insn, i));
    // Slot n: falling off the end faults instead of reading past the arrays.
    d.code[n] = 0;
    return d;
  }

  private decode(p: RuntimeProgram, d: Decoded, insn: RawInsn, i: number): void {
    if (insn.dst > 10 || insn.src > 10) {
      // The verifier refuses registers above R10; the slot becomes a fault.
      d.invalid.set(i, `register R${Math.max(insn.dst, insn.src)} does not exist`);
      d.code[i] = 0;
      return;
    }
    d.code[i] = insn.code;
    d.dst[i] = insn.dst;
    d.src[i] = insn.src;
    d.off[i] = insn.off;
    d.imm[i] = insn.imm;
    if (insn.code !== 0x18) return;
    const ref = p.imm64Refs.get(i);
    if (ref?.kind === 'map') {
      d.ldLo[i] = 0;
      d.ldHi[i] = Memory.hiOf(this.mapAt(ref.map, i).region);
    } else if (ref?.kind === 'map_value') {
      const m = this.mapAt(ref.map, i);
      const v = m.lookup(new Uint8Array(4));
      if (!v) fault('bad_arg', `insn ${i}: global data map ${m.spec.name} has no element 0`);
      d.ldLo[i] = ref.offset;
      d.ldHi[i] = Memory.hiOf(v);
    } else if (ref?.kind === 'func') {
      d.ldLo[i] = ref.target;
      d.ldHi[i] = FUNC_TAG;
    } else {
      const v = insn.imm64 ?? BigInt(insn.imm >>> 0);
      d.ldLo[i] = Number(v & 0xffffffffn) | 0;
      d.ldHi[i] = Number((v >> 32n) & 0xffffffffn) | 0;
    }
  }

  /**
   * bpf_tail_call(ctx, prog_array, index) as the kernel runs it (the
   * interpreter's JMP_TAIL_CALL): an index past max_entries, or
   * MAX_TAIL_CALL_CNT (33) tail calls already taken in this run, or an empty
   * slot (counted, as the kernel counts it before looking) falls through to
   * the next instruction; otherwise the target runs from its first
   * instruction with the registers and the stack frame as they are, and
   * never returns here. Only from the main frame: a tail call from a
   * subprogram (kernels allow it with the JIT) is not modelled.
   */
  private tailCall(): RuntimeProgram | undefined {
    const r = this.memory.regionOf(this.hi[2], this.lo[2]);
    if (!r || r.kind !== 'map') fault('bad_arg', 'bpf_tail_call: R2 is not a map pointer');
    const map = this.maps[r.owner];
    if (map.spec.type !== MapType.PROG_ARRAY) fault('bad_arg', `bpf_tail_call: map '${map.spec.name}' is not a prog array`);
    if (this.depth !== 0) fault('bad_call', 'bpf_tail_call from a subprogram (frame > 0) is not modelled');
    const index = this.lo[3] >>> 0;
    if (index >= map.spec.maxEntries || this.tailCalls >= MAX_TAIL_CALL_CNT) return undefined;
    this.tailCalls++;
    const name = map.spec.slots?.[index] ?? null;
    if (name === null) return undefined;
    const target = this.cur.tailTargets?.get(name);
    if (!target) fault('bad_call', `bpf_tail_call: slot ${index} of '${map.spec.name}' names program '${name}', which was not built with this one`);
    return target;
  }

  private mapAt(i: number, insn: number): MapState {
    const m = this.maps[i];
    if (!m) fault('bad_arg', `insn ${insn}: refers to map #${i}, which the object does not define`);
    return m;
  }

  /** Value of register `r` as an unsigned BigInt (reports, helpers' 64-bit args). */
  reg64(r: number): bigint {
    return (BigInt(this.hi[r] >>> 0) << 32n) | BigInt(this.lo[r] >>> 0);
  }

  setR0(lo: number, hi: number): void {
    this.lo[0] = lo;
    this.hi[0] = hi;
  }

  /**
   * Run from the program's first instruction with R1 = ctx (hi:lo) until the
   * main frame exits. Faults propagate as MachineFault with insn/step set.
   */
  runMain(ctxHi: number, ctxLo: number): void {
    this.lo.fill(0);
    this.hi.fill(0);
    this.lo[1] = ctxLo;
    this.hi[1] = ctxHi;
    this.depth = 0;
    this.tailCalls = 0;
    if (this.cur !== this.prog) this.switchTo(this.prog);
    this.frameRet.length = 0;
    this.frameSaved.length = 0;
    this.mayGoto.length = 0;
    this.mayGoto.push(BPF_MAX_LOOPS);
    this.lo[10] = MAX_BPF_STACK;
    this.hi[10] = Memory.hiOf(this.stack);
    this.stack.init!.fill(0);
    this.lockHeld = null;
    this.lockRegion = -1;
    this.rcuDepth = 0;
    this.steps = 0;
    this.trace.length = 0;
    if (this.tracing) {
      this.prevLo.set(this.lo);
      this.prevHi.set(this.hi);
      this.traceStart = { lo: [...this.lo], hi: [...this.hi] };
    }
    this.exec(0, 0);
    if (this.lockHeld !== null) fault('lock', 'program exited with a bpf_spin_lock held');
    if (this.rcuDepth !== 0) fault('lock', 'program exited inside bpf_rcu_read_lock');
  }

  /**
   * A callback (bpf_loop, rbtree less): a new frame as a bpf-to-bpf call
   * would make, run until it returns; the caller's registers are restored
   * and R0 of the callback is returned.
   */
  callFunc(target: number, args: [number, number][]): [number, number] {
    if (target < 0 || target >= this.cur.insns.length) fault('bad_call', `callback target ${target} is outside the program`);
    const savedLo = this.lo.slice();
    const savedHi = this.hi.slice();
    for (let i = 0; i < 5; i++) {
      this.lo[i + 1] = args[i]?.[0] ?? 0;
      this.hi[i + 1] = args[i]?.[1] ?? 0;
    }
    this.pushFrame(-1);
    const base = this.depth;
    // Calls inside the callback move the clock; the caller's event keeps its own.
    const { step, insn } = this.clock;
    this.exec(target, base);
    this.popFrame();
    this.clock.step = step;
    this.clock.insn = insn;
    const r0: [number, number] = [this.lo[0], this.hi[0]];
    this.lo.set(savedLo);
    this.hi.set(savedHi);
    return r0;
  }

  private pushFrame(retPc: number): void {
    if (this.depth + 1 >= MAX_CALL_FRAMES) fault('call_depth', `more than ${MAX_CALL_FRAMES} nested calls`);
    const saved = new Int32Array(10);
    for (let r = 6; r <= 10; r++) {
      saved[(r - 6) * 2] = this.lo[r];
      saved[(r - 6) * 2 + 1] = this.hi[r];
    }
    this.frameSaved.push(saved);
    this.frameRet.push(retPc);
    this.depth++;
    this.mayGoto.push(BPF_MAX_LOOPS);
    this.lo[10] = MAX_BPF_STACK * (this.depth + 1);
    // A callee's stack starts uninitialized, like a fresh kernel frame.
    this.stack.init!.fill(0, MAX_BPF_STACK * this.depth, MAX_BPF_STACK * (this.depth + 1));
  }

  private popFrame(): number {
    const saved = this.frameSaved.pop()!;
    for (let r = 6; r <= 10; r++) {
      this.lo[r] = saved[(r - 6) * 2];
      this.hi[r] = saved[(r - 6) * 2 + 1];
    }
    this.depth--;
    this.mayGoto.pop();
    return this.frameRet.pop()!;
  }

  private recordStep(insn: number): void {
    if (this.trace.length >= this.traceLimit) return;
    const changed: [number, number, number][] = [];
    const lo = this.lo;
    const hi = this.hi;
    for (let r = 0; r < 11; r++) {
      if (lo[r] !== this.prevLo[r] || hi[r] !== this.prevHi[r]) {
        changed.push([r, lo[r], hi[r]]);
        this.prevLo[r] = lo[r];
        this.prevHi[r] = hi[r];
      }
    }
    this.trace.push({ step: this.steps, insn, changed });
  }

  /** The interpreter loop: runs from `pc` until an exit leaves frame `baseDepth`. */
  private exec(startPc: number, baseDepth: number): void {
    // `let`: a tail call swaps in another program's slots.
    let code = this.code;
    let dstA = this.dst;
    let srcA = this.src;
    let offA = this.off;
    let immA = this.imm;
    const lo = this.lo;
    const hi = this.hi;
    const mem = this.memory;
    const budget = this.budget;
    const tracing = this.tracing;
    let n = this.cur.insns.length;
    let pc = startPc;
    let steps = this.steps;
    let cur = pc;
    try {
      for (;;) {
        if (steps >= budget) fault('budget', `instruction budget of ${budget} exhausted (an endless loop?)`);
        steps++;
        cur = pc;
        const d = dstA[pc];
        const s = srcA[pc];
        const k = immA[pc];
        let t: number; // scratch
        let u: number;
        switch (code[pc]) {
          // ---- ALU64, immediate operand (sign-extended to 64 bits) ----
          case 0x07: // add
            t = (lo[d] >>> 0) + (k >>> 0);
            hi[d] = (hi[d] + (k >> 31) + (t > 0xffffffff ? 1 : 0)) | 0;
            lo[d] = t | 0;
            break;
          case 0x17: // sub
            t = (lo[d] >>> 0) - (k >>> 0);
            hi[d] = (hi[d] - (k >> 31) - (t < 0 ? 1 : 0)) | 0;
            lo[d] = t | 0;
            break;
          case 0x27: // mul
            t = lo[d];
            hi[d] = (mulhiU32(t >>> 0, k >>> 0) + Math.imul(t, k >> 31) + Math.imul(hi[d], k)) | 0;
            lo[d] = Math.imul(t, k);
            break;
          case 0x37: // div, sdiv (off=1)
          case 0x97: {
            // mod, smod
            const r = div64(lo[d], hi[d], k, k >> 31, offA[pc] === 1, code[pc] === 0x97);
            lo[d] = r[0];
            hi[d] = r[1];
            break;
          }
          case 0x47:
            lo[d] |= k;
            hi[d] |= k >> 31;
            break;
          case 0x57:
            lo[d] &= k;
            hi[d] &= k >> 31;
            break;
          case 0xa7:
            lo[d] ^= k;
            hi[d] ^= k >> 31;
            break;
          case 0x67:
          case 0x77:
          case 0xc7: {
            const sh = k & 63;
            const op = code[pc];
            const r = op === 0x67 ? shl64(lo[d], hi[d], sh) : op === 0x77 ? shr64(lo[d], hi[d], sh) : sar64(lo[d], hi[d], sh);
            lo[d] = r[0];
            hi[d] = r[1];
            break;
          }
          case 0x87: // neg
            t = lo[d];
            lo[d] = -t | 0;
            hi[d] = (~hi[d] + (t === 0 ? 1 : 0)) | 0;
            break;
          case 0xb7: // mov
            lo[d] = k;
            hi[d] = k >> 31;
            break;
          case 0xd7: // bswap16/32/64 (ALU64 | END): unconditional
            if (k === 16) {
              lo[d] = bswap16(lo[d]);
              hi[d] = 0;
            } else if (k === 32) {
              lo[d] = bswap32(lo[d]);
              hi[d] = 0;
            } else {
              t = lo[d];
              lo[d] = bswap32(hi[d]);
              hi[d] = bswap32(t);
            }
            break;
          // ---- ALU64, register operand ----
          case 0x0f:
            t = (lo[d] >>> 0) + (lo[s] >>> 0);
            hi[d] = (hi[d] + hi[s] + (t > 0xffffffff ? 1 : 0)) | 0;
            lo[d] = t | 0;
            break;
          case 0x1f:
            t = (lo[d] >>> 0) - (lo[s] >>> 0);
            hi[d] = (hi[d] - hi[s] - (t < 0 ? 1 : 0)) | 0;
            lo[d] = t | 0;
            break;
          case 0x2f:
            t = lo[d];
            u = lo[s];
            hi[d] = (mulhiU32(t >>> 0, u >>> 0) + Math.imul(t, hi[s]) + Math.imul(hi[d], u)) | 0;
            lo[d] = Math.imul(t, u);
            break;
          case 0x3f:
          case 0x9f: {
            const r = div64(lo[d], hi[d], lo[s], hi[s], offA[pc] === 1, code[pc] === 0x9f);
            lo[d] = r[0];
            hi[d] = r[1];
            break;
          }
          case 0x4f:
            lo[d] |= lo[s];
            hi[d] |= hi[s];
            break;
          case 0x5f:
            lo[d] &= lo[s];
            hi[d] &= hi[s];
            break;
          case 0xaf:
            lo[d] ^= lo[s];
            hi[d] ^= hi[s];
            break;
          case 0x6f:
          case 0x7f:
          case 0xcf: {
            const sh = lo[s] & 63;
            const op = code[pc];
            const r = op === 0x6f ? shl64(lo[d], hi[d], sh) : op === 0x7f ? shr64(lo[d], hi[d], sh) : sar64(lo[d], hi[d], sh);
            lo[d] = r[0];
            hi[d] = r[1];
            break;
          }
          case 0xbf: // mov, movsx (off 8/16/32)
            switch (offA[pc]) {
              case 0:
                lo[d] = lo[s];
                hi[d] = hi[s];
                break;
              case 8:
                lo[d] = (lo[s] << 24) >> 24;
                hi[d] = lo[d] >> 31;
                break;
              case 16:
                lo[d] = (lo[s] << 16) >> 16;
                hi[d] = lo[d] >> 31;
                break;
              case 32:
                lo[d] = lo[s];
                hi[d] = lo[s] >> 31;
                break;
              default:
                fault('bad_insn', `mov with off ${offA[pc]}`);
            }
            break;
          // ---- ALU (32-bit): results zero-extended ----
          case 0x04:
            lo[d] = (lo[d] + k) | 0;
            hi[d] = 0;
            break;
          case 0x0c:
            lo[d] = (lo[d] + lo[s]) | 0;
            hi[d] = 0;
            break;
          case 0x14:
            lo[d] = (lo[d] - k) | 0;
            hi[d] = 0;
            break;
          case 0x1c:
            lo[d] = (lo[d] - lo[s]) | 0;
            hi[d] = 0;
            break;
          case 0x24:
            lo[d] = Math.imul(lo[d], k);
            hi[d] = 0;
            break;
          case 0x2c:
            lo[d] = Math.imul(lo[d], lo[s]);
            hi[d] = 0;
            break;
          case 0x34:
          case 0x94:
            lo[d] = div32(lo[d], k, offA[pc] === 1, code[pc] === 0x94);
            hi[d] = 0;
            break;
          case 0x3c:
          case 0x9c:
            lo[d] = div32(lo[d], lo[s], offA[pc] === 1, code[pc] === 0x9c);
            hi[d] = 0;
            break;
          case 0x44:
            lo[d] |= k;
            hi[d] = 0;
            break;
          case 0x4c:
            lo[d] |= lo[s];
            hi[d] = 0;
            break;
          case 0x54:
            lo[d] &= k;
            hi[d] = 0;
            break;
          case 0x5c:
            lo[d] &= lo[s];
            hi[d] = 0;
            break;
          case 0xa4:
            lo[d] ^= k;
            hi[d] = 0;
            break;
          case 0xac:
            lo[d] ^= lo[s];
            hi[d] = 0;
            break;
          case 0x64:
            lo[d] = lo[d] << (k & 31);
            hi[d] = 0;
            break;
          case 0x6c:
            lo[d] = lo[d] << (lo[s] & 31);
            hi[d] = 0;
            break;
          case 0x74:
            lo[d] = (lo[d] >>> (k & 31)) | 0;
            hi[d] = 0;
            break;
          case 0x7c:
            lo[d] = (lo[d] >>> (lo[s] & 31)) | 0;
            hi[d] = 0;
            break;
          case 0xc4:
            lo[d] = lo[d] >> (k & 31);
            hi[d] = 0;
            break;
          case 0xcc:
            lo[d] = lo[d] >> (lo[s] & 31);
            hi[d] = 0;
            break;
          case 0x84:
            lo[d] = -lo[d] | 0;
            hi[d] = 0;
            break;
          case 0xb4:
            lo[d] = k;
            hi[d] = 0;
            break;
          case 0xbc:
            switch (offA[pc]) {
              case 0:
                lo[d] = lo[s];
                break;
              case 8:
                lo[d] = (lo[s] << 24) >> 24;
                break;
              case 16:
                lo[d] = (lo[s] << 16) >> 16;
                break;
              default:
                fault('bad_insn', `mov32 with off ${offA[pc]}`);
            }
            hi[d] = 0;
            break;
          case 0xd4: // le16/32/64: a truncation on this little-endian machine
            if (k === 16) {
              lo[d] &= 0xffff;
              hi[d] = 0;
            } else if (k === 32) hi[d] = 0;
            break;
          case 0xdc: // be16/32/64
            if (k === 16) {
              lo[d] = bswap16(lo[d]);
              hi[d] = 0;
            } else if (k === 32) {
              lo[d] = bswap32(lo[d]);
              hi[d] = 0;
            } else {
              t = lo[d];
              lo[d] = bswap32(hi[d]);
              hi[d] = bswap32(t);
            }
            break;
          // ---- ld_imm64 ----
          case 0x18:
            if (srcA[pc] === 3) fault('bad_insn', 'ld_imm64 of a kernel BTF object (ksym) is not modelled');
            lo[d] = this.ldLo[pc];
            hi[d] = this.ldHi[pc];
            pc++;
            break;
          // ---- legacy packet loads (LD_ABS / LD_IND): big-endian, R0 = value ----
          case 0x20:
          case 0x28:
          case 0x30:
          case 0x40:
          case 0x48:
          case 0x50: {
            const op = code[pc];
            const size = (op & 0x18) === 0 ? 4 : (op & 0x18) === 0x08 ? 2 : 1;
            const at = (op & 0xe0) === 0x40 ? (lo[s] + k) | 0 : k;
            const v = this.ldPacket(at, size);
            for (let r = 1; r <= 5; r++) {
              lo[r] = 0;
              hi[r] = 0;
            }
            if (v === undefined) {
              // Out of the packet: the program ends and returns 0 (bpf_skb_load_helper fails).
              lo[0] = 0;
              hi[0] = 0;
              if (this.depth !== baseDepth) fault('bad_insn', 'LD_ABS/LD_IND inside a bpf-to-bpf call');
              this.steps = steps;
              if (tracing) this.recordStep(cur);
              return;
            }
            lo[0] = v;
            hi[0] = 0;
            break;
          }
          // ---- loads ----
          case 0x61:
            lo[d] = mem.load(hi[s], (lo[s] + offA[pc]) | 0, 4);
            hi[d] = mem.hiOut;
            break;
          case 0x69:
            lo[d] = mem.load(hi[s], (lo[s] + offA[pc]) | 0, 2);
            hi[d] = 0;
            break;
          case 0x71:
            lo[d] = mem.load(hi[s], (lo[s] + offA[pc]) | 0, 1);
            hi[d] = 0;
            break;
          case 0x79:
            lo[d] = mem.load(hi[s], (lo[s] + offA[pc]) | 0, 8);
            hi[d] = mem.hiOut;
            break;
          case 0x81: // ldxsw
            lo[d] = mem.load(hi[s], (lo[s] + offA[pc]) | 0, 4);
            hi[d] = lo[d] >> 31;
            break;
          case 0x89:
            lo[d] = (mem.load(hi[s], (lo[s] + offA[pc]) | 0, 2) << 16) >> 16;
            hi[d] = lo[d] >> 31;
            break;
          case 0x91:
            lo[d] = (mem.load(hi[s], (lo[s] + offA[pc]) | 0, 1) << 24) >> 24;
            hi[d] = lo[d] >> 31;
            break;
          // ---- stores ----
          case 0x62:
            mem.store(hi[d], (lo[d] + offA[pc]) | 0, 4, k, 0);
            break;
          case 0x6a:
            mem.store(hi[d], (lo[d] + offA[pc]) | 0, 2, k, 0);
            break;
          case 0x72:
            mem.store(hi[d], (lo[d] + offA[pc]) | 0, 1, k, 0);
            break;
          case 0x7a:
            mem.store(hi[d], (lo[d] + offA[pc]) | 0, 8, k, k >> 31);
            break;
          case 0x63:
            mem.store(hi[d], (lo[d] + offA[pc]) | 0, 4, lo[s], 0);
            break;
          case 0x6b:
            mem.store(hi[d], (lo[d] + offA[pc]) | 0, 2, lo[s], 0);
            break;
          case 0x73:
            mem.store(hi[d], (lo[d] + offA[pc]) | 0, 1, lo[s], 0);
            break;
          case 0x7b:
            mem.store(hi[d], (lo[d] + offA[pc]) | 0, 8, lo[s], hi[s]);
            break;
          case 0xc3:
          case 0xdb:
          case 0xd3:
          case 0xcb:
            this.atomic(pc);
            break;
          // ---- jumps (64-bit compares) ----
          case 0x05:
            pc += offA[pc];
            break;
          case 0x15:
            if (lo[d] === k && hi[d] === k >> 31) pc += offA[pc];
            break;
          case 0x1d:
            if (lo[d] === lo[s] && hi[d] === hi[s]) pc += offA[pc];
            break;
          case 0x55:
            if (lo[d] !== k || hi[d] !== k >> 31) pc += offA[pc];
            break;
          case 0x5d:
            if (lo[d] !== lo[s] || hi[d] !== hi[s]) pc += offA[pc];
            break;
          case 0x45:
            if ((lo[d] & k) !== 0 || (hi[d] & (k >> 31)) !== 0) pc += offA[pc];
            break;
          case 0x4d:
            if ((lo[d] & lo[s]) !== 0 || (hi[d] & hi[s]) !== 0) pc += offA[pc];
            break;
          case 0x25: // jgt
          case 0x35: // jge
          case 0xa5: // jlt
          case 0xb5: // jle
          case 0x2d:
          case 0x3d:
          case 0xad:
          case 0xbd: {
            const op = code[pc];
            const reg = (op & 8) !== 0;
            const bh = (reg ? hi[s] : k >> 31) >>> 0;
            const bl = (reg ? lo[s] : k) >>> 0;
            const ah = hi[d] >>> 0;
            const al = lo[d] >>> 0;
            const c = ah !== bh ? (ah > bh ? 1 : -1) : al !== bl ? (al > bl ? 1 : -1) : 0;
            const base = op & 0xf0;
            if (base === 0x20 ? c > 0 : base === 0x30 ? c >= 0 : base === 0xa0 ? c < 0 : c <= 0) pc += offA[pc];
            break;
          }
          case 0x65: // jsgt
          case 0x75: // jsge
          case 0xc5: // jslt
          case 0xd5: // jsle
          case 0x6d:
          case 0x7d:
          case 0xcd:
          case 0xdd: {
            const op = code[pc];
            const reg = (op & 8) !== 0;
            const bh = reg ? hi[s] : k >> 31;
            const bl = (reg ? lo[s] : k) >>> 0;
            const ah = hi[d];
            const al = lo[d] >>> 0;
            const c = ah !== bh ? (ah > bh ? 1 : -1) : al !== bl ? (al > bl ? 1 : -1) : 0;
            const base = op & 0xf0;
            if (base === 0x60 ? c > 0 : base === 0x70 ? c >= 0 : base === 0xc0 ? c < 0 : c <= 0) pc += offA[pc];
            break;
          }
          case 0xe5: // may_goto: taken once this frame's loop budget is used up
            if (srcA[pc] !== 0) fault('bad_insn', `jcond with src ${srcA[pc]}`);
            t = this.mayGoto[this.depth];
            if (t === 0) pc += offA[pc];
            else this.mayGoto[this.depth] = t - 1;
            break;
          // ---- jumps (32-bit compares) ----
          case 0x06: // gotol
            pc += k;
            break;
          case 0x16:
            if (lo[d] === k) pc += offA[pc];
            break;
          case 0x1e:
            if (lo[d] === lo[s]) pc += offA[pc];
            break;
          case 0x56:
            if (lo[d] !== k) pc += offA[pc];
            break;
          case 0x5e:
            if (lo[d] !== lo[s]) pc += offA[pc];
            break;
          case 0x46:
            if ((lo[d] & k) !== 0) pc += offA[pc];
            break;
          case 0x4e:
            if ((lo[d] & lo[s]) !== 0) pc += offA[pc];
            break;
          case 0x26:
            if (lo[d] >>> 0 > k >>> 0) pc += offA[pc];
            break;
          case 0x2e:
            if (lo[d] >>> 0 > lo[s] >>> 0) pc += offA[pc];
            break;
          case 0x36:
            if (lo[d] >>> 0 >= k >>> 0) pc += offA[pc];
            break;
          case 0x3e:
            if (lo[d] >>> 0 >= lo[s] >>> 0) pc += offA[pc];
            break;
          case 0xa6:
            if (lo[d] >>> 0 < k >>> 0) pc += offA[pc];
            break;
          case 0xae:
            if (lo[d] >>> 0 < lo[s] >>> 0) pc += offA[pc];
            break;
          case 0xb6:
            if (lo[d] >>> 0 <= k >>> 0) pc += offA[pc];
            break;
          case 0xbe:
            if (lo[d] >>> 0 <= lo[s] >>> 0) pc += offA[pc];
            break;
          case 0x66:
            if (lo[d] > k) pc += offA[pc];
            break;
          case 0x6e:
            if (lo[d] > lo[s]) pc += offA[pc];
            break;
          case 0x76:
            if (lo[d] >= k) pc += offA[pc];
            break;
          case 0x7e:
            if (lo[d] >= lo[s]) pc += offA[pc];
            break;
          case 0xc6:
            if (lo[d] < k) pc += offA[pc];
            break;
          case 0xce:
            if (lo[d] < lo[s]) pc += offA[pc];
            break;
          case 0xd6:
            if (lo[d] <= k) pc += offA[pc];
            break;
          case 0xde:
            if (lo[d] <= lo[s]) pc += offA[pc];
            break;
          // ---- calls and exit ----
          case 0x85:
            this.steps = steps;
            if (s === BPF_PSEUDO_CALL) {
              const target = pc + k + 1;
              if (target < 0 || target >= n) fault('bad_call', `call to insn ${target}, outside the program`);
              this.pushFrame(pc + 1);
              pc = target - 1;
            } else {
              this.clock.step = steps;
              this.clock.insn = pc;
              if (s === BPF_PSEUDO_KFUNC_CALL) {
                const name = this.cur.kfuncs.get(pc);
                if (name === undefined) fault('bad_call', 'kfunc call with no kfunc name relocated here');
                callKfunc(this, name);
              } else if (s === 0 && k === TAIL_CALL) {
                const next = this.tailCall();
                if (next) {
                  this.switchTo(next);
                  ({ code, dst: dstA, src: srcA, off: offA, imm: immA } = this);
                  n = next.insns.length;
                  pc = 0; // the target's first slot
                  if (tracing) {
                    this.steps = steps;
                    this.recordStep(cur);
                  }
                  continue;
                }
              } else if (s === 0) {
                callHelper(this, k);
              } else fault('bad_call', `call with src_reg ${s}`);
              // Helpers clobber R1-R5 (their contents are undefined after the call).
              for (let r = 1; r <= 5; r++) {
                lo[r] = 0;
                hi[r] = 0;
              }
              steps = this.steps;
            }
            break;
          case 0x95:
            if (this.depth === baseDepth) {
              this.steps = steps;
              if (tracing) this.recordStep(cur);
              return;
            }
            pc = this.popFrame() - 1;
            break;
          default:
            if (pc < 0 || pc >= n) fault('bad_insn', pc === n ? 'fell off the end of the program' : `jumped to insn ${pc}, outside the program`);
            fault('bad_insn', this.invalid.get(pc) ?? `unknown opcode 0x${code[pc].toString(16).padStart(2, '0')}`);
        }
        pc++;
        if (tracing) {
          this.steps = steps;
          this.recordStep(cur);
        }
      }
    } catch (err) {
      if (err instanceof MachineFault && err.insn === undefined) {
        err.insn = cur;
        err.step = steps;
        this.steps = steps;
      }
      throw err;
    }
  }

  /** LD_ABS/LD_IND: `size` bytes big-endian at `off` from skb->data, or undefined when outside the packet. */
  private ldPacket(off: number, size: number): number | undefined {
    const p = this.packet;
    if (!p) fault('bad_insn', 'LD_ABS/LD_IND in a program without a packet');
    if (off < 0 || off + size > p.len) return undefined;
    const v = p.region.view;
    const at = p.start + off;
    return size === 4 ? v.getInt32(at, false) : size === 2 ? v.getUint16(at, false) : v.getUint8(at);
  }

  /** BPF_ATOMIC: add/or/and/xor (with fetch), xchg, cmpxchg, load-acquire, store-release. */
  private atomic(pc: number): void {
    const op = this.code[pc];
    const size = op === 0xdb ? 8 : op === 0xc3 ? 4 : op === 0xcb ? 2 : 1;
    const lo = this.lo;
    const hi = this.hi;
    const d = this.dst[pc];
    const s = this.src[pc];
    const k = this.imm[pc];
    const mem = this.memory;
    const addrHi = k === BPF_LOAD_ACQ ? hi[s] : hi[d];
    const addrLo = ((k === BPF_LOAD_ACQ ? lo[s] : lo[d]) + this.off[pc]) | 0;
    if (k === BPF_LOAD_ACQ) {
      lo[d] = mem.load(addrHi, addrLo, size);
      hi[d] = size === 8 ? mem.hiOut : 0;
      return;
    }
    if (k === BPF_STORE_REL) {
      mem.store(addrHi, addrLo, size, lo[s], hi[s]);
      return;
    }
    if (size < 4) fault('bad_insn', `atomic op 0x${k.toString(16)} on ${size} bytes`);
    const oldLo = mem.load(addrHi, addrLo, size);
    const oldHi = size === 8 ? mem.hiOut : 0;
    let nLo: number;
    let nHi: number;
    switch (k & ~BPF_FETCH) {
      case BPF_ATOMIC_ADD: {
        const t = (oldLo >>> 0) + (lo[s] >>> 0);
        nLo = t | 0;
        nHi = (oldHi + hi[s] + (t > 0xffffffff ? 1 : 0)) | 0;
        break;
      }
      case BPF_ATOMIC_OR:
        nLo = oldLo | lo[s];
        nHi = oldHi | hi[s];
        break;
      case BPF_ATOMIC_AND:
        nLo = oldLo & lo[s];
        nHi = oldHi & hi[s];
        break;
      case BPF_ATOMIC_XOR:
        nLo = oldLo ^ lo[s];
        nHi = oldHi ^ hi[s];
        break;
      case BPF_XCHG & ~BPF_FETCH:
        if (k !== BPF_XCHG) fault('bad_insn', 'xchg without fetch');
        nLo = lo[s];
        nHi = hi[s];
        break;
      case BPF_CMPXCHG & ~BPF_FETCH: {
        if (k !== BPF_CMPXCHG) fault('bad_insn', 'cmpxchg without fetch');
        // Compares R0 (32 or 64 bits) with memory; R0 gets the old value.
        const eq = size === 8 ? lo[0] === oldLo && hi[0] === oldHi : lo[0] === oldLo;
        if (eq) mem.store(addrHi, addrLo, size, lo[s], hi[s]);
        lo[0] = oldLo;
        hi[0] = size === 8 ? oldHi : 0;
        return;
      }
      default:
        fault('bad_insn', `atomic op 0x${k.toString(16)}`);
    }
    mem.store(addrHi, addrLo, size, nLo, size === 8 ? nHi : 0);
    if (k & BPF_FETCH) {
      lo[s] = oldLo;
      hi[s] = size === 8 ? oldHi : 0;
    }
  }

  regsHex(): string[] {
    const out: string[] = [];
    for (let r = 0; r < 11; r++) out.push('0x' + this.reg64(r).toString(16));
    return out;
  }
}

