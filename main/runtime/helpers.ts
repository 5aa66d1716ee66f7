import { fault } from './fault';
import type { Machine } from './machine';
import { FUNC_TAG, Memory, hex64, type Region } from './memory';
import type { MapState } from './maps';

/** Helper ids (include/uapi/linux/bpf.h, ___BPF_FUNC_MAPPER order). */
export const Helper = {
  map_lookup_elem: 1,
  map_update_elem: 2,
  map_delete_elem: 3,
  ktime_get_ns: 5,
  trace_printk: 6,
  get_prandom_u32: 7,
  get_smp_processor_id: 8,
  get_current_pid_tgid: 14,
  skb_load_bytes: 26,
  spin_lock: 93,
  spin_unlock: 94,
  ktime_get_boot_ns: 125,
  per_cpu_ptr: 153,
  this_cpu_ptr: 154,
  ktime_get_coarse_ns: 160,
  ringbuf_output: 130,
  ringbuf_reserve: 131,
  ringbuf_submit: 132,
  ringbuf_discard: 133,
  trace_vprintk: 177,
  loop: 181,
  kptr_xchg: 194,
} as const;

const helperNames = new Map<number, string>(Object.entries(Helper).map(([k, v]) => [v, `bpf_${k}`]));

export function helperName(id: number): string {
  return helperNames.get(id) ?? `helper#${id}`;
}

/** Deterministic time: every read advances the clock by 1 µs from 1 s after boot. */
const KTIME_START = 1_000_000_000n;
const KTIME_STEP = 1_000n;

function arg(m: Machine, i: number): [number, number] {
  return [m.lo[i], m.hi[i]];
}

function mapArg(m: Machine, what: string): MapState {
  const r = m.memory.regionOf(m.hi[1], m.lo[1]);
  if (!r || r.kind !== 'map') fault('bad_arg', `${what}: R1 is not a map pointer`);
  return m.maps[r.owner];
}

function setPtr(m: Machine, r: Region | undefined, off = 0): void {
  if (r) m.setR0(off, Memory.hiOf(r));
  else m.setR0(0, 0);
}

function setInt(m: Machine, v: number): void {
  m.setR0(v | 0, v < 0 ? -1 : 0);
}

