import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const BIN = path.resolve(__dirname, '../../../main/bin.mjs');
const dir = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-tmpdir-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the CLI with an unusable temp folder', () => {
  it('runs (tsx compiles in memory) instead of dying in tsx with a stack trace', () => {
    // A file where the temp folder should be: mkdir under it fails even for root.
    const notDir = path.join(dir, 'not-a-folder');
    writeFileSync(notDir, '');
    const r = spawnSync(process.execPath, [BIN, 'help'], { encoding: 'utf8', env: { ...process.env, TMPDIR: notDir } });
    expect(r.stderr).not.toMatch(/ENOTDIR|triggerUncaughtException/);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^usage: bpfscope COMMAND/);
  });
});
