import { createInterface } from 'node:readline';
import { errorSentence, type Dispatch } from '../api/handlers';

/**
 * The handler table behind a pipe, for the Electron main process: Electron's
 * own Node cannot load better-sqlite3 built for the system Node's ABI, so
 * main runs `node main/bin.mjs serve --stdio` and forwards each validated
 * IPC call as one JSON line `{id, channel, args}`; the answer is one line
 * `{id, result}` or `{id, error}`. It also keeps trace queries off the
 * Electron main thread.
 */
export function serveStdio(dispatch: Dispatch): Promise<void> {
  const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
  rl.on('line', (line) => {
    let msg: { id?: unknown; channel?: unknown; args?: unknown };
    try {
      msg = JSON.parse(line) as typeof msg;
    } catch {
      return;
    }
    const id = msg.id;
    dispatch(String(msg.channel), msg.args).then(
      (result) => process.stdout.write(JSON.stringify({ id, result: result ?? null }) + '\n'),
      (err) => process.stdout.write(JSON.stringify({ id, error: errorSentence(err) }) + '\n'),
    );
  });
  return new Promise((r) => rl.on('close', () => r()));
}
