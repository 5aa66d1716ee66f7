import { readFileSync } from 'node:fs';
import type { Command } from './index';
import { intOption, parseArgs, fileOption } from './args';
import { BpfscopeError } from '../errors';

export const command: Command = {
  summary: 'load each program of an object into this kernel and record the verifier log into a trace',
  usage: `usage: bpfscope record OBJ [-p PROG]... [--log-level N] [--run [--data FILE] [--ctx FILE] [--repeat N]] [--kernel IMAGE] -o TRACE [--progress]

Loads the programs of OBJ (all, or those named with -p) one at a time with
bpfscope's own loader (BTF, maps, relocations, CO-RE, kfuncs), with the
verifier log at level N (default 6: level 2 plus statistics), and writes
every loading decision, the complete log and the verdict into TRACE.
A struct_ops program is loaded against the kernel struct and member its
.struct_ops variable names (the struct_ops map itself is never created).
--run test-runs each accepted program (BPF_PROG_TEST_RUN) on the packet in
--data (default: a 64-byte UDP packet) or the context in --ctx (a syscall
program's argument: --ctx, else --data, else the packet's bytes), --repeat
times, and records the return value, the output and the maps afterwards.
Prints one line per program; --progress prints JSON lines instead (for the
app). Exit 0 when the trace was written, whatever the verdicts. Needs
CAP_BPF + CAP_PERFMON or root ('bpfscope probe' says what is missing).
TRACE is written to a temporary file beside it (.TRACE.PID.tmp) and renamed
over it when complete: an interrupted record leaves the old TRACE whole. An
existing TRACE that is not a trace (not an SQLite file) is not replaced.

--kernel IMAGE records on another kernel: boots IMAGE in qemu (a vmlinuz
path, or a release such as 6.12 naming an installed image; 'bpfscope
kernels' lists them), runs this recorder inside as root with the host's
files visible read-only, and writes TRACE on the host. KVM where it works,
TCG (software emulation) otherwise; the trace names the kernel and which.`,
  async run(argv) {
    const args = parseArgs(argv, {
      values: ['log-level', 'data', 'ctx', 'repeat', 'output', 'kernel'],
      repeated: ['program'],
      switches: ['run', 'progress'],
      aliases: { o: 'output', p: 'program' },
    });
    if (args.positional.length !== 1) throw new BpfscopeError(`record takes one object file (got ${args.positional.length}); see 'bpfscope help record'`);
    const out = args.values.get('output');
    if (!out) throw new BpfscopeError("record needs -o TRACE, the trace file to write");
    const logLevel = intOption(args, 'log-level', 6);
    if (logLevel > 7) throw new BpfscopeError(`--log-level must be 0..7 (0 none, 1 errors, 2 every instruction, +4 statistics), not ${logLevel}`);
    const repeat = intOption(args, 'repeat', 1);
    if (repeat < 1) throw new BpfscopeError('--repeat must be at least 1');
    const data = fileOption(args, 'data');
    const ctx = fileOption(args, 'ctx');
    const progress = args.switches.has('progress');
    const objPath = args.positional[0];
    const kernel = args.values.get('kernel');
    const { checkReplaceable, writeTraceAtomically } = await import('../trace/atomic');
    checkReplaceable(out);
    if (kernel !== undefined) return recordOnKernel(kernel, argv, out, progress);

    const { probe } = await import('../kernel/probe');
    const p = probe();
    if (!p.canRecord) throw new BpfscopeError(p.problem ?? 'this process cannot load BPF programs');

    const { recordObject } = await import('../kernel/record');
    // A bad object must not cost the user an existing trace: check it before replacing anything.
    const { parseObject } = await import('../object/object');
    let objBytes: Uint8Array;
    try {
      objBytes = readFileSync(objPath);
    } catch (err) {
      throw new BpfscopeError(`cannot read object: ${err instanceof Error ? err.message : String(err)}`, objPath);
    }
    parseObject(objBytes, objPath);
    // A trace is one recording: a new file, renamed over TRACE only once complete.
    const outcomes = await writeTraceAtomically(out, 'empty', (db) =>
      recordObject(db, objPath, {
        programs: args.lists.get('program') ?? [],
        logLevel,
        run: args.switches.has('run'),
        data,
        ctx,
        repeat,
        onProgress: progress ? (e) => process.stdout.write(JSON.stringify(e) + '\n') : undefined,
        onWarning: progress ? undefined : (text) => process.stderr.write(`bpfscope record: warning: ${text}\n`),
      }),
    );
    if (!progress) {
      for (const o of outcomes) {
        const insns = o.stats.processedInsns !== undefined ? `, ${o.stats.processedInsns} insns processed` : '';
        const ret = o.retval !== undefined ? `, retval ${o.retval}` : '';
        const err = o.verdict === 'rejected' ? `: ${(o.error ?? '').replace(/\n/g, ' / ')}` : '';
        process.stdout.write(`${o.program}: ${o.verdict}${insns}${ret}${err}\n`);
      }
    }
    return 0;
  },
};

/** `--kernel`: the same arguments, paths made absolute, for the recorder inside the VM. */
async function recordOnKernel(spec: string, argv: string[], out: string, progress: boolean): Promise<number> {
  const { resolveImage } = await import('../vm/images');
  const { recordInVm } = await import('../vm/record');
  const { resolve } = await import('node:path');
  const image = resolveImage(spec);
  const guestArgs: string[] = [];
  const fileFlags = new Set(['--data', '--ctx']);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    if (flag === '--kernel' || flag === '-o' || flag === '--output') {
      if (inline === undefined) i++;
      continue;
    }
    if (fileFlags.has(flag)) {
      const v = inline ?? argv[++i];
      guestArgs.push(flag, resolve(v));
      continue;
    }
    if (flag === '-p' || flag === '--program' || flag === '--log-level' || flag === '--repeat') {
      guestArgs.push(flag, inline ?? argv[++i]);
      continue;
    }
    guestArgs.push(a.startsWith('-') ? a : resolve(a));
  }
  return recordInVm({ image, recordArgs: guestArgs, output: out, progress });
}
