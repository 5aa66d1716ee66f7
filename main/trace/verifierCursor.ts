import type { TraceDb } from './db';
import { STEP_KINDS, type MachineState, type Reconstructor } from '../verifier/reconstruct';
import { readStep, replayLines, replayTo, type StepColumns } from './verifierRead';

/**
 * The reconstructed state step after step, for a reader that walks a whole
 * log (`bpfscope compare`): stateAtStep starts from the checkpoint before
 * each step and replays up to 63 steps, which over a 1.8 M-step log is
 * 60 M lines fed; this keeps one reconstructor and feeds each line once.
 *
 * The state it gives is the reconstructor's after the step's line (what
 * machineAtStep starts from, before its look at the lines after a call).
 */

const BRANCH = STEP_KINDS.indexOf('branch');
const SAFE = STEP_KINDS.indexOf('safe');
/** Beyond this many steps ahead, start again from a checkpoint instead of replaying every line between. */
const FORWARD_MAX = 256;

export class StateCursor {
  private rec: Reconstructor | null = null;
  private at = -1;
  private readonly checkpoints: Set<number>;

  constructor(
    private readonly db: TraceDb,
    private readonly programId: number,
    private readonly cols: StepColumns,
  ) {
    const rows = db.prepare('SELECT step FROM verifier_checkpoints WHERE program_id = ?').raw().all(programId) as [number][];
    this.checkpoints = new Set(rows.map((r) => r[0]));
  }

  /** The state after `step` (shared: read it before the next call). */
  state(step: number): MachineState {
    if (this.rec && step === this.at) return this.rec.m;
    if (!this.rec || step < this.at || step - this.at > FORWARD_MAX) this.jump(step);
    else while (this.at < step) this.advance();
    return (this.rec as Reconstructor).m;
  }

  private jump(step: number): void {
    const row = readStep(this.db, this.programId, step);
    if (!row) throw new RangeError(`no step ${step}`);
    this.rec = replayTo(this.db, this.programId, step, row).rec;
    this.at = step;
  }

  private advance(): void {
    const next = this.at + 1;
    const rec = this.rec as Reconstructor;
    // A path's first state is a copy the kernel pushed at its branch, which the
    // log prints only in part (a `from X to Y:` line, safe or not): the writer keeps a checkpoint there when a replay
    // would miss something (verifier/analyze.ts), and so for the step that
    // settles how the kernel clobbers helper-read stack slots. Start from those.
    if (this.checkpoints.has(next) && (this.cols.kind[next] === BRANCH || this.cols.kind[next] === SAFE || (rec.m.clobberReads ?? null) === null)) {
      this.jump(next);
      return;
    }
    replayLines(this.db, this.programId, rec, this.cols.line[this.at] + 1, this.cols.line[next], 1);
    this.at = next;
  }
}
