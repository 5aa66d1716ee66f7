import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BpfscopeError } from '../../../main/errors';
import { parseKallsyms, resolveTypelessKsyms } from '../../../main/object/kallsyms';
import { fillKconfig } from '../../../main/object/kconfig';
import { parseObject } from '../../../main/object/object';
import { fromObject } from '../../../main/runtime/load';
import { runSession } from '../../../main/runtime/session';
import { DEFAULT_PACKET, PROGS_DIR } from '../../helpers/ref';

/**
 * The machine with the externs the loader gives the kernel, given here as
 * data (the host's are compared with BPF_PROG_TEST_RUN in
 * differential.test.ts): .kconfig values in a read-only map at libbpf's
 * offsets, typeless ksym addresses as ld_imm64 constants. Without them the
 * loads stay the compiler's zeros and the program faults or sees 0.
 */
const load = (name: string): ReturnType<typeof parseObject> => {
  const file = path.join(PROGS_DIR, name);
  return parseObject(readFileSync(file), file);
};
const run = (prog: ReturnType<typeof fromObject>): ReturnType<typeof runSession> => runSession(prog, { input: { data: DEFAULT_PACKET } });

describe('.kconfig in the machine (externs.bpf.o kconfig_values)', () => {
  const obj = load('externs.bpf.o');
  const config = (hz: string): Map<string, string> => new Map([['CONFIG_BPF_SYSCALL', 'y'], ['CONFIG_HZ', hz]]);

  it('returns what the filled values give: major + BPF_SYSCALL + HZ/50 + the weak unknown 0', () => {
    for (const [release, hz, want] of [['6.18.44-fc', '250', 6 + 1 + 5], ['5.15.0', '1000', 5 + 1 + 20], ['6.1.0-50-amd64', '100', 6 + 1 + 2]] as const) {
      const kconfig = fillKconfig(obj.externs, obj.btf!, config(hz), release);
      const r = run(fromObject(obj, 'kconfig_values', { externs: { kconfig } }));
      expect(r.runs[0].fault).toBeUndefined();
      expect([release, r.retval]).toEqual([release, want]);
      // The map is libbpf's: named externs.kconfig, holding the filled bytes.
      expect(r.maps['externs.kconfig']?.entries).toEqual([{ key: '00000000', value: Buffer.from(kconfig.bytes).toString('hex') }]);
    }
  });

  it('a strong option the config lacks fails the load, as libbpf fails the object', () => {
    const kconfig = fillKconfig(obj.externs, obj.btf!, new Map([['CONFIG_HZ', '250']]), '6.18.0');
    expect(() => fromObject(obj, 'kconfig_values', { externs: { kconfig } })).toThrow(new BpfscopeError("extern (kcfg) 'CONFIG_BPF_SYSCALL': not in the kernel config", obj.file));
  });

  it('without the values there is no .kconfig map and the load reads address 0: a fault', () => {
    const r = run(fromObject(obj, 'kconfig_values'));
    expect(r.runs[0].fault).toBeDefined();
  });
});

describe('typeless ksyms in the machine (ksym.bpf.o ksym_addrs)', () => {
  const obj = load('ksym.bpf.o');
  const kallsyms = (addr: string): string => `${addr} T bpf_prog_put\nffffffff81000000 T _stext\n`;
  const ksyms = (text: string): ReturnType<typeof resolveTypelessKsyms> =>
    resolveTypelessKsyms(obj.externs.filter((e) => e.typeless), parseKallsyms(text, new Set(['bpf_prog_put', 'bpfscope_not_a_kernel_symbol'])));

  it('the address is a constant: stored in .bss, top 16 bits set, the weak one 0: returns 3', () => {
    const r = run(fromObject(obj, 'ksym_addrs', { externs: { ksyms: ksyms(kallsyms('ffffffff814e7a90')) } }));
    expect(r.runs[0].fault).toBeUndefined();
    expect(r.retval).toBe(3);
    expect(r.maps['ksym.bss']?.entries).toEqual([{ key: '00000000', value: '907a4e81ffffffff' }]);
  });

  it('a zero address (kallsyms hidden) returns 2, as the kernel would run it', () => {
    const r = run(fromObject(obj, 'ksym_addrs', { externs: { ksyms: ksyms(kallsyms('0000000000000000')) } }));
    expect(r.retval).toBe(2);
    expect(r.maps['ksym.bss']?.entries[0].value).toBe('0000000000000000');
  });

  it('a strong symbol kallsyms lacks fails the load with libbpf\'s words', () => {
    expect(() => fromObject(obj, 'ksym_addrs', { externs: { ksyms: ksyms('ffffffff81000000 T _stext\n') } })).toThrow(/extern 'bpf_prog_put' \(strong\): not resolved/);
  });
});
