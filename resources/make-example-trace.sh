#!/bin/sh
# Rebuilds resources/example.trace, the trace the app opens when no file is
# given: the three list programs of list.bpf.o recorded from this kernel,
# two of them also run in bpfscope's interpreter with the maps freed
# (allocator events: new, push, pop, drop, drain), list_mixed once more as
# a concrete run with its registers traced (--trace-insns), and the rejected
# leak_on_branch program of reject_leak.bpf.o imported from its kernel log.
# Needs root (or CAP_BPF + CAP_PERFMON) for `record`.
set -e
cd "$(dirname "$0")/.."
out=resources/example.trace
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bpfscope() { node main/bin.mjs "$@"; }
bpfscope record resources/progs/list.bpf.o -o "$tmp/example.trace"
bpfscope run resources/progs/list.bpf.o -p list_mixed --free-maps -o "$tmp/example.trace" > /dev/null
bpfscope run resources/progs/list.bpf.o -p list_push --free-maps -o "$tmp/example.trace" > /dev/null
# The same program once more with its registers after every instruction
# (--trace-insns): the app steps through this concrete run as a program of its own.
bpfscope run resources/progs/list.bpf.o -p list_mixed --trace-insns --free-maps -o "$tmp/example.trace" > /dev/null
bpfscope record resources/progs/reject_leak.bpf.o -o "$tmp/leak.trace" > /dev/null
bpfscope log "$tmp/leak.trace" -p leak_on_branch > "$tmp/leak.log"
bpfscope import "$tmp/leak.log" --object resources/progs/reject_leak.bpf.o -p leak_on_branch -o "$tmp/example.trace" > /dev/null
# One self-contained file: fold the WAL in, drop free pages.
node -e "const D=require('better-sqlite3'); const d=new D(process.argv[1]); d.pragma('journal_mode = DELETE'); d.exec('VACUUM'); d.close()" "$tmp/example.trace"
mv "$tmp/example.trace" "$out"
ls -l "$out"
