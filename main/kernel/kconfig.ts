import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { gunzipSync } from 'node:zlib';
import { parseKernelConfig } from '../object/kconfig';

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
