import { dirname } from 'node:path';
import { BpfscopeError } from '../errors';
import { NOT_CHOSEN, type AllowedPaths } from '../host/allowedPaths';

/** The user's answer to "open this dropped file?". */
export interface DropAnswer {
  open: boolean;
  /** Also open files from the same folder without asking again. */
  allowFolder: boolean;
}

/**
 * `app:open-file` from the renderer: a dropped file (the renderer turns the
 * File into a path with webUtils.getPathForFile) or anything a compromised
 * page makes up. Main cannot tell the two apart (the drop happens in the
 * renderer), and opening an object records it, loading BPF programs with
 * the app's privileges. So a path the user did not choose already
 * (`allowed`) opens only after the user says yes to it in a native dialog,
 * which the page cannot answer. One question at a time: a page cannot stack
 * dialogs. Electron-free, so that it runs in unit tests.
 */
export class OpenFileGate {
  private asking = false;

  constructor(
    private readonly allowed: AllowedPaths,
    private readonly ask: (path: string) => Promise<DropAnswer>,
  ) {}

  /** The real path to open; a BpfscopeError when the user said no (or was already being asked). */
  async admit(path: string): Promise<string> {
    const known = this.allowed.lookup(path);
    if (known !== null) return known;
    // Asked whether or not the path exists: the page learns nothing from the answer's timing.
    if (this.asking) throw new BpfscopeError('another dropped file is waiting for your answer', path);
    this.asking = true;
    let answer: DropAnswer;
    try {
      answer = await this.ask(path);
    } finally {
      this.asking = false;
    }
    if (!answer.open) throw new BpfscopeError(NOT_CHOSEN, path);
    if (answer.allowFolder) this.allowed.allowFolder(dirname(path));
    return this.allowed.allowFile(path);
  }
}
