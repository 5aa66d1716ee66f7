import { BpfscopeError } from '../errors';
import { findAllByName } from '../object/btf/lookup';
import { applyCoreRelos, type CoreDecision, type CoreTarget } from '../object/core';
import { linkProgram, type LinkedProgram } from '../object/link';
import type { BpfObject, BpfProgram } from '../object/object';
import { attachTarget, relocateProgram, type RelocateResult, type ResolvedExtern } from '../object/relocate';
import type { RelocationRow } from '../trace/load';
import { funcInfoRecords, lineInfoRecords } from './btf-info';
import type { CreatedMap } from './maps';
import type { ProgLoadRequest, StreamingProgLoader } from './prog-load';
import type { RecordOptions } from './record';
import { vmlinuxBtf } from './vmlinux';

/**
 * What the loader does to one program of an object before BPF_PROG_LOAD,
 * given the maps created for it: link, CO-RE, map/data/extern relocations,
 * the checks that keep it from loading, the attach target and the load
 * request. The recorded program and the programs loaded along with it (the
 * prog arrays' initial programs) go through the same steps.
 */
export interface ProgramJob {
  obj: BpfObject;
  objectId: number;
  objName: string;
  prog: BpfProgram;
  logLevel: number;
  btfFd?: number;
  btfError?: string;
  staticVars: Set<string>;
  externs: Map<string, ResolvedExtern>;
  fdArray?: number[];
  coreTargets: () => CoreTarget[];
  opts: RecordOptions;
  loader: StreamingProgLoader;
  /** Section contents that replace the object's (.kconfig, filled). */
  contents: Map<string, Uint8Array>;
  kconfigOffsets: Map<string, number>;
  kconfigErrors: string[];
  /** Why the object cannot be loaded: its strong kfunc/ksym externs the kernel lacks, in name order. */
  missingExterns: string[];
}

export interface PreparedProgram {
  linked: LinkedProgram;
  decisions: CoreDecision[];
  reloc: RelocateResult;
}

/** Link, CO-RE-relocate (on the linked instructions), then relocate maps, data and externs; `error` when the object itself is at fault. */
export function prepareProgram(j: ProgramJob, prog: BpfProgram, maps: readonly CreatedMap[]): PreparedProgram | { error: string } {
  const { obj } = j;
  let linked: LinkedProgram;
  try {
    linked = linkProgram(obj, prog.name);
  } catch (err) {
    if (err instanceof BpfscopeError) return { error: err.message };
    throw err;
  }
  const coreRelos = linked.relocations.flatMap((r) =>
    r.kind === 'core' ? [{ insnIdx: r.insnIdx, typeId: r.relo.typeId, accessStr: r.relo.accessStr, kind: r.relo.kind }] : [],
  );
  let insns = linked.insns;
  let decisions: CoreDecision[] = [];
  if (coreRelos.length > 0 && obj.btf) {
    try {
      const res = applyCoreRelos(insns, coreRelos, obj.btf, coreRelos.some((c) => c.kind !== 6) ? j.coreTargets() : []);
      insns = res.insns;
      decisions = res.decisions;
    } catch (err) {
      // A malformed CO-RE record costs this program, not the recording.
      if (err instanceof BpfscopeError) return { error: err.message };
      throw err;
    }
  }
  const kc = maps.find((m) => m.kind === 'kconfig' && m.fd !== undefined);
  const reloc = relocateProgram(linked, insns, {
    maps: new Map(maps.filter((m) => m.kind === 'btf' && m.fd !== undefined).map((m) => [m.source, m.fd!])),
    dataMaps: new Map(maps.filter((m) => m.kind !== 'btf' && m.kind !== 'inner' && m.fd !== undefined).map((m) => [m.source, m.fd!])),
    externs: j.externs,
    kconfig: kc ? { fd: kc.fd!, offsets: j.kconfigOffsets } : undefined,
  });
  return { linked, decisions, reloc };
}

/** libbpf 1.1 fails an object whose extern the kernel lacks with -EINVAL; so do we (same errno, same verdict). */
const EXTERN_ERRNO = 22;

/** Why a relocated program cannot be loaded (missing externs, a config value, a map not created), or undefined. */
export function loadBlocker(j: ProgramJob, linked: LinkedProgram, reloc: RelocateResult, maps: readonly CreatedMap[]): { errno: number | null; error: string } | undefined {
  if (j.missingExterns.length > 0) return { errno: EXTERN_ERRNO, error: j.missingExterns.join('; ') };
  // A config value the kernel lacks: libbpf 1.1 fails the object with -ESRCH.
  const usedKconfigErrors = j.kconfigErrors.filter((e) => linked.relocations.some((r) => r.kind === 'extern' && e.includes(`'${r.name}'`)));
  if (usedKconfigErrors.length > 0) return { errno: 3, error: usedKconfigErrors.join('; ') };
  if (reloc.errors.length === 0) return undefined;
  const badMap = maps.find((m) => m.fd === undefined && m.error);
  const usesBadMap = badMap && reloc.errors.some((e) => e.includes('was not created') || e.includes('has no map'));
  if (usesBadMap) return { errno: badMap.errno ?? null, error: badMap.error ?? reloc.errors[0] };
  return { errno: EXTERN_ERRNO, error: reloc.errors.join('; ') };
}

/** Tracing, LSM and iterator programs name the kernel function they attach to by BTF id. */
export function resolveAttach(prog: BpfProgram): { attachBtfId?: number; row?: RelocationRow; error?: string } {
  const target = attachTarget(prog.expectedAttachType, prog.attachTo);
  if (!target) return {};
  const attachBtfId = findAllByName(vmlinuxBtf(), target.name).find((t) => t.kind === target.kind)?.id;
  const row = { insnIdx: 0, kind: 'attach', symbol: prog.attachTo, target: attachBtfId !== undefined ? `vmlinux ${target.kind} '${target.name}' [${attachBtfId}]` : `no ${target.kind} '${target.name}' in vmlinux` };
  if (attachBtfId === undefined) return { row, error: `program '${prog.name}' attaches to '${prog.attachTo}', but vmlinux BTF has no ${target.kind} '${target.name}'` };
  return { attachBtfId, row };
}

/** BPF_PROG_LOAD's attributes for a prepared program. */
export function loadRequest(j: ProgramJob, prog: BpfProgram, linked: LinkedProgram, insns: Uint8Array, attachBtfId: number | undefined, logLevel: number): ProgLoadRequest {
  const { obj } = j;
  return {
    name: prog.name,
    progType: prog.progTypeId!,
    expectedAttachType: prog.expectedAttachTypeId || undefined,
    insns,
    license: obj.license || 'GPL',
    kernVersion: obj.kernelVersion,
    progFlags: prog.sleepable ? 1 << 4 /* BPF_F_SLEEPABLE */ : undefined,
    btfFd: j.btfFd,
    funcInfo: j.btfFd !== undefined ? funcInfoRecords(linked) : undefined,
    lineInfo: j.btfFd !== undefined && obj.btf ? lineInfoRecords(linked, obj) : undefined,
    fdArray: j.fdArray,
    attachBtfId,
    logLevel,
  };
}
