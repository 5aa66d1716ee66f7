export { parseEffect, type Effect } from './effect';
export { parseLoc, locName, type Loc } from './location';
export { provenance, slotParts, type Chain, type ChainSources, type Link, type PathStart, type StepSource, type Why } from './walk';
export { preciseRuns, parseRegMask, parseStackMask, type PreciseRun } from './precise';
