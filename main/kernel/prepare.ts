import { BpfscopeError } from '../errors';
import { findAllByName } from '../object/btf/lookup';
import type { BtfComposite } from '../object/btf/types';
import { applyCoreRelos, type CoreDecision, type CoreTarget } from '../object/core';
import { linkProgram, type LinkedProgram } from '../object/link';
import type { BpfObject, BpfProgram } from '../object/object';
import { structOpsSlot, structOpsVariables, type StructOpsVariable } from '../object/struct-ops';
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
  /** The errno libbpf 1.1 fails the object with for them (EINVAL, or ESRCH when only strong typeless ksyms are unresolved). */
  missingExternsErrno?: number;
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
  if (j.missingExterns.length > 0) return { errno: j.missingExternsErrno ?? EXTERN_ERRNO, error: j.missingExterns.join('; ') };
  // A config value the kernel lacks: libbpf 1.1 fails the object with -ESRCH.
  const usedKconfigErrors = j.kconfigErrors.filter((e) => linked.relocations.some((r) => r.kind === 'extern' && e.includes(`'${r.name}'`)));
  if (usedKconfigErrors.length > 0) return { errno: 3, error: usedKconfigErrors.join('; ') };
  if (reloc.errors.length === 0) return undefined;
  const badMap = maps.find((m) => m.fd === undefined && m.error);
  const usesBadMap = badMap && reloc.errors.some((e) => e.includes('was not created') || e.includes('has no map'));
  if (usesBadMap) return { errno: badMap.errno ?? null, error: badMap.error ?? reloc.errors[0] };
  return { errno: EXTERN_ERRNO, error: reloc.errors.join('; ') };
}

/** What BPF_PROG_LOAD names as the program's attach target, the trace row saying so, or why it cannot load. */
export interface AttachResolution {
  attachBtfId?: number;
  /** Overrides the section's expected_attach_type (struct_ops: the member index). */
  expectedAttachType?: number;
  row?: RelocationRow;
  error?: string;
  /** The errno libbpf fails such a load with (ESRCH when unset, as for a missing attach function). */
  errno?: number;
}

/**
 * Tracing, LSM and iterator programs name the kernel function they attach to
 * by BTF id; struct_ops programs name the kernel struct and its member.
 */
export function resolveAttach(prog: BpfProgram, obj?: BpfObject): AttachResolution {
  if (prog.progType === 'struct_ops' && obj) return resolveStructOps(obj, prog);
  const target = attachTarget(prog.expectedAttachType, prog.attachTo);
  if (!target) return {};
  const attachBtfId = findAllByName(vmlinuxBtf(), target.name).find((t) => t.kind === target.kind)?.id;
  const row = { insnIdx: 0, kind: 'attach', symbol: prog.attachTo, target: attachBtfId !== undefined ? `vmlinux ${target.kind} '${target.name}' [${attachBtfId}]` : `no ${target.kind} '${target.name}' in vmlinux` };
  if (attachBtfId === undefined) return { row, error: `program '${prog.name}' attaches to '${prog.attachTo}', but vmlinux BTF has no ${target.kind} '${target.name}'` };
  return { attachBtfId, row };
}

const ENOENT = 2;
const EOPNOTSUPP = 95;

const structOpsCache = new WeakMap<BpfObject, StructOpsVariable[] | { error: string }>();

function objectStructOps(obj: BpfObject): StructOpsVariable[] | { error: string } {
  let v = structOpsCache.get(obj);
  if (!v) {
    try {
      v = structOpsVariables(obj);
    } catch (err) {
      if (!(err instanceof BpfscopeError)) throw err;
      v = { error: err.message };
    }
    structOpsCache.set(obj, v);
  }
  return v;
}

/**
 * A struct_ops program is verified against the member of the kernel struct
 * that a `.struct_ops` variable points at it from: attach_btf_id is the
 * struct's vmlinux BTF id and expected_attach_type the member's index in the
 * kernel's struct (found by name, as libbpf 1.x does, so a local struct
 * declared with fewer or reordered members still names the right one).
 * Only the program is loaded: libbpf creates the struct_ops map after its
 * programs and registers it on attach, and the verifier's verdict needs
 * neither, so bpfscope never creates the map (registering it would attach
 * the ops to the kernel). A program no variable points at goes without a
 * struct, as with libbpf (the kernel then refuses it, ENOTSUPP).
 */
function resolveStructOps(obj: BpfObject, prog: BpfProgram): AttachResolution {
  const vars = objectStructOps(obj);
  if ('error' in vars) return { error: `program '${prog.name}': ${vars.error}` };
  const slot = structOpsSlot(vars, prog.name);
  if (!slot) return {};
  const { variable, member } = slot;
  const symbol = `${variable.name}.${member.name}`;
  const kern = findAllByName(vmlinuxBtf(), variable.typeName, 'STRUCT')[0] as BtfComposite | undefined;
  const kernIdx = kern ? kern.members.findIndex((m) => m.name === member.name) : -1;
  if (!kern || kernIdx < 0) {
    const missing = kern ? `member '${member.name}' in struct '${variable.typeName}'` : `struct '${variable.typeName}'`;
    return {
      row: { insnIdx: 0, kind: 'struct_ops', symbol, target: `no ${missing} in vmlinux` },
      // libbpf 1.1 fails the object with -ENOENT for the struct ("struct_ops init_kern: struct X is not found
      // in kernel BTF") and -EOPNOTSUPP for a member ("Cannot find member M in kernel BTF"); bpfscope fails
      // only the programs that implement it, and the object's other programs still load.
      errno: kern ? EOPNOTSUPP : ENOENT,
      error: `program '${prog.name}' implements ${variable.typeName}.${member.name} (${variable.section} variable '${variable.name}'), but vmlinux BTF has no ${missing}`,
    };
  }
  return {
    attachBtfId: kern.id,
    expectedAttachType: kernIdx,
    row: { insnIdx: 0, kind: 'struct_ops', symbol, target: `vmlinux STRUCT '${variable.typeName}' [${kern.id}] member ${kernIdx} '${member.name}'`, value: kernIdx },
  };
}

/** BPF_PROG_LOAD's attributes for a prepared program. */
export function loadRequest(j: ProgramJob, prog: BpfProgram, linked: LinkedProgram, insns: Uint8Array, attach: AttachResolution, logLevel: number): ProgLoadRequest {
  const { obj } = j;
  return {
    name: prog.name,
    progType: prog.progTypeId!,
    expectedAttachType: attach.expectedAttachType ?? (prog.expectedAttachTypeId || undefined),
    insns,
    license: obj.license || 'GPL',
    kernVersion: obj.kernelVersion,
    progFlags: prog.sleepable ? 1 << 4 /* BPF_F_SLEEPABLE */ : undefined,
    btfFd: j.btfFd,
    funcInfo: j.btfFd !== undefined ? funcInfoRecords(linked) : undefined,
    lineInfo: j.btfFd !== undefined && obj.btf ? lineInfoRecords(linked, obj) : undefined,
    fdArray: j.fdArray,
    attachBtfId: attach.attachBtfId,
    logLevel,
  };
}
