import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HELPER_NAMES } from '../../../main/object/insn/helper-ids';
import { helperId, helperName } from '../../../main/object/insn/call';

const haveBtf = existsSync('/sys/kernel/btf/vmlinux');

describe('helper id table', () => {
  it.skipIf(!haveBtf)('equals enum bpf_func_id of the running kernel (ids only ever get appended)', () => {
    const script = new URL('../../../main/object/insn/gen-helper-ids.sh', import.meta.url).pathname;
    const fresh = execFileSync(script, { encoding: 'utf8', maxBuffer: 1 << 26 });
    const names = [...fresh.matchAll(/^ {2}'([^']*)', \/\/ (\d+)$/gm)].map((m) => ({ name: m[1], id: Number(m[2]) }));
    expect(names.length).toBeGreaterThanOrEqual(HELPER_NAMES.length);
    names.slice(0, HELPER_NAMES.length).forEach(({ name, id }) => expect({ id, name: HELPER_NAMES[id] }).toEqual({ id, name }));
  });

  it('looks up both ways', () => {
    expect(helperName(1)).toBe('bpf_map_lookup_elem');
    expect(helperId('map_lookup_elem')).toBe(1);
    expect(helperId('bpf_kptr_xchg')).toBe(HELPER_NAMES.indexOf('bpf_kptr_xchg'));
    expect(helperName(-1)).toBeUndefined();
    expect(helperName(HELPER_NAMES.length)).toBeUndefined();
  });
});
