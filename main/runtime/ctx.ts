import { fault } from './fault';
import { Memory, type Region } from './memory';

/**
 * The context BPF_PROG_TEST_RUN hands a program (net/bpf/test_run.c), built
 * from the same inputs: the packet (data_in) and an optional ctx_in.
 */
export interface RunInput {
  /** data_in: the packet (tc, xdp, socket filters). */
  data?: Uint8Array;
  /** ctx_in: a struct __sk_buff / xdp_md prefix, or the whole context of syscall programs. */
  ctx?: Uint8Array;
}

export interface BuiltCtx {
  region: Region;
  packet?: { region: Region; start: number; len: number };
  /** The packet bytes after the run (data_out). */
  dataOut(): Uint8Array | undefined;
}

const SKB_SIZE = 192; // sizeof(struct __sk_buff)
const XDP_MD_SIZE = 24;
const ETH_HLEN = 14;
/** Headroom in front of the packet: NET_SKB_PAD for skbs, XDP_PACKET_HEADROOM for xdp. */
const SKB_HEADROOM = 64;
const XDP_HEADROOM = 256;

/** struct __sk_buff offsets (include/uapi/linux/bpf.h) the skb context answers. */
const SKB = { len: 0, pkt_type: 4, mark: 8, queue_mapping: 12, protocol: 16, priority: 32, ifindex: 40, cb: 48, data: 76, data_end: 80, data_meta: 140, tstamp: 152, wire_len: 160, gso_segs: 164 };

export function buildCtx(memory: Memory, progType: string, input: RunInput): BuiltCtx {
  const data = input.data ?? new Uint8Array(0);
  switch (progType) {
    case 'sched_cls':
    case 'sched_act':
    case 'socket_filter':
    case 'cgroup_skb':
      return skbCtx(memory, progType, data, input.ctx);
    case 'xdp':
      return xdpCtx(memory, data, input.ctx);
    default: {
      // syscall and the rest: the context is ctx_in itself, writable user memory.
      const ctx = input.ctx ?? new Uint8Array(0);
      const region = memory.add('ctx', ctx.length, 'ctx');
      region.data.set(ctx);
      // The kernel copies the context back to user space after the run (ctx_out).
      return { region, dataOut: () => region.data.slice() };
    }
  }
}

function packetRegion(memory: Memory, data: Uint8Array, headroom: number): { region: Region; start: number; len: number } {
  const region = memory.add('packet', headroom + data.length, 'packet', { start: headroom });
  region.data.set(data, headroom);
  return { region, start: headroom, len: data.length };
}

function skbCtx(memory: Memory, progType: string, data: Uint8Array, ctxIn?: Uint8Array): BuiltCtx {
  if (data.length < ETH_HLEN) fault('bad_arg', `the packet must be at least ${ETH_HLEN} bytes (BPF_PROG_TEST_RUN refuses shorter ones)`);
  const pkt = packetRegion(memory, data, SKB_HEADROOM);
  // Only tc programs see the Ethernet header (test_run pushes it back for them).
  const l2 = progType === 'sched_cls' || progType === 'sched_act';
  const start = pkt.start + (l2 ? 0 : ETH_HLEN);
  const len = data.length - (l2 ? 0 : ETH_HLEN);
  const region = memory.add('ctx', SKB_SIZE, 'ctx (struct __sk_buff)');
  const v = region.view;
  if (ctxIn) region.data.set(ctxIn.subarray(0, SKB_SIZE));
  v.setUint32(SKB.len, len, true);
  // eth_type_trans: h_proto as stored (big-endian in a __be16), pkt_type from the destination MAC.
  v.setUint32(SKB.protocol, data[12] | (data[13] << 8), true);
  const dst = data.subarray(0, 6);
  const pktType = dst.every((b) => b === 0xff) ? 1 : dst[0] & 1 ? 2 : dst.every((b) => b === 0) ? 0 : 3;
  v.setUint32(SKB.pkt_type, pktType, true);
  v.setUint32(SKB.ifindex, 1, true); // the loopback device
  if (v.getUint32(SKB.wire_len, true) === 0) v.setUint32(SKB.wire_len, len, true);
  if (v.getUint32(SKB.gso_segs, true) === 0) v.setUint32(SKB.gso_segs, 1, true);
  const hi = Memory.hiOf(pkt.region);
  region.ctxLoad = (off, size) => {
    if (off === SKB.data || off === SKB.data_meta) return size === 4 ? [start, hi] : undefined;
    if (off === SKB.data_end) return size === 4 ? [start + len, hi] : undefined;
    return undefined;
  };
  return {
    region,
    packet: { region: pkt.region, start, len },
    // After the run test_run pushes the Ethernet header back for programs
    // that ran without it, and pushes it zeroed (net/bpf/test_run.c).
    dataOut: () => {
      const out = pkt.region.data.slice(pkt.start, pkt.start + data.length);
      if (!l2) out.fill(0, 0, ETH_HLEN);
      return out;
    },
  };
}

function xdpCtx(memory: Memory, data: Uint8Array, ctxIn?: Uint8Array): BuiltCtx {
  const pkt = packetRegion(memory, data, XDP_HEADROOM);
  const region = memory.add('ctx', XDP_MD_SIZE, 'ctx (struct xdp_md)', { writable: false });
  if (ctxIn) region.data.set(ctxIn.subarray(0, XDP_MD_SIZE));
  region.view.setUint32(12, 1, true); // ingress_ifindex: loopback
  const hi = Memory.hiOf(pkt.region);
  region.ctxLoad = (off, size) => {
    if (size !== 4) return undefined;
    if (off === 0 || off === 8) return [pkt.start, hi];
    if (off === 4) return [pkt.start + pkt.len, hi];
    return undefined;
  };
  return { region, packet: pkt, dataOut: () => pkt.region.data.slice(pkt.start, pkt.start + pkt.len) };
}
