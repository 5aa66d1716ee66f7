/**
 * The lines the verifier prints when it checks the arguments of a kfunc, a
 * helper or a BPF-to-BPF call, and when a program walks a kernel struct
 * through a BTF pointer: one entry per printf format of kernel/bpf/verifier.c
 * and kernel/bpf/btf.c (read in the 6.1 and 6.12 sources, named by the
 * function that prints it). Such a line is the error when verification stops
 * right after it, and a diagnostic when it goes on: a static subprog, a
 * callback or the main program whose BTF arguments do not match is marked
 * "unreliable" and verified anyway, after the line was printed (6.12's
 * do_check_common on `int prog(void *ctx)` in a tc program prints
 * `arg#0 reference type('UNKNOWN ') size cannot be determined: -22` and goes
 * on). The formats are facts about the kernel's output; the regexes are built
 * from them here.
 *
 * Which of these a test makes the running kernel print: test/unit/verifier/diagnostics.test.ts
 * (KERNEL_PRINTED); the others are tested on the format's own text.
 */

export type KernelFile = 'verifier.c' | 'btf.c';

export interface KernelDiag {
  /** Where it is printed: `verifier.c check_kfunc_args`, and every other function printing the same format. */
  where: string[];
  /** The printf format, without the newline (multi-part prints joined as one line prints them). */
  format: string;
  /** Only kernels before 6.8 print it (6.1's btf.c did the kfunc checks). */
  old?: true;
}

type Group = [KernelFile, string, (string | [string, 'old'])[]];

