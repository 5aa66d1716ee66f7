/**
 * Why a concrete run stopped before the program's exit. A fault is the
 * runtime's verdict on one instruction (the one at `insn`), never a crash of
 * bpfscope: the machine catches it and reports it with the register state.
 */
export type FaultKind =
  | 'null_deref' // an access through a NULL (or near-NULL) pointer
  | 'out_of_bounds' // outside the region the pointer points into
  | 'bad_pointer' // an address that points into no region at all
  | 'use_after_free' // into an object the allocator already took back
  | 'uninit_read' // a stack read of bytes never written
  | 'read_only' // a store into read-only memory (.rodata, frozen maps)
  | 'budget' // the instruction budget ran out (an endless loop?)
  | 'bad_insn' // an opcode the ISA does not define
  | 'bad_call' // an unknown helper or kfunc, or a bad call target
  | 'lock' // spin lock misuse: double lock, unlock of a lock not held, exit while held
  | 'call_depth' // more than 8 nested bpf-to-bpf frames
  | 'bad_arg' // a helper/kfunc argument the verifier would have refused
  | 'internal'; // a bug of bpfscope's machine, reported instead of crashing

export class MachineFault extends Error {
  /** The instruction index and step at which the run stopped (set by the machine). */
  insn?: number;
  step?: number;
  constructor(
    readonly kind: FaultKind,
    message: string,
  ) {
    super(message);
    this.name = 'MachineFault';
  }
}

export function fault(kind: FaultKind, message: string): never {
  throw new MachineFault(kind, message);
}
