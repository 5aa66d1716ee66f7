/// <reference types="vite/client" />
import ElkApi, { type ELK, type ElkNode } from 'elkjs/lib/elk-api';
import elkWorkerUrl from 'elkjs/lib/elk-worker.min.js?url';

/**
 * elkjs in a Web Worker: elk-worker.min.js is its own file in the bundle
 * (CSP `worker-src 'self'`, only fetched once the CFG view opens), so a
 * layout of hundreds of blocks, a second on a large program, never holds a
 * frame. Where a worker cannot start (a page from file:// may be refused
 * one), the bundled in-thread elk (its own chunk, loaded then only) takes
 * over: slower to show, the same layout.
 */
export class ElkRunner {
  private elk: ELK | null = null;
  private broken: Promise<never> | null = null;
  private inThread: Promise<ELK> | null = null;
  /** The worker could not start or died: layouts go to the in-thread elk from then on. */
  private workerFailed = false;

  private worker(): { elk: ELK; broken: Promise<never> } {
    if (!this.elk || !this.broken) {
      let fail: (err: Error) => void = () => undefined;
      this.broken = new Promise<never>((_, reject) => (fail = reject));
      // Nobody may be waiting when it fails: the rejection is handled where a layout races it.
      this.broken.catch(() => undefined);
      this.elk = new ElkApi({
        workerFactory: () => {
          let w: Worker;
          try {
            w = new Worker(elkWorkerUrl);
          } catch (err) {
            this.workerFailed = true;
            throw err;
          }
          w.addEventListener('error', (e) => {
            this.workerFailed = true;
            fail(new Error(`the layout worker failed: ${e.message || 'it did not start'}`));
          });
          return w;
        },
      });
    }
    return { elk: this.elk, broken: this.broken };
  }

  private fallback(): Promise<ELK> {
    this.inThread ??= import('elkjs/lib/elk.bundled.js').then((m) => new m.default());
    return this.inThread;
  }

  async layout(graph: ElkNode): Promise<ElkNode> {
    if (this.inThread) return (await this.inThread).layout(graph);
    try {
      const { elk, broken } = this.worker();
      return await Promise.race([elk.layout(graph), broken]);
    } catch (err) {
      if (!this.workerFailed) throw err;
      this.dispose();
      return (await this.fallback()).layout(graph);
    }
  }

  dispose(): void {
    this.elk?.terminateWorker();
    this.elk = null;
  }
}
