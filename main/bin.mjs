#!/usr/bin/env node
// The `bpfscope` command. The CLI is TypeScript run through tsx so that the
// same sources serve the CLI, the app and the tests without a build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./cli/index.ts');
process.exitCode = await main(process.argv.slice(2));
