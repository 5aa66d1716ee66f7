import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { gunzipSync } from 'node:zlib';
import { hostTypelessKsyms } from './kallsyms';
import { fillKconfig, parseKernelConfig } from '../object/kconfig';
import type { BpfObject } from '../object/object';
import type { ObjectExterns } from '../runtime/load';

/** The running kernel's config, from /proc/config.gz or /boot/config-RELEASE (as libbpf looks); empty when neither exists. */
export function readKernelConfig(): Map<string, string> {
  try {
    if (existsSync('/proc/config.gz')) return parseKernelConfig(gunzipSync(readFileSync('/proc/config.gz')).toString('utf8'));
    const boot = `/boot/config-${release()}`;
    if (existsSync(boot)) return parseKernelConfig(readFileSync(boot, 'utf8'));
  } catch {
    // An unreadable config is an absent one: weak externs get 0, others fail with a sentence.
  }
  return new Map();
}

/** The object's .kconfig values from this host's release and config (libbpf's fill), undefined when it has none. */
export function hostKconfig(obj: BpfObject): ReturnType<typeof fillKconfig> | undefined {
  if (!obj.btf || !obj.data.some((d) => d.kind === 'kconfig')) return undefined;
  return fillKconfig(obj.externs, obj.btf, readKernelConfig(), release());
}

/**
 * What the loader gives the object's externs on this host, for the runtime
 * machine: the .kconfig bytes and the typeless ksyms' addresses, read as the
 * kernel loader reads them (record.ts), so `run` and `record --run` agree.
 */
export function hostExterns(obj: BpfObject): ObjectExterns {
  const kconfig = hostKconfig(obj);
  const ksyms = hostTypelessKsyms(obj);
  return { ...(kconfig ? { kconfig } : {}), ...(ksyms.length > 0 ? { ksyms } : {}) };
}
