import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Command } from './index';

/**
 * `npm run bench`: runs every test/bench/*.bench.ts in turn. Each module
 * exports `title` and `run(): Promise<void>` and prints its own figures, next
 * to the reference it is measured against and the target the issue sets.
 */
interface BenchModule {
  title: string;
  run(): Promise<void>;
}

export const command: Command = {
  summary: 'run the benchmarks (test/bench/*.bench.ts) and print their figures',
  usage: `usage: bpfscope bench [FILTER...]

Runs the benchmarks in test/bench whose file names contain one of FILTER
(all of them without a filter) and prints what each measures.`,
  async run(argv) {
    const dir = resolve(import.meta.dirname, '../../test/bench');
    const files = readdirSync(dir)
      .filter((f) => f.endsWith('.bench.ts'))
      .filter((f) => argv.length === 0 || argv.some((a) => f.includes(a)))
      .sort();
    let failed = 0;
    for (const file of files) {
      const mod = (await import(pathToFileURL(join(dir, file)).href)) as BenchModule;
      process.stdout.write(`\n== ${mod.title} (${file})\n`);
      try {
        await mod.run();
      } catch (err) {
        failed++;
        process.stdout.write(`   FAILED: ${err instanceof Error ? err.message : String(err)}\n`);
      }
    }
    return failed === 0 ? 0 : 1;
  },
};
