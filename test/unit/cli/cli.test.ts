import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { bpfscope } from '../../helpers/cli';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../../..');
const COMMANDS = ['inspect', 'disasm', 'layout', 'record', 'log', 'runs', 'compare', 'check', 'probe', 'import', 'show', 'run', 'serve', 'bench'];

describe('bpfscope command line', () => {
  it('lists every command with its summary', async () => {
    const r = await bpfscope(['help']);
    expect(r.code).toBe(0);
    for (const name of COMMANDS) expect(r.stdout).toMatch(new RegExp(`^  ${name} +\\S`, 'm'));
  });

  it('prints each command usage for help CMD and CMD --help', async () => {
    for (const name of COMMANDS) {
      const a = await bpfscope(['help', name]);
      const b = await bpfscope([name, '--help']);
      expect(a.code, name).toBe(0);
      expect(a.stdout, name).toMatch(/^usage: bpfscope /);
      expect(b.stdout, name).toBe(a.stdout);
    }
  });

  it('refuses an unknown command or option with one line and a non-zero exit', async () => {
    const r = await bpfscope(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    const o = await bpfscope(['inspect', '--frobnicate', 'x.o']);
    expect(o.code).toBe(1);
    expect(o.stderr).toMatch(/^bpfscope inspect: unknown option --frobnicate\n$/);
  });

  it('runs through npx from the project root, as the README says', async () => {
    const { stdout } = await run('npx', ['--no-install', 'bpfscope', 'help'], { cwd: ROOT });
    expect(stdout).toMatch(/^usage: bpfscope COMMAND/);
  });
});
