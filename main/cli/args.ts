import { readFileSync } from 'node:fs';
import { BpfscopeError } from '../errors';

/** What a command declares about its flags; everything else is positional. */
export interface FlagSpec {
  /** Flags that take a value, long form without dashes: `output`, `program`. */
  values?: string[];
  /** Flags that may be given several times; they collect into arrays. */
  repeated?: string[];
  /** Boolean switches: `json`, `run`. */
  switches?: string[];
  /** Short aliases: `{ o: 'output', p: 'program' }`. */
  aliases?: Record<string, string>;
}

export interface ParsedArgs {
  positional: string[];
  values: Map<string, string>;
  lists: Map<string, string[]>;
  switches: Set<string>;
}

/** A small, strict argv parser: unknown flags are errors, not silently ignored. */
export function parseArgs(argv: string[], spec: FlagSpec): ParsedArgs {
  const out: ParsedArgs = { positional: [], values: new Map(), lists: new Map(), switches: new Set() };
  const values = new Set(spec.values ?? []);
  const repeated = new Set(spec.repeated ?? []);
  const switches = new Set(spec.switches ?? []);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      out.positional.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      out.positional.push(arg);
      continue;
    }
    let name = arg.startsWith('--') ? arg.slice(2) : arg.slice(1);
    let inline: string | undefined;
    const eq = name.indexOf('=');
    if (eq >= 0) {
      inline = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    if (!arg.startsWith('--')) name = spec.aliases?.[name] ?? name;
    if (switches.has(name)) {
      if (inline !== undefined) throw new BpfscopeError(`option --${name} takes no value`);
      out.switches.add(name);
    } else if (values.has(name) || repeated.has(name)) {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new BpfscopeError(`option --${name} needs a value`);
      if (repeated.has(name)) out.lists.set(name, [...(out.lists.get(name) ?? []), v]);
      else out.values.set(name, v);
    } else {
      throw new BpfscopeError(`unknown option ${arg}`);
    }
  }
  return out;
}

/** Parse a non-negative integer option, naming the option when it is not one. */
export function intOption(args: ParsedArgs, name: string, fallback: number): number {
  const v = args.values.get(name);
  if (v === undefined) return fallback;
  if (!/^(0x[0-9a-f]+|\d+)$/i.test(v)) throw new BpfscopeError(`option --${name} takes a whole number, not '${v}'`);
  return Number(v);
}

/** The bytes of the file an option names (`--data FILE`), or undefined when the option is absent. */
export function fileOption(args: ParsedArgs, name: string): Uint8Array | undefined {
  const f = args.values.get(name);
  if (f === undefined) return undefined;
  try {
    return readFileSync(f);
  } catch (err) {
    throw new BpfscopeError(`cannot read --${name} file: ${err instanceof Error ? err.message : String(err)}`, f);
  }
}
