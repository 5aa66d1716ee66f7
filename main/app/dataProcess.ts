import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/**
 * The trace data process for the desktop app: `node main/bin.mjs serve
 * --stdio` under the system Node, whose ABI better-sqlite3 is built for
 * (Electron's Node has another ABI). Calls are JSON lines (main/host/stdio.ts).
 * If it dies, pending calls fail with a sentence and the next call restarts it.
 */
export class DataProcess {
  private child: ChildProcessWithoutNullStreams | null = null;
  private pending = new Map<number, (r: { result?: unknown; error?: string }) => void>();
  private nextId = 1;

  constructor(
    private root: string,
    private node: string = process.env.BPFSCOPE_NODE ?? 'node',
  ) {}

  private start(): ChildProcessWithoutNullStreams {
    // Each child has its own pending calls: a dying child fails only its own.
    const pending = new Map<number, (r: { result?: unknown; error?: string }) => void>();
    this.pending = pending;
    const child = spawn(this.node, [join(this.root, 'main/bin.mjs'), 'serve', '--stdio'], {
      cwd: this.root,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      let msg: { id: number; result?: unknown; error?: string };
      try {
        msg = JSON.parse(line) as typeof msg;
      } catch {
        return;
      }
      const done = pending.get(msg.id);
      pending.delete(msg.id);
      done?.(msg);
    });
    child.stderr.on('data', (d: Buffer) => process.stderr.write(d));
    const fail = (why: string): void => {
      for (const done of pending.values()) done({ error: `the trace data process ${why}` });
      pending.clear();
      if (this.child === child) this.child = null;
    };
    child.on('exit', (code, signal) => fail(`exited (${code ?? signal})`));
    child.on('error', (err) => fail(`could not start '${this.node}': ${err.message}`));
    this.child = child;
    return child;
  }

  call(channel: string, args: unknown[]): Promise<{ result?: unknown; error?: string }> {
    const child = this.child ?? this.start();
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      child.stdin.write(JSON.stringify({ id, channel, args }) + '\n');
    });
  }

  stop(): void {
    this.child?.kill();
    this.child = null;
  }
}
