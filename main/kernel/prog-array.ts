import { encodeRaw } from '../object/insn/raw';
import type { BpfProgram } from '../object/object';
import type { RelocationRow } from '../trace/load';
import type { FdSet } from './fds';
import { closingError } from './log-stats';
import { fillProgSlots, slotRows } from './map-slots';
import type { CreatedMap } from './maps';
import { loadBlocker, loadRequest, prepareProgram, resolveAttach, type ProgramJob } from './prepare';
import { loadProgram } from './prog-load';

/**
 * Prog arrays with initial programs (`__array(values, int (void *))`).
 *
 * libbpf loads every program of the object, then sets each prog array's
 * slots to the programs its `.values` name (bpf_object_init_prog_arrays); a
 * slot whose program was not loaded (autoload off) fails the whole load with
 * EBADF. bpfscope records one program at a time, so it loads the recorded
 * program together with every program a prog array slot of the object names
 * (its "companions"), as libbpf does when exactly those programs are
 * autoloaded: in the object's program order, the companions at log level 0
 * (again at level 1 when the kernel refuses one, for its error line), the
 * recorded one with its log. The first refusal ends the load, as in libbpf:
 * a companion before the recorded program means it is never loaded (no log).
 * Then the slots are set, and a test run tail-calls into real programs.
 * Each companion load and each slot is a load_relocations row of the
 * recorded program (kind `prog_array_load` / `prog_slot`, insn -1).
 */
export class Companions {
  /** Companion program names, in object order, split around the recorded program. */
  private readonly before: BpfProgram[];
  private readonly after: BpfProgram[];
  private readonly progFds = new Map<string, number>();
  private readonly rows: RelocationRow[] = [];
  private written = 0;

  constructor(
    private readonly j: ProgramJob,
    private readonly prog: BpfProgram,
    private readonly maps: readonly CreatedMap[],
    private readonly fds: FdSet,
  ) {
    const named = new Set(j.obj.maps.filter((d) => d.type === PROG_ARRAY).flatMap((d) => d.values ?? []));
    const order = j.obj.programs;
    const self = order.indexOf(prog);
    this.before = order.filter((p, i) => i < self && named.has(p.name));
    this.after = order.filter((p, i) => i > self && named.has(p.name));
  }

  /** Load the companions that come before the recorded program; the first refusal, if any. */
  loadBefore(): { errno: number | null; error: string } | undefined {
    return this.loadAll(this.before);
  }

  /** After the recorded program loaded as `fd`: the remaining companions, then every prog array's slots. */
  loadAfter(fd: number): { errno: number | null; error: string } | undefined {
    this.progFds.set(this.prog.name, fd);
    const failed = this.loadAll(this.after);
    if (failed) return failed;
    for (const m of this.maps) {
      const def = this.j.obj.maps.find((d) => d.name === m.source);
      if (m.kind !== 'btf' || !def || def.type !== PROG_ARRAY || !def.values || m.fd === undefined) continue;
      fillProgSlots(m, def, this.progFds, (f) => this.fds.close(f));
      this.rows.push(...slotRows([m]));
      if (m.error) return { errno: m.errno ?? null, error: m.error };
    }
    return undefined;
  }

  /** The rows not handed out yet. */
  takeRows(): RelocationRow[] {
    const out = this.rows.slice(this.written);
    this.written = this.rows.length;
    return out;
  }

  private loadAll(list: readonly BpfProgram[]): { errno: number | null; error: string } | undefined {
    for (const p of list) {
      const r = this.loadOne(p);
      this.rows.push({ insnIdx: -1, kind: 'prog_array_load', symbol: p.name, target: r.error ?? `loaded with '${this.prog.name}' for the prog arrays' initial slots (fd ${r.fd})`, value: r.fd });
      if (r.error) {
        return { errno: r.errno ?? null, error: `program '${p.name}', which a prog array's initial slot names and which libbpf loads ${list === this.before ? 'before' : 'after'} '${this.prog.name}', was refused: ${r.error}` };
      }
      this.progFds.set(p.name, r.fd!);
    }
    return undefined;
  }

  private loadOne(p: BpfProgram): { fd?: number; errno?: number | null; error?: string } {
    if (!p.known || p.progTypeId === undefined) return { errno: 22, error: `section '${p.section}' names no program type libbpf knows` };
    const prep = prepareProgram(this.j, p, this.maps);
    if ('error' in prep) return { errno: 22, error: prep.error };
    const blocked = loadBlocker(this.j, prep.linked, prep.reloc, this.maps);
    if (blocked) return blocked;
    const attach = resolveAttach(p, this.j.obj);
    if (attach.error) return { errno: attach.errno ?? 3, error: attach.error };
    const req = loadRequest(this.j, p, prep.linked, encodeRaw(prep.reloc.insns), attach, 0);
    const r = loadProgram(req);
    if (r.fd !== undefined) return { fd: this.fds.own(r.fd) };
    // As libbpf: no log at level 0; on failure, load again at level 1 for what the verifier said.
    const again = loadProgram({ ...req, logLevel: 1 });
    if (again.fd !== undefined) this.fds.close(this.fds.own(again.fd));
    const said = closingError(again.log.toString('utf8'));
    return { errno: r.errno ?? null, error: `BPF_PROG_LOAD failed: ${r.errnoName}${said ? `: ${said}` : ''}` };
  }
}

const PROG_ARRAY = 3;
