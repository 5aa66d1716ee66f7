import type { Btf, BtfFunc, BtfFuncProto } from './btf/types';
import { cdecl } from './btf/cdecl';
import { findByName, typeById } from './btf/lookup';
import { HELPER_NAMES } from './insn/helper-ids';
import { HELPER_PARAMS } from './insn/helper-params';
import { linkProgram, type LinkedProgram, type LinkSource } from './link';

/**
 * The prototype of a call's callee, to tell which of R1..R5 are its
 * arguments: a helper from libbpf's declarations (by helper id), a kfunc from
 * the extern FUNC the program's BTF declares for it (its name), a
 * bpf-to-bpf callee from the FUNC its func_info names at the target insn.
 * Pure: the object's parts in, parameter names out.
 */
export interface CallTarget {
  kind: 'helper' | 'kfunc' | 'subprog';
  /** The name the log prints (`bpf_obj_new_impl`), or `pc+N`. */
  target: string;
  /** The helper id; null for `pc+N`. */
  id: number | null;
  /** The call insn (linked index), for `pc+N`. */
  insn: number;
}

export class CallProtos {
  private linked: LinkedProgram | null | undefined;

  /** `obj` null when the trace holds no object: only helpers are known then. */
  constructor(
    private readonly obj: (LinkSource & { btf?: Btf }) | null,
    private readonly program: string | null,
  ) {}

  /**
   * The callee's parameters as C declarations (`__u64 local_type_id`; the
   * type alone when the BTF names none, as for extern kfunc declarations),
   * or null when its prototype is not known.
   */
  params(c: CallTarget): string[] | null {
    if (c.kind === 'helper') {
      if (c.id === null || HELPER_NAMES[c.id] !== c.target) return null;
      const p = HELPER_PARAMS[c.id];
      return p ? [...p] : null;
    }
    const btf = this.obj?.btf;
    if (!btf) return null;
    if (c.kind === 'kfunc') {
      const f = findByName(btf, c.target, 'FUNC') as BtfFunc | undefined;
      return f ? protoParams(btf, f.type) : null;
    }
    const off = /^pc([+-]\d+)$/.exec(c.target);
    const linked = this.link();
    if (!off || !linked) return null;
    const at = c.insn + 1 + Number(off[1]);
    const fi = linked.funcInfo.find((x) => x.insnIdx === at);
    if (!fi) return null;
    const f = typeById(btf, fi.typeId);
    return f.kind === 'FUNC' ? protoParams(btf, (f as BtfFunc).type) : null;
  }

  private link(): LinkedProgram | null {
    if (this.linked === undefined) {
      this.linked = null;
      if (this.obj && this.program) {
        try {
          this.linked = linkProgram(this.obj, this.program);
        } catch {
          // Not an entry program of this object (an imported log named otherwise): unknown.
        }
      }
    }
    return this.linked;
  }
}

function protoParams(btf: Btf, protoId: number): string[] | null {
  const p = typeById(btf, protoId);
  if (p.kind !== 'FUNC_PROTO') return null;
  // A variadic prototype ends with a nameless param of type 0.
  return (p as BtfFuncProto).params.map((x) => (x.type === 0 ? '...' : cdecl(btf, x.type, x.name)));
}