export function callHelper(m: Machine, id: number): void {
  const name = helperName(id);
  switch (id) {
    case Helper.map_lookup_elem: {
      const map = mapArg(m, name);
      const key = m.memory.read(m.hi[2], m.lo[2], map.spec.keySize);
      setPtr(m, map.lookup(key));
      return;
    }
    case Helper.map_update_elem: {
      const map = mapArg(m, name);
      const key = m.memory.read(m.hi[2], m.lo[2], map.spec.keySize);
      const value = m.memory.read(m.hi[3], m.lo[3], map.spec.valueSize);
      setInt(m, map.update(key, value, m.lo[4]));
      return;
    }
    case Helper.map_delete_elem: {
      const map = mapArg(m, name);
      const key = m.memory.read(m.hi[2], m.lo[2], map.spec.keySize);
      setInt(m, map.delete(key));
      return;
    }
    case Helper.ktime_get_ns:
    case Helper.ktime_get_boot_ns:
    case Helper.ktime_get_coarse_ns: {
      const v = KTIME_START + m.ktimeNs;
      m.ktimeNs += KTIME_STEP;
      m.setR0(Number(v & 0xffffffffn) | 0, Number(v >> 32n) | 0);
      return;
    }
    case Helper.get_prandom_u32: {
      // xorshift32: deterministic for a given --seed.
      let x = m.prandomState;
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      m.prandomState = x >>> 0;
      m.setR0(x | 0, 0);
      return;
    }
    case Helper.get_smp_processor_id:
      m.setR0(0, 0);
      return;
    case Helper.get_current_pid_tgid:
      m.setR0(4242, 4242);
      return;
    case Helper.trace_printk: {
      const size = m.lo[2] >>> 0;
      const fmt = m.memory.read(m.hi[1], m.lo[1], size);
      const text = formatPrintk(m, fmt, [arg(m, 3), arg(m, 4), arg(m, 5)]);
      m.printk.push(text);
      setInt(m, text.length);
      return;
    }
    case Helper.trace_vprintk: {
      // bpf_trace_vprintk(fmt, fmt_size, args, args_len): the arguments as an array of u64.
      const fmt = m.memory.read(m.hi[1], m.lo[1], m.lo[2] >>> 0);
      const n = (m.lo[4] >>> 0) / 8;
      if (!Number.isInteger(n) || n > 12) return setInt(m, -22);
      const raw = m.memory.read(m.hi[3], m.lo[3], n * 8);
      const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      const args: [number, number][] = [];
      for (let i = 0; i < n; i++) args.push([view.getInt32(i * 8, true), view.getInt32(i * 8 + 4, true)]);
      const text = formatPrintk(m, fmt, args);
      m.printk.push(text);
      setInt(m, text.length);
      return;
    }
    case Helper.ringbuf_output: {
      const map = mapArg(m, name);
      if (map.spec.type !== 27) fault('bad_arg', `${name}: map '${map.spec.name}' is not a ring buffer`);
      const size = m.lo[3] >>> 0;
      if (size + 8 > map.spec.maxEntries) return setInt(m, -7);
      map.records.push(m.memory.read(m.hi[2], m.lo[2], size));
      return setInt(m, 0);
    }
    case Helper.ringbuf_reserve: {
      const map = mapArg(m, name);
      if (map.spec.type !== 27) fault('bad_arg', `${name}: map '${map.spec.name}' is not a ring buffer`);
      const size = m.lo[2] >>> 0;
      if (m.lo[3] !== 0 || size + 8 > map.spec.maxEntries) return m.setR0(0, 0);
      const r = m.memory.add('ringbuf_record', size, `${map.spec.name} record`, { owner: map.index });
      return setPtr(m, r);
    }
    case Helper.ringbuf_submit:
    case Helper.ringbuf_discard: {
      const r = m.memory.check(m.hi[1], m.lo[1], 0, false);
      if (r.kind !== 'ringbuf_record' || m.lo[1] !== 0) fault('bad_arg', `${name}: not a pointer from bpf_ringbuf_reserve`);
      if (id === Helper.ringbuf_submit) m.maps[r.owner].records.push(r.data.slice());
      r.live = false;
      return m.setR0(0, 0);
    }
    case Helper.skb_load_bytes: {
      const skb = m.memory.regionOf(m.hi[1], m.lo[1]);
      const packet = skb?.kind === 'ctx' ? m.packet : undefined;
      const off = m.lo[2] >>> 0;
      const len = m.lo[4] >>> 0;
      if (!packet || off + len > packet.len) {
        // bpf_skb_load_bytes: -EFAULT and the buffer cleared when out of range.
        if (len > 0) m.memory.write(m.hi[3], m.lo[3], new Uint8Array(len));
        setInt(m, -14);
        return;
      }
      const bytes = packet.region.data.slice(packet.start + off, packet.start + off + len);
      m.memory.write(m.hi[3], m.lo[3], bytes);
      setInt(m, 0);
      return;
    }
    case Helper.spin_lock: {
      const key = lockKey(m, name);
      if (m.lockHeld !== null) fault('lock', `${name}: a lock is already held (${m.lockHeld}); the kernel would deadlock`);
      m.lockHeld = key;
      m.lockRegion = m.memory.regionOf(m.hi[1], m.lo[1])!.id;
      m.setR0(0, 0);
      return;
    }
    case Helper.spin_unlock: {
      const key = lockKey(m, name);
      if (m.lockHeld !== key) fault('lock', `${name}: lock ${key} is not held`);
      m.lockHeld = null;
      m.lockRegion = -1;
      m.setR0(0, 0);
      return;
    }
    case Helper.per_cpu_ptr:
      // Only CPU 0 exists in this machine.
      if (m.lo[2] === 0 && m.hi[2] === 0) m.setR0(m.lo[1], m.hi[1]);
      else m.setR0(0, 0);
      return;
    case Helper.this_cpu_ptr:
      m.setR0(m.lo[1], m.hi[1]);
      return;
    case Helper.loop: {
      const nr = m.lo[1] >>> 0;
      if (m.hi[2] !== FUNC_TAG) fault('bad_arg', `${name}: R2 is not a callback`);
      const target = m.lo[2];
      const ctx = arg(m, 3);
      if (m.lo[4] !== 0 || m.hi[4] !== 0) return setInt(m, -22);
      if (nr > 1 << 23) return setInt(m, -7);
      let i = 0;
      for (; i < nr; i++) {
        const [r0] = m.callFunc(target, [[i, 0], ctx]);
        if (r0 !== 0) {
          i++;
          break;
        }
      }
      setInt(m, i);
      return;
    }
    case Helper.kptr_xchg: {
      // bpf_kptr_xchg(&value->kptr, p): store p, return the old pointer.
      const slotHi = m.hi[1];
      const slotLo = m.lo[1];
      const oldLo = m.memory.load(slotHi, slotLo, 8);
      const oldHi = m.memory.hiOut;
      m.memory.store(slotHi, slotLo, 8, m.lo[2], m.hi[2]);
      const slot = m.memory.regionOf(slotHi, slotLo)!;
      const owner = `kptr ${slot.kind === 'object' ? `object#${slot.owner}` : slot.label}+${slotLo - slot.start}`;
      if (m.lo[2] !== 0 || m.hi[2] !== 0) {
        const { obj } = m.objects.objectAt(m.hi[2], m.lo[2], name);
        m.objects.kptrXchg(obj, owner);
      }
      if (oldLo !== 0 || oldHi !== 0) {
        const r = m.memory.regionOf(oldHi, oldLo);
        if (r && (r.kind === 'object' || r.kind === 'percpu_object')) m.objects.kptrXchg(m.objects.object(r.owner), 'prog');
      }
      m.setR0(oldLo, oldHi);
      return;
    }
    default:
      fault('bad_call', `call to ${name}, which the runtime does not model`);
  }
}

