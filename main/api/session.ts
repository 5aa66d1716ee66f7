import { resolve } from 'node:path';
import { BpfscopeError } from '../errors';
import type { TraceInfo } from './contract';
import { TraceView } from './traceView';

/**
 * The traces a window has open. Ids are handed to the renderer; a path is
 * opened once and shared. Traces are opened read-only: the app never writes
 * a trace it shows (a recorder may be appending to it under WAL).
 */
export class TraceSession {
  private byId = new Map<number, TraceView>();
  private byPath = new Map<string, number>();
  private nextId = 1;

  open(path: string): TraceInfo {
    const abs = resolve(path);
    let id = this.byPath.get(abs);
    if (id === undefined) {
      const view = TraceView.open(abs);
      id = this.nextId++;
      this.byId.set(id, view);
      this.byPath.set(abs, id);
    }
    return { traceId: id, ...this.get(id).info() };
  }

  get(id: number): TraceView {
    const view = this.byId.get(id);
    if (!view) throw new BpfscopeError(`no open trace with id ${id} (reopen the file)`);
    return view;
  }

  closeAll(): void {
    for (const v of this.byId.values()) v.close();
    this.byId.clear();
    this.byPath.clear();
  }
}
