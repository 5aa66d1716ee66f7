/**
 * The reference loader itself: the packet it runs by default is the one
 * ref.ts exports, --data/--repeat/--dump-maps do what they say, a cut log is
 * retried with a bigger buffer and comes out whole, bad input fails clearly.
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { kernelSkipReason, kernelTitle } from '../../helpers/kernel';
import { DEFAULT_PACKET, normalizeLog, refLoad } from '../../helpers/ref';

const u16be = (b: Uint8Array, off: number): number => (b[off] << 8) | b[off + 1];
const u32le = (hex: string): number => Buffer.from(hex, 'hex').readUInt32LE(0);

/** The one entry of a single-entry array map. */
function only(maps: Record<string, { key: string; value: string }[]> | undefined, name: string): string {
  const entries = maps?.[name];
  expect(entries, `map ${name}`).toHaveLength(1);
  return entries![0].value;
}

describe('DEFAULT_PACKET', () => {
  it('is a 64-byte Ethernet/IPv4/UDP packet with a valid IPv4 header checksum', () => {
    expect(DEFAULT_PACKET.length).toBe(64);
    expect(u16be(DEFAULT_PACKET, 12)).toBe(0x0800);
    expect(DEFAULT_PACKET[14] >> 4).toBe(4);
    expect(DEFAULT_PACKET[23]).toBe(17);
    let sum = 0;
    for (let i = 14; i < 34; i += 2) sum += u16be(DEFAULT_PACKET, i);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    expect(sum).toBe(0xffff);
    expect(u16be(DEFAULT_PACKET, 16)).toBe(64 - 14);
    expect(u16be(DEFAULT_PACKET, 38)).toBe(64 - 34);
  });
});

describe.skipIf(!!kernelSkipReason())(kernelTitle('refload'), () => {
  it('runs the default packet, the same bytes ref.ts exports', async () => {
    const r = await refLoad('compute.bpf.o', 'parse_udp', { run: true });
    expect(r.verdict).toBe('accepted');
    expect(r.dataOut).toEqual(DEFAULT_PACKET);
    expect(r.retval).toBe(u16be(DEFAULT_PACKET, 36));
  });

  it('runs the packet given with --data', async () => {
    const pkt = Uint8Array.from(DEFAULT_PACKET);
    pkt[36] = 0x10;
    pkt[37] = 0x92;
    const r = await refLoad('compute.bpf.o', 'parse_udp', { run: true, data: pkt });
    expect(r.retval).toBe(0x1092);
    expect(r.dataOut).toEqual(pkt);
    pkt[23] = 6; // TCP: not parsed, -1 as u32
    expect((await refLoad('compute.bpf.o', 'parse_udp', { run: true, data: pkt })).retval).toBe(0xffffffff);
  });

  it('reports the checksum the kernel computes over a corrupted header', async () => {
    const ok = await refLoad('compute.bpf.o', 'ip_checksum', { run: true });
    expect(ok.retval).toBe(0);
    const pkt = Uint8Array.from(DEFAULT_PACKET);
    pkt[22] -= 1; // TTL one lower
    // The program sums little-endian words: the folded sum comes out
    // byte-swapped (0x0100 in network order reads as 0x0001).
    let sum = 0;
    for (let i = 14; i < 34; i += 2) sum += pkt[i] | (pkt[i + 1] << 8);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    const bad = await refLoad('compute.bpf.o', 'ip_checksum', { run: true, data: pkt });
    expect(bad.retval).toBe(~sum & 0xffff);
    expect(bad.retval).toBe(0x0001);
  });

  it('dumps maps after the run, global data sections included', async () => {
    const r = await refLoad('globals.bpf.o', 'globals_update', { run: true, dumpMaps: true });
    expect(Object.keys(r.maps ?? {}).sort()).toEqual(
      ['.bss.seen', '.data.counters', '.rodata.table', 'globals.bss', 'globals.data', 'globals.rodata'],
    );
    expect(u32le(only(r.maps, '.bss.seen'))).toBe(DEFAULT_PACKET.length);
    expect(r.skippedMaps).toBeUndefined();
  });

  it('--repeat runs the program that many times on the same maps', async () => {
    const once = await refLoad('globals.bpf.o', 'globals_update', { run: true, dumpMaps: true });
    const five = await refLoad('globals.bpf.o', 'globals_update', { run: true, repeat: 5, dumpMaps: true });
    expect(u32le(only(five.maps, 'globals.data'))).toBe(u32le(only(once.maps, 'globals.data')) + 4);
    expect(five.retval).toBe(once.retval! + 4);
  });

  it('retries with a bigger buffer when the log is cut, and returns it whole', async () => {
    // A program every kernel of the matrix loads (no kfuncs), whose level-2 log is a few KiB.
    const whole = await refLoad('compute.bpf.o', 'ip_checksum');
    const grown = await refLoad('compute.bpf.o', 'ip_checksum', { logBufSize: 1024 });
    expect(whole.logSize).toBeGreaterThan(2048);
    expect(whole.logAttempts).toBe(1);
    // 1 KiB, doubled after each ENOSPC: the last buffer is the first to hold it.
    const last = 1024 * 2 ** (grown.logAttempts - 1);
    expect(grown.logAttempts).toBeGreaterThan(1);
    expect(last).toBeGreaterThan(whole.logSize);
    expect(last / 2).toBeLessThanOrEqual(whole.logSize + 1);
    expect(grown.verdict).toBe('accepted');
    expect(normalizeLog(grown.log)).toBe(normalizeLog(whole.log));
  });

  it('fails clearly on a missing or non-BPF object', async () => {
    await expect(refLoad('/nonexistent/x.bpf.o', 'p')).rejects.toThrow(/nonexistent\/x\.bpf\.o: cannot open/);
    const junk = path.join(os.tmpdir(), `bpfscope-junk-${process.pid}.o`);
    writeFileSync(junk, 'not an ELF file\n');
    await expect(refLoad(junk, 'p')).rejects.toThrow(/cannot open/);
  });
});
