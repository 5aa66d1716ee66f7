/**
 * bpfscope's BPF machine: what the CLI (`bpfscope run`), the app and the
 * tests use. Pure: an object model in, plain data out.
 *
 *   const prog = fromObject(parseObject(bytes, file), 'list_push');
 *   const report = runSession(prog, { repeat: 2, freeMaps: true, input: { data } });
 *
 * The trace side (writeRunSession, listAllocEvents, listObjects,
 * readInsnTrace) lives in main/trace/runtime.ts.
 */
export { fromObject, structInfo, type FromObjectOptions } from './load';
export { runSession, type MapDump, type RunOutcome, type SessionOptions, type SessionReport } from './session';
export type { RunInput } from './ctx';
export type { AllocEvent, AllocEventKind, AllocObject } from './events';
export type { FaultKind } from './fault';
export type { FaultReport, InsnStep, MachineOptions } from './machine';
export type { RuntimeProgram, MapSpec, TypeInfo, SpecialField } from './program';
export { SIZE_CLASSES, UNIT_HEADER, unitSizeFor } from './allocator';
