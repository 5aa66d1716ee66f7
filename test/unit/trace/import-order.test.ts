/**
 * A program whose first trace import is load.ts (the test helpers that read
 * recorded logs do this) must still get every schema part: the load DDL once
 * lived in load.ts, which reaches schema.ts through kernel.ts and db.ts, and
 * that cycle left an undefined part in schemaParts for such a program.
 */
import { readProgramLog } from '../../../main/trace/load';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { createTrace } from '../../../main/trace/db';
import { schemaParts } from '../../../main/trace/schema';

it('load.ts imported first: every schema part is defined and a trace is created with the load tables', () => {
  expect(schemaParts.every((p) => p !== undefined && typeof p.ddl === 'string')).toBe(true);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-order-'));
  try {
    const db = createTrace(path.join(dir, 't.trace'));
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((t) => t.name);
    expect(tables).toContain('load_maps');
    expect(readProgramLog(db, 1)).toBeUndefined();
    db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
