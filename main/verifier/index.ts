/**
 * The verifier log library: text in, steps and states out (no I/O). The
 * trace store (main/trace/verifier.ts, verifierRead.ts) and the CLI build on it.
 */
export { lexLine, expandLine, type LogLine, type MarkPrecise } from './lexer';
export { splitLines, MAX_LINE, type LineBatch, type LogLineText } from './lines';
export { parseRegValue, type RegValue, type RangeStyle } from './regValue';
export { parseStackSlot, type StackSlot } from './stackSlot';
export { parseStateText, splitStateTokens, type StateItem } from './stateText';
export {
  Reconstructor, initialMachine, parseCall, STEP_KINDS, type CallKind, type CallSite, type MachineState, type StepKind, type StepOut,
} from './reconstruct';
export {
  LogAnalyzer, type AnalysisSink, type AnalyzeOptions, type LogMessage, type LogStats, type PathInfo, type PathEnd,
  type RefEvent, type RefEventKind, type RefInfo, type StepRecord,
} from './analyze';
export type { FrameState, VerifierState } from './state';