function lockKey(m: Machine, what: string): string {
  const r = m.memory.check(m.hi[1], m.lo[1], 4, true);
  if (!r) fault('bad_arg', `${what}: not a lock`);
  return `${r.label}+${m.lo[1] - r.start}`;
}

/** bpf_trace_printk's formats: %d %i %u %x %X %ld %lu %lx %lld %llu %llx %p %s %c %%. */
function formatPrintk(m: Machine, fmtBytes: Uint8Array, args: [number, number][]): string {
  const nul = fmtBytes.indexOf(0);
  const fmt = new TextDecoder().decode(nul >= 0 ? fmtBytes.subarray(0, nul) : fmtBytes);
  let ai = 0;
  return fmt.replace(/%(%|[-0-9]*(ll|l|h|hh)?[diuxXpsc])/g, (all, body: string, len?: string) => {
    if (body === '%') return '%';
    const a = args[ai++] ?? [0, 0];
    const conv = body[body.length - 1];
    const wide = len === 'l' || len === 'll';
    const big = wide ? (BigInt(a[1] >>> 0) << 32n) | BigInt(a[0] >>> 0) : BigInt(a[0] >>> 0);
    switch (conv) {
      case 'd':
      case 'i':
        return (wide ? BigInt.asIntN(64, big) : BigInt(a[0] | 0)).toString();
      case 'u':
        return big.toString();
      case 'x':
        return big.toString(16);
      case 'X':
        return big.toString(16).toUpperCase();
      case 'p':
        return '0x' + hex64(a[1], a[0]);
      case 'c':
        return String.fromCharCode(a[0] & 0xff);
      case 's': {
        const bytes: number[] = [];
        for (let i = 0; i < 256; i++) {
          const b = m.memory.load(a[1], (a[0] + i) | 0, 1);
          if (b === 0) break;
          bytes.push(b);
        }
        return String.fromCharCode(...bytes);
      }
      default:
        return all;
    }
  });
}