const GROUPS: Group[] = [
  ['verifier.c', 'check_kfunc_args', [
    'Function %s has %d > %d args',
    'verifier internal error: only one constant argument permitted',
    'R%d must be a known constant',
    '2 or more rdonly/rdwr_buf_size parameters for kfunc',
    'R%d is not a const',
    'R%d rdonly/rdwr_buf_size exceeds u32 max',
    'Unrecognized arg#%d type %s',
    'Possibly NULL pointer passed to trusted arg%d',
    "pointer in R%d isn't map pointer",
    "workqueue pointer in R1 map_uid=%d doesn't match map pointer in R2 map_uid=%d",
    'R%d must be referenced or trusted',
    'R%d must be a rcu pointer',
    'arg#%d expected pointer to ctx, but got %s',
    'arg#%d expected for bpf_obj_drop_impl()',
    'arg#%d expected for bpf_percpu_obj_drop_impl()',
    'arg#%d expected pointer to allocated object',
    'allocated object must be referenced',
    'verifier internal error: no dynptr type for parent of clone',
    'verifier internal error: missing ref obj id for parent of clone',
    'verifier internal error: failed to obtain dynptr id',
    'css_task_iter is only allowed in bpf_lsm, bpf_iter and sleepable progs',
    'arg#%d expected pointer to map value or allocated object',
    'rbtree_remove node input must be non-owning ref',
    'rbtree_remove not allowed in rbtree cb',
    // Two verbose() calls, one line: "arg#%d is %s " then "expected %s or socket\n".
    'arg#%d is %s expected %s or socket',
    "arg#%d reference type('%s %s') size cannot be determined: %ld",
    'arg#%d arg#%d memory, len pair leads to invalid memory access',
    'arg%d expected pointer to func',
    'arg#%d is neither owning or non-owning ref',
    "verifier internal error: Couldn't find btf_record",
    "arg#%d doesn't point to a type with bpf_refcount field",
    "arg#%d doesn't point to a const string",
    "arg#%d doesn't point to a map value",
    'release kernel function %s expects refcounted PTR_TO_BTF_ID',
    'R%d is not a scalar',
  ]],
  ['verifier.c', 'check_kfunc_call', [
    'calling kernel function %s is not allowed',
    'destructive kfunc calls require CAP_SYS_BOOT capability',
    ['destructive kfunc calls require CAP_SYS_BOOT capabilities', 'old'],
    'program must be sleepable to call sleepable kfunc %s',
    'kfunc %s#%d failed callback verification',
    'Calling bpf_rcu_read_{lock,unlock} in unnecessary rbtree callback',
    'nested rcu read lock (kernel function %s)',
    'kernel func %s is sleepable within rcu_read_lock region',
    'unmatched rcu read unlock (kernel function %s)',
    'kernel func %s is sleepable within non-preemptible region',
    'unmatched attempt to enable preemption (kernel function %s)',
    'kfunc %s#%d reference has not been acquired before',
    'kfunc %s#%d conversion of owning ref to non-owning failed',
    'JIT does not support calling kfunc %s#%d',
    'acquire kernel function does not return PTR_TO_BTF_ID',
    'local type ID argument must be in range [0, U32_MAX]',
    'bpf_obj_new/bpf_percpu_obj_new requires prog BTF',
    'bpf_obj_new/bpf_percpu_obj_new type ID argument must be of a struct',
    'bpf_percpu_obj_new type size (%d) is greater than %d',
    'bpf_percpu_obj_new type ID argument must be of a struct of scalars',
    'bpf_percpu_obj_new type ID argument must not contain special fields',
    'kfunc bpf_rdonly_cast type ID argument must be of a struct',
    'verifier internal error: bpf_dynptr_slice(_rdwr) no constant size',
    'the prog does not allow writes to packet data',
    'verifier internal error: no dynptr id',
    'kernel function %s unhandled dynamic return type',
    'kernel function %s returns pointer type %s %s is not supported',
  ]],
  ['verifier.c', 'add_kfunc_call', [
    'calling kernel function is not supported without CONFIG_DEBUG_INFO_BTF',
    'JIT is required for calling kernel function',
    'JIT does not support calling kernel function',
    'cannot call kernel function from non-GPL compatible program',
    'failed to find BTF for kernel function',
    'too many different kernel function calls',
    'kernel btf_id %u is not a function',
    'kernel function btf_id %u does not have a valid func_proto',
    'cannot find address for kernel function %s',
    'address of kernel function %s is out of range',
  ]],
  ['verifier.c', 'get_kfunc_ptr_arg_type', [
    'kernel function %s args#%d pointer type %s %s is not supported',
    // "void, " is printed for %s when the kfunc is KF_ARG_PTR_TO_MEM-like.
    'arg#%d pointer type %s %s must point to %sscalar, or struct with scalar',
  ]],
  ['verifier.c', 'process_kf_arg_ptr_to_btf_id', [
    'kernel function %s args#%d expected pointer to %s %s but R%d has a pointer to %s %s',
  ]],
  ['verifier.c', '__process_kf_arg_ptr_to_graph_root', [
    'verifier internal error: unexpected btf mismatch in kfunc call',
    "R%d doesn't have constant offset. %s has to be at the constant offset",
    '%s not found at offset=%u',
    'bpf_spin_lock at off=%d must be held for %s',
    'verifier internal error: repeating %s arg',
  ]],
  ['verifier.c', '__process_kf_arg_ptr_to_graph_node', [
    'operation on %s expects arg#1 %s at offset=%d in struct %s, but arg is at offset=%d in struct %s',
    'arg#1 offset=%d, but expected %s at offset=%d in struct %s',
  ]],
  ['verifier.c', 'ref_set_non_owning', [
    'verifier internal error: ref_set_non_owning w/o active lock',
    'verifier internal error: NON_OWN_REF already set',
  ]],
  ['verifier.c', 'check_reg_type', [
    'verifier internal error: unsupported arg type %d',
    // "R%d type=%s expected=" then "%s, " per compatible type, then "%s\n".
    'R%d type=%s expected=%s',
    '%s() may write into memory pointed by R%d type=%s',
    'Possibly NULL pointer passed to helper arg%d',
    'verifier internal error: missing arg compatible BTF ID',
    // "verifier internal error:" then this, on one line.
    'verifier internal error:R%d has non-overwritten BPF_PTR_POISON type',
    'R%d has non-overwritten BPF_PTR_POISON type',
    'R%d is of type %s but %s is expected',
    'verifier internal error: unimplemented handling of MEM_ALLOC',
    'verifier internal error: invalid PTR_TO_BTF_ID register for type match',
  ]],
  ['verifier.c', 'check_func_arg', [
    'R%d leaks addr into helper function',
    'helper access to the packet is not allowed',
    'arg %d is an unacquired reference',
    'cannot release unowned const bpf_dynptr',
    'R%d must be referenced when passed to release function',
    'verifier internal error: more than one release argument',
    'verifier internal error: more than one arg with ref_obj_id R%d %u %u',
    "timer pointer in R1 map_uid=%d doesn't match map pointer in R2 map_uid=%d",
    'invalid map_ptr to access map->key',
    'invalid map_ptr to access map->value',
    'Helper has invalid btf_id in R%d',
    "can't spin_{lock,unlock} in rbtree cb",
    'verifier internal error',
    // The stray quote is the kernel's.
    "R%d is not a known constant'",
    ['Dynptr has to be an uninitialized dynptr', 'old'],
    ['verifier internal error: multiple uninitialized dynptr args', 'old'],
    ['Expected an initialized dynptr as arg #%d', 'old'],
    ['Expected a dynptr of type %s as arg #%d', 'old'],
    ["R%d does not point to a readonly map'", 'old'],
    ["R%d is not a constant address'", 'old'],
    ['no direct value access support for this map type', 'old'],
    ['direct value access on string failed', 'old'],
    ['string is not zero-terminated', 'old'],
  ]],
  ['verifier.c', 'btf_check_func_arg_match', [
    'R%d is not a scalar',
    'arg#%d expects pointer to ctx',
    'arg#%d is expected to be non-NULL',
    'R%d is not a pointer to arena or scalar.',
    'verifier bug: unrecognized arg#%d type %d',
  ]],
  ['verifier.c', 'check_func_call', [
    "Caller passes invalid args into func#%d ('%s')",
    ['Caller passes invalid args into func#%d', 'old'],
  ]],
  ['verifier.c', 'check_max_stack_depth_subprog', [
    'combined stack size of %d calls is %d. Too large',
  ]],
  // 6.17 turned the internal errors into verifier_bug() ("verifier bug: ..."); earlier kernels print
  // "verifier internal error: ..." with many texts. The specific ones above win (longer prefix).
  ['verifier.c', 'verifier_bug', [
    'verifier bug: %s',
    'verifier bug %s',
    'verifier internal error: %s',
  ]],
  ['btf.c', 'btf_prepare_func_args', [
    'Verifier bug',
    "arg#%d reference type('%s %s') size cannot be determined: %ld",
    'Global functions need valid BTF',
    "BTF of func#%d doesn't point to KIND_FUNC",
    'Verifier bug in function %s()',
    'Invalid type of function %s()',
    'Global function %s() with %d > %d args. Buggy compiler.',
    "Global function %s() doesn't return scalar. Only those are supported.",
    'arg#%d type tag is not supported in static functions',
    'arg#%d has unsupported set of tags',
    'arg#%d type tag fetching failure: %d',
    'arg#%d has invalid combination of tags',
    'arg#%d arena cannot be combined with any other tags',
    'arg#%d has pointer tag, but is not a pointer type',
    'Arg#%d type %s in %s() is not supported yet.',
  ]],
  ['btf.c', 'btf_get_ptr_to_btf_id', [
    "arg#%d reference type('%s %s') candidate matching error: %d",
    // One format, "%s" being "has no matches" or "is ambiguous".
    "arg#%d reference type('%s %s') has no matches",
    "arg#%d reference type('%s %s') is ambiguous",
    "arg#%d reference type('%s %s') points to kernel module type (unsupported)",
  ]],
  ['btf.c', 'btf_is_prog_ctx_type', [
    "arg#%d struct doesn't have a name",
    'btf_vmlinux is malformed',
    'Please fix kernel include/linux/bpf_types.h',
  ]],
  ['btf.c', 'btf_struct_walk', [
    "Type '%s' is not a struct",
    'access beyond struct %s at off %u size %u',
    "field %s doesn't have size",
    'cannot access ptr member %s with moff %u in struct %s with off %u size %u',
    'access beyond the end of member %s (mend:%u) in struct %s with off %u size %u',
    "struct %s doesn't have field at offset %d",
  ]],
  ['btf.c', 'btf_struct_access', [
    'direct access to %s is disallowed',
  ]],
  // Loads from the context of a tracing or struct_ops program: which argument, and the type of a pointer one.
  ['btf.c', 'btf_ctx_access', [
    "func '%s' doesn't have %d-th argument",
    "func '%s' arg%d has btf_id %d type %s '%s'",
  ]],
  // 6.1: the kfunc and subprog argument checks lived in btf.c.
  ['btf.c', 'btf_check_func_arg_match', [
    ["BTF of func_id %u doesn't point to KIND_FUNC", 'old'],
    ['Invalid BTF of func %s', 'old'],
    ['R%d must be referenced', 'old'],
    ['arg#0 expected pointer to map value', 'old'],
    ['arg#0 must have constant offset', 'old'],
    ['arg#0 no referenced kptr at map value offset=%llu', 'old'],
    ['arg#0 BTF type must be a double pointer', 'old'],
    ['kernel function %s args#%d expected pointer to %s %s', 'old'],
    ['arg#%d pointer type %s %s not to stack', 'old'],
    ['arg#%d pointer type %s %s must be valid and initialized', 'old'],
    ['arg#%d pointer type %s %s points to unsupported dynamic pointer type', 'old'],
    ["arg#%d reference type('%s %s') size cannot be determined: %ld", 'old'],
    ['R%d is not a scalar', 'old'],
    ["arg#%d expected pointer to ctx, but got %s", 'old'],
    ['Function %s has %d > %d args', 'old'],
    ['release kernel function %s expects refcounted PTR_TO_BTF_ID', 'old'],
    ['kernel function %s args#%d pointer type %s %s is not supported', 'old'],
    ['kernel function %s args#%d expected pointer to %s %s but R%d has a pointer to %s %s', 'old'],
    ['arg#%d pointer type %s %s must point to %sscalar, or struct with scalar', 'old'],
    ['arg#%d arg#%d memory, len pair leads to invalid memory access', 'old'],
    // "kernel " for %s at a kfunc call; empty at a static subprog or callback, which is verified anyway.
    ['reg type unsupported for arg#%d %sfunction %s#%d', 'old'],
    ['kernel function %s is sleepable but the program is not', 'old'],
  ]],
];

