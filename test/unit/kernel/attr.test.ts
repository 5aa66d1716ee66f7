import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as attr from '../../../main/kernel/attr';
import type { AttrLayout } from '../../../main/kernel/attr';

/**
 * The attribute layouts are facts from include/uapi/linux/bpf.h; the C
 * compiler reads the installed header (linux-libc-dev 6.1) and prints
 * offsetof/sizeof of every field we write, and the two must agree. Fields the
 * 6.1 header predates (log_true_size, 6.4) are checked by the kernel tests
 * instead: a load with a short log buffer reads the size back from there.
 */
const LAYOUTS: { layout: AttrLayout; cType: string; prefix: string; rename?: Record<string, string> }[] = [
  { layout: attr.MAP_CREATE_ATTR, cType: 'union bpf_attr', prefix: '' },
  { layout: attr.MAP_ELEM_ATTR, cType: 'union bpf_attr', prefix: '' },
  { layout: attr.MAP_FREEZE_ATTR, cType: 'union bpf_attr', prefix: '' },
  { layout: attr.PROG_LOAD_ATTR, cType: 'union bpf_attr', prefix: '' },
  { layout: attr.BTF_LOAD_ATTR, cType: 'union bpf_attr', prefix: '' },
  { layout: attr.PROG_TEST_RUN_ATTR, cType: 'union bpf_attr', prefix: 'test.' },
  { layout: attr.GET_ID_ATTR, cType: 'union bpf_attr', prefix: '' },
  { layout: attr.GET_FD_BY_ID_ATTR, cType: 'union bpf_attr', prefix: '', rename: { id: 'btf_id' } },
  { layout: attr.OBJ_INFO_ATTR, cType: 'union bpf_attr', prefix: 'info.' },
  { layout: attr.BTF_INFO, cType: 'struct bpf_btf_info', prefix: '' },
];
const NEWER_THAN_HEADER = new Set(['log_true_size', 'btf_log_true_size']);

describe('bpf_attr layouts', () => {
  it('match offsetof/sizeof from the installed uapi header', () => {
    const lines: string[] = ['#include <stdio.h>', '#include <stddef.h>', '#include <linux/bpf.h>', 'int main(void) {'];
    const expected: string[] = [];
    for (const { layout, cType, prefix, rename } of LAYOUTS) {
      for (const [name, [off, size]] of Object.entries(layout.fields)) {
        if (NEWER_THAN_HEADER.has(name)) continue;
        const member = prefix + (rename?.[name] ?? name);
        lines.push(`printf("${layout.cmd} ${name} %zu %zu\\n", offsetof(${cType}, ${member}), sizeof(((${cType} *)0)->${member}));`);
        expected.push(`${layout.cmd} ${name} ${off} ${size}`);
      }
    }
    lines.push('return 0; }');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-attr-'));
    try {
      writeFileSync(path.join(dir, 'a.c'), lines.join('\n'));
      execFileSync('gcc', ['-o', path.join(dir, 'a'), path.join(dir, 'a.c')]);
      const got = execFileSync(path.join(dir, 'a'), { encoding: 'utf8' }).trim().split('\n');
      expect(got).toEqual(expected);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('layouts fit their declared size and do not overlap', () => {
    for (const { layout } of LAYOUTS) {
      const spans = Object.entries(layout.fields).map(([n, [o, s]]) => ({ n, o, s })).sort((a, b) => a.o - b.o);
      for (let i = 0; i < spans.length; i++) {
        expect(spans[i].o + spans[i].s, `${layout.cmd}.${spans[i].n}`).toBeLessThanOrEqual(layout.size);
        if (i > 0) expect(spans[i].o, `${layout.cmd}.${spans[i].n}`).toBeGreaterThanOrEqual(spans[i - 1].o + spans[i - 1].s);
      }
    }
  });
});
