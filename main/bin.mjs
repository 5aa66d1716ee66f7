#!/usr/bin/env node
// The `bpfscope` command. The CLI is TypeScript run through tsx so that the
// same sources serve the CLI, the app and the tests without a build step.
import { accessSync, constants } from 'node:fs';
import os from 'node:os';

// tsx caches compiled sources under the temp folder; where that is not
// writable (TMPDIR read-only, another user's folder) compile in memory
// instead of dying with tsx's EACCES stack trace before bpfscope starts.
try {
  accessSync(os.tmpdir(), constants.W_OK | constants.X_OK);
} catch {
  process.env.TSX_DISABLE_CACHE = '1';
}
const { register } = await import('tsx/esm/api');
register();
const { main } = await import('./cli/index.ts');
process.exitCode = await main(process.argv.slice(2));
