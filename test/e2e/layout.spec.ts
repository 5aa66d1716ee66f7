import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kernelSkipReason, kernelTitle } from '../helpers/kernel';
import { cli, expect, ROOT, test } from './fixtures';

/**
 * Struct layout drawing of bit-fields: fields that share a byte are drawn
 * side by side, each over exactly its bits, as pahole places them. No
 * example program has bit-fields, so the test compiles one with clang-19
 * and records it (the kernel verifies it: BTF of a map value).
 */
const SRC = `#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
struct flags { unsigned int a:3, b:5, c:1, d:7; unsigned char e; unsigned long long f:40, g:24; };
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, struct flags); } fm SEC(".maps");
SEC("tc") int bits(struct __sk_buff *skb) { __u32 k = 0; struct flags *f = bpf_map_lookup_elem(&fm, &k); if (!f) return 0; f->b = 3; f->g = 7; return f->a; }
char LICENSE[] SEC("license") = "GPL";
`;

let dir = '';
let obj = '';
let trace = '';
test.beforeAll(() => {
  if (kernelSkipReason()) return;
  dir = mkdtempSync(join(tmpdir(), 'bpfscope-e2e-bits-'));
  writeFileSync(join(dir, 'bits.bpf.c'), SRC);
  obj = join(dir, 'bits.bpf.o');
  execFileSync('clang-19', ['-g', '-O2', '-target', 'bpf', '-I', join(ROOT, 'resources/progs'), '-c', join(dir, 'bits.bpf.c'), '-o', obj]);
  trace = join(dir, 'bits.trace');
  cli('record', obj, '-o', trace);
});
test.afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test(kernelTitle('bit-fields sharing a byte are drawn side by side, each over the bits pahole gives it'), async ({ openApp }, info) => {
  test.skip(!!kernelSkipReason(), kernelSkipReason());
  const pahole = execFileSync('pahole', ['-C', 'flags', obj], { encoding: 'utf8' });
  const bitfields = [...pahole.matchAll(/^\s+.*?\s(\w+):(\d+);\s+\/\*\s+(\d+):\s*(\d+)\s+\d+\s+\*\//gm)].map((m) => ({
    name: m[1],
    bits: `${Number(m[3]) * 8 + Number(m[4])}-${Number(m[3]) * 8 + Number(m[4]) + Number(m[2])}`,
  }));
  expect(bitfields.length).toBe(6);
  const page = await openApp(trace);
  const layout = page.getByRole('region', { name: 'Struct layout', exact: true });
  // Without a click the pane shows a type: here the map value the program uses.
  await expect(layout.locator('#layout-hint')).toHaveText('struct flags · 16 bytes');
  await expect(page.getByLabel('Type')).toHaveValue('flags');
  for (const b of bitfields) await expect(layout.locator(`g.seg.bitfield[data-field="${b.name}"]`)).toHaveAttribute('data-bits', b.bits);
  // No two drawn fields cover the same pixels of a row.
  const boxes = await layout.locator('g.seg rect').evaluateAll((rs) =>
    rs.map((r) => ({ x: Number(r.getAttribute('x')), w: Number(r.getAttribute('width')), y: Number(r.getAttribute('y')) })),
  );
  for (const [i, a] of boxes.entries()) {
    for (const b of boxes.slice(i + 1)) if (a.y === b.y) expect(a.x + a.w <= b.x + 0.01 || b.x + b.w <= a.x + 0.01, `${JSON.stringify(a)} vs ${JSON.stringify(b)}`).toBe(true);
  }
  await layout.screenshot({ path: info.outputPath('bitfields.png') });
});
