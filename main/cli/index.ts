import { BpfscopeError } from '../errors';

/**
 * The `bpfscope` command line. Each command lives in its own module under
 * main/cli/ and is loaded only when used, so that `bpfscope disasm` does not
 * pay for SQLite or the FFI.
 */
export interface Command {
  /** One line for the command list. */
  summary: string;
  /** Full usage text, printed for `bpfscope help CMD` and on usage errors. */
  usage: string;
  /** Runs the command; the result is the process exit code. */
  run(argv: string[]): Promise<number>;
}

const commands: Record<string, () => Promise<Command>> = {
  inspect: async () => (await import('./inspect')).command,
  disasm: async () => (await import('./disasm')).command,
  layout: async () => (await import('./layout')).command,
  record: async () => (await import('./record')).command,
  kernels: async () => (await import('./kernels')).command,
  log: async () => (await import('./log')).command,
  runs: async () => (await import('./runs')).command,
  compare: async () => (await import('./compare')).command,
  check: async () => (await import('./check')).command,
  probe: async () => (await import('./probe')).command,
  import: async () => (await import('./import')).command,
  show: async () => (await import('./show')).command,
  why: async () => (await import('./why')).command,
  cfg: async () => (await import('./cfg')).command,
  run: async () => (await import('./run')).command,
  serve: async () => (await import('./serve')).command,
  bench: async () => (await import('./bench')).command,
};

async function loadCommand(name: string): Promise<Command | undefined> {
  const load = Object.hasOwn(commands, name) ? commands[name] : undefined;
  return load ? load() : undefined;
}

async function printHelp(): Promise<void> {
  const lines = ['usage: bpfscope COMMAND [ARGS]', '', 'commands:'];
  for (const name of Object.keys(commands)) {
    const cmd = await loadCommand(name);
    if (cmd) lines.push(`  ${name.padEnd(9)} ${cmd.summary}`);
  }
  lines.push('', "'bpfscope help COMMAND' prints a command's usage.");
  process.stdout.write(lines.join('\n') + '\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    if (name === 'help' && rest[0]) {
      const cmd = await loadCommand(rest[0]);
      if (!cmd) return unknown(rest[0]);
      process.stdout.write(cmd.usage.trimEnd() + '\n');
      return 0;
    }
    await printHelp();
    return name === undefined ? 2 : 0;
  }
  const cmd = await loadCommand(name);
  if (!cmd) return unknown(name);
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(cmd.usage.trimEnd() + '\n');
    return 0;
  }
  try {
    return await cmd.run(rest);
  } catch (err) {
    if (err instanceof BpfscopeError) {
      process.stderr.write(`bpfscope ${name}: ${err.describe()}\n`);
      return 1;
    }
    const msg = err instanceof Error ? err.message : String(err);
    process.stderr.write(`bpfscope ${name}: internal error: ${msg}\n`);
    if (process.env.BPFSCOPE_DEBUG) process.stderr.write(`${err instanceof Error ? err.stack : ''}\n`);
    return 70;
  }
}

function unknown(name: string): number {
  process.stderr.write(`bpfscope: unknown command '${name}'; 'bpfscope help' lists the commands\n`);
  return 2;
}