/** One entry per format; a format several functions print names them all, in table order. */
export const KERNEL_DIAGS: readonly KernelDiag[] = (() => {
  const byFormat = new Map<string, KernelDiag>();
  for (const [file, check, formats] of GROUPS) {
    for (const f of formats) {
      const format = typeof f === 'string' ? f : f[0];
      const where = `${file} ${check}`;
      const had = byFormat.get(format);
      if (had) {
        if (!had.where.includes(where)) had.where.push(where);
        if (typeof f === 'string') delete had.old;
      } else byFormat.set(format, typeof f === 'string' ? { where: [where], format } : { where: [where], format, old: true });
    }
  }
  return [...byFormat.values()];
})();

/** A printf conversion as the kernel's vsnprintf prints it. */
const CONVERSION: Record<string, string> = {
  d: '-?\\d+', i: '-?\\d+', ld: '-?\\d+', lld: '-?\\d+', u: '\\d+', lu: '\\d+', llu: '\\d+',
  x: '[0-9a-f]+', llx: '[0-9a-f]+', s: '.*?',
};

/** The regex of a format: literal text escaped, each conversion the text it prints. */
export function formatRegex(format: string): RegExp {
  let src = '';
  for (let i = 0; i < format.length; i++) {
    const c = format[i];
    if (c === '%') {
      const m = /^(l{0,2}[diux]|s|%)/.exec(format.slice(i + 1));
      if (m) {
        src += m[1] === '%' ? '%' : CONVERSION[m[1]];
        i += m[1].length;
        continue;
      }
    }
    src += /[\\^$.*+?()[\]{}|/]/.test(c) ? `\\${c}` : c;
  }
  return new RegExp(`^${src}\\s*$`);
}

interface Compiled {
  diag: KernelDiag;
  /** The literal text before the first conversion: a cheap test before the regex. */
  prefix: string;
  re: RegExp;
}

let compiled: Compiled[] | undefined;

function table(): Compiled[] {
  compiled ??= KERNEL_DIAGS.map((diag) => {
    const at = diag.format.indexOf('%');
    return { diag, prefix: at < 0 ? diag.format : diag.format.slice(0, at), re: formatRegex(diag.format) };
  });
  return compiled;
}

/** The kernel diagnostic this line is, or null. Most specific first: the longest literal prefix that matches. */
export function matchKernelDiag(line: string): KernelDiag | null {
  let best: Compiled | null = null;
  for (const c of table()) {
    if (!line.startsWith(c.prefix)) continue;
    if (best && best.prefix.length >= c.prefix.length) continue;
    if (c.re.test(line)) best = c;
  }
  return best?.diag ?? null;
}
