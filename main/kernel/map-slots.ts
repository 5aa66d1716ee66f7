import type { BpfMapDef } from '../object/object';
import type { RelocationRow } from '../trace/load';
import { updateElem } from './map-ops';
import type { CreatedMap } from './maps';
import { BpfSyscallError, errnoName } from './syscall';

/**
 * Initial slots of maps declared with `__array(values, …)`, set as libbpf
 * 1.x sets them (init_map_in_map_slots, init_prog_array_slots): slot i gets
 * key i (u32, also for a hash of maps) and the fd of the map or program the
 * `.values` initialiser names. A map-in-map's slots are set right after the
 * outer map is created, from maps created before it (definition order); a
 * prog array's only once the programs are loaded.
 */
export interface SlotDecision {
  slot: number;
  kind: 'map' | 'prog';
  /** The map or program the slot names. */
  target: string;
  fd?: number;
  errno?: number;
  error?: string;
}

const EBADF = 9;

/** Set one slot; a target without an fd fails as libbpf's update with fd -ENOENT does (EBADF). */
function setSlot(m: CreatedMap, slot: number, kind: 'map' | 'prog', target: string, fd: number | undefined, why: string): SlotDecision {
  const d: SlotDecision = { slot, kind, target };
  const fail = (errno: number, cause: string): SlotDecision => {
    d.errno = errno;
    d.error = `map '${m.name}': failed to initialize slot [${slot}] to ${kind} '${target}': ${cause}`;
    return d;
  };
  if (fd === undefined) return fail(EBADF, why);
  const key = new Uint8Array(4);
  const value = new Uint8Array(4);
  new DataView(key.buffer).setUint32(0, slot, true);
  new DataView(value.buffer).setUint32(0, fd, true);
  try {
    updateElem(m.fd!, key, value);
  } catch (err) {
    if (!(err instanceof BpfSyscallError)) throw err;
    return fail(err.errno, `BPF_MAP_UPDATE_ELEM failed: ${errnoName(err.errno)}`);
  }
  d.fd = fd;
  return d;
}

/** The first failed slot costs the map (libbpf closes it and fails the load): `m` gets its error. */
function settle(m: CreatedMap, decisions: SlotDecision[], close: (fd: number) => void): void {
  m.slots = decisions;
  const bad = decisions.find((d) => d.error);
  if (!bad) return;
  m.errno = bad.errno;
  m.error = bad.error;
  if (m.fd !== undefined) close(m.fd);
  m.fd = undefined;
}

/** A map-in-map's slots, from the maps of .maps created so far (`created`). */
export function fillMapSlots(m: CreatedMap, def: BpfMapDef, created: readonly CreatedMap[], close: (fd: number) => void): void {
  const decisions: SlotDecision[] = [];
  for (const [slot, target] of (def.values ?? []).entries()) {
    if (target === null) continue;
    const t = created.find((c) => c.kind === 'btf' && c.source === target);
    const why = !t ? `'${target}' is defined after '${def.name}' in .maps, and maps are created in definition order` : `'${target}' was not created (${t.error})`;
    const d = setSlot(m, slot, 'map', target, t?.fd, why);
    decisions.push(d);
    if (d.error) break;
  }
  settle(m, decisions, close);
}

/** A prog array's slots, once the programs are loaded (`progFds`: program name → fd). */
export function fillProgSlots(m: CreatedMap, def: BpfMapDef, progFds: ReadonlyMap<string, number>, close: (fd: number) => void): void {
  const decisions: SlotDecision[] = [];
  for (const [slot, target] of (def.values ?? []).entries()) {
    if (target === null) continue;
    const d = setSlot(m, slot, 'prog', target, progFds.get(target), `program '${target}' was not loaded`);
    decisions.push(d);
    if (d.error) break;
  }
  settle(m, decisions, close);
}

/** The slot decisions as load_relocations rows of the recorded program (no instruction: -1). */
export function slotRows(maps: readonly CreatedMap[]): RelocationRow[] {
  return maps.flatMap((m) =>
    (m.slots ?? []).map((d) => ({
      insnIdx: -1,
      kind: `${d.kind}_slot`,
      symbol: `${m.name}[${d.slot}]`,
      target: d.error ?? `${d.kind} '${d.target}' (fd ${d.fd})`,
      value: d.slot,
    })),
  );
}
