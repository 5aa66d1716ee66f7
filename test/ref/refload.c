// SPDX-License-Identifier: GPL-2.0-only
/*
 * refload: the reference loader bpfscope's tests compare against. It loads
 * one program of a BPF object with libbpf (Debian's 1.1) exactly as a libbpf
 * user would, and reports what the kernel said.
 *
 *   refload OBJ -p PROG [--log-level N] [--log-out FILE] [--json-out FILE]
 *           [--log-size BYTES] [--run] [--data FILE] [--repeat N]
 *           [--dump-maps] [--verbose]
 *
 * --log-size sets the first log buffer (default 16 MiB); it doubles after
 * each ENOSPC up to the kernel's 1 GiB cap.
 *
 * The verifier log is written byte for byte to --log-out (default stdout);
 * one JSON line goes to --json-out (default stderr):
 *   {"object","program","log_level","verdict":"accepted"|"rejected","errno",
 *    "log_size","log_attempts","retval"?,"duration"?,"run_errno"?,
 *    "data_out"?,"maps"?:{name:[{key,value}]},"skipped_maps"?:{name:reason}}
 * At --log-level 0 libbpf loads without a log and, only if the load fails,
 * again at level 1: a rejected program still comes with its level-1 log.
 * A prog array with initial programs (`__array(values, int (void *))`) has
 * its slots set after every program loads, and a slot whose program was not
 * loaded fails the whole load (EBADF): so the programs the object's prog
 * array slots name are autoloaded too (without a log of their own), as
 * libbpf names them while opening the object (its ".maps relo" debug lines).
 * --run on a syscall program passes the data as its context (ctx_in), runs
 * it once (--repeat does not apply) and reports the context after the run
 * as data_out.
 * Exit status: 0 when the load and the requested run went through (accepted
 * or rejected alike), 2 on usage errors or when the object cannot be opened.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "packet.h"

/* The kernel caps log_size at UINT_MAX >> 2; a 6000-iteration loop at
 * level 2 prints ~112 MB, so start big enough for most and double on
 * ENOSPC (the kernel's "log truncated" answer). */
#define LOG_START (16u << 20)
#define LOG_MAX ((1u << 30) - 1)

static bool verbose;

/* Programs a prog array's initial slots name, from libbpf's debug lines at open. */
#define MAX_SLOT_PROGS 64
static char slot_progs[MAX_SLOT_PROGS][128];
static int nr_slot_progs;

static void note_slot_prog(const char *line)
{
	const char *at = strstr(line, " points to prog '");
	char name[128];

	if (!strstr(line, ".maps relo #") || !at || nr_slot_progs == MAX_SLOT_PROGS)
		return;
	if (sscanf(at, " points to prog '%127[^']'", name) != 1)
		return;
	for (int i = 0; i < nr_slot_progs; i++)
		if (!strcmp(slot_progs[i], name))
			return;
	strcpy(slot_progs[nr_slot_progs++], name);
}

static int print_fn(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG) {
		char line[512];
		va_list copy;

		va_copy(copy, ap);
		vsnprintf(line, sizeof(line), fmt, copy);
		va_end(copy);
		note_slot_prog(line);
	}
	if (!verbose && level != LIBBPF_WARN)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static bool is_slot_prog(const char *name)
{
	for (int i = 0; i < nr_slot_progs; i++)
		if (!strcmp(slot_progs[i], name))
			return true;
	return false;
}

static void usage(void)
{
	fprintf(stderr, "usage: refload OBJ -p PROG [--log-level N] [--log-out FILE] "
			"[--json-out FILE] [--log-size BYTES] [--run] [--data FILE] "
			"[--repeat N] "
			"[--dump-maps] [--verbose]\n");
	exit(2);
}

static void put_hex(FILE *f, const void *p, size_t n)
{
	const unsigned char *b = p;

	fputc('"', f);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%02x", b[i]);
	fputc('"', f);
}

/* JSON string escape for names and reasons (ASCII in practice). */
static void put_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static unsigned char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	size_t cap = 0, n = 0, r;

	if (!f)
		return NULL;
	do {
		if (n == cap) {
			cap = cap ? cap * 2 : 4096;
			buf = realloc(buf, cap);
			if (!buf)
				exit(2);
		}
		r = fread(buf + n, 1, cap - n, f);
		n += r;
	} while (r > 0);
	fclose(f);
	*len = n;
	return buf;
}

static bool map_iterable(enum bpf_map_type t, const char **why)
{
	/* BPF_MAP_TYPE_CGRP_STORAGE (32) is newer than libbpf 1.1's headers. */
	if ((int)t == 32) {
		*why = "local storage is keyed by objects";
		return false;
	}
	switch (t) {
	case BPF_MAP_TYPE_PROG_ARRAY:
	case BPF_MAP_TYPE_PERF_EVENT_ARRAY:
	case BPF_MAP_TYPE_ARRAY_OF_MAPS:
	case BPF_MAP_TYPE_HASH_OF_MAPS:
		*why = "holds file descriptors";
		return false;
	case BPF_MAP_TYPE_RINGBUF:
	case BPF_MAP_TYPE_USER_RINGBUF:
		*why = "ring buffer has no keys";
		return false;
	case BPF_MAP_TYPE_QUEUE:
	case BPF_MAP_TYPE_STACK:
	case BPF_MAP_TYPE_BLOOM_FILTER:
		*why = "no keys to iterate";
		return false;
	case BPF_MAP_TYPE_SK_STORAGE:
	case BPF_MAP_TYPE_INODE_STORAGE:
	case BPF_MAP_TYPE_TASK_STORAGE:
		*why = "local storage is keyed by objects";
		return false;
	default:
		return true;
	}
}

static bool is_percpu(enum bpf_map_type t)
{
	return t == BPF_MAP_TYPE_PERCPU_ARRAY || t == BPF_MAP_TYPE_PERCPU_HASH ||
	       t == BPF_MAP_TYPE_LRU_PERCPU_HASH || t == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
}

/* Every entry as {key,value} in the order bpf_map_get_next_key gives; per-CPU
 * values are all CPUs' copies back to back, each padded to 8 bytes. */
static void dump_maps(FILE *j, struct bpf_object *obj)
{
	struct bpf_map *map;
	bool first_map = true, first_skip = true;

	fputs(",\"maps\":{", j);
	bpf_object__for_each_map(map, obj) {
		enum bpf_map_type t = bpf_map__type(map);
		const char *why;
		__u32 ks = bpf_map__key_size(map), vs = bpf_map__value_size(map);
		int fd = bpf_map__fd(map);
		void *key, *next, *val;
		bool first = true, have = false;

		if (fd < 0 || !map_iterable(t, &why))
			continue;
		if (is_percpu(t))
			vs = ((vs + 7) & ~7u) * libbpf_num_possible_cpus();
		key = calloc(1, ks ? ks : 1);
		next = calloc(1, ks ? ks : 1);
		val = calloc(1, vs ? vs : 1);
		if (!first_map)
			fputc(',', j);
		first_map = false;
		put_str(j, bpf_map__name(map));
		fputs(":[", j);
		while (bpf_map_get_next_key(fd, have ? key : NULL, next) == 0) {
			memcpy(key, next, ks);
			have = true;
			memset(val, 0, vs);
			if (bpf_map_lookup_elem(fd, key, val))
				continue;
			if (!first)
				fputc(',', j);
			first = false;
			fputs("{\"key\":", j);
			put_hex(j, key, ks);
			fputs(",\"value\":", j);
			put_hex(j, val, vs);
			fputc('}', j);
		}
		fputc(']', j);
		free(key);
		free(next);
		free(val);
	}
	fputc('}', j);
	bpf_object__for_each_map(map, obj) {
		const char *why = "not created";

		if (bpf_map__fd(map) >= 0 && map_iterable(bpf_map__type(map), &why))
			continue;
		fputs(first_skip ? ",\"skipped_maps\":{" : ",", j);
		first_skip = false;
		put_str(j, bpf_map__name(map));
		fputc(':', j);
		put_str(j, why);
	}
	if (!first_skip)
		fputc('}', j);
}

int main(int argc, char **argv)
{
	const char *obj_path = NULL, *prog_name = NULL, *log_out = NULL;
	const char *json_out = NULL, *data_path = NULL;
	int log_level = 2, repeat = 1, err = 0, attempts = 0;
	bool run = false, dump = false;
	struct bpf_object *obj = NULL;
	struct bpf_program *prog = NULL, *p;
	size_t log_size = LOG_START, data_len = sizeof(default_packet);
	const unsigned char *data = default_packet;
	char *log = NULL;
	FILE *j;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-p") && i + 1 < argc)
			prog_name = argv[++i];
		else if (!strcmp(a, "--log-level") && i + 1 < argc)
			log_level = atoi(argv[++i]);
		else if (!strcmp(a, "--log-out") && i + 1 < argc)
			log_out = argv[++i];
		else if (!strcmp(a, "--json-out") && i + 1 < argc)
			json_out = argv[++i];
		else if (!strcmp(a, "--log-size") && i + 1 < argc)
			log_size = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(a, "--data") && i + 1 < argc)
			data_path = argv[++i];
		else if (!strcmp(a, "--repeat") && i + 1 < argc)
			repeat = atoi(argv[++i]);
		else if (!strcmp(a, "--run"))
			run = true;
		else if (!strcmp(a, "--dump-maps"))
			dump = true;
		else if (!strcmp(a, "--verbose"))
			verbose = true;
		else if (a[0] == '-' || obj_path)
			usage();
		else
			obj_path = a;
	}
	if (!obj_path || !prog_name || log_level < 0 || repeat < 1 || log_size < 128 ||
	    log_size > LOG_MAX)
		usage();
	if (data_path) {
		data = read_file(data_path, &data_len);
		if (!data) {
			fprintf(stderr, "refload: %s: %s\n", data_path, strerror(errno));
			return 2;
		}
	}
	libbpf_set_print(print_fn);

	/* A program is loaded once per bpf_object__load, so a cut log means
	 * opening the object again with a buffer twice as big. */
	for (;;) {
		attempts++;
		nr_slot_progs = 0;
		obj = bpf_object__open_file(obj_path, NULL);
		if (!obj) {
			fprintf(stderr, "refload: %s: cannot open: %s\n", obj_path, strerror(errno));
			return 2;
		}
		prog = NULL;
		bpf_object__for_each_program(p, obj) {
			bool me = !strcmp(bpf_program__name(p), prog_name);

			bpf_program__set_autoload(p, me || is_slot_prog(bpf_program__name(p)));
			if (me)
				prog = p;
		}
		if (!prog) {
			fprintf(stderr, "refload: %s: no program named %s\n", obj_path, prog_name);
			return 2;
		}
		free(log);
		log = calloc(1, log_size);
		if (!log) {
			fprintf(stderr, "refload: cannot allocate %zu bytes of log\n", log_size);
			return 2;
		}
		bpf_program__set_log_level(prog, log_level);
		bpf_program__set_log_buf(prog, log, log_size);
		err = bpf_object__load(obj);
		if (err == -ENOSPC && log_size < LOG_MAX && log_level > 0) {
			bpf_object__close(obj);
			log_size = log_size * 2 > LOG_MAX ? LOG_MAX : log_size * 2;
			continue;
		}
		break;
	}

	FILE *lf = log_out ? fopen(log_out, "wb") : stdout;
	if (!lf) {
		fprintf(stderr, "refload: %s: %s\n", log_out, strerror(errno));
		return 2;
	}
	size_t log_len = strnlen(log, log_size);
	fwrite(log, 1, log_len, lf);
	if (lf != stdout)
		fclose(lf);
	else
		fflush(stdout);

	j = json_out ? fopen(json_out, "w") : stderr;
	if (!j) {
		fprintf(stderr, "refload: %s: %s\n", json_out, strerror(errno));
		return 2;
	}
	fputs("{\"object\":", j);
	put_str(j, obj_path);
	fputs(",\"program\":", j);
	put_str(j, prog_name);
	fprintf(j, ",\"log_level\":%d,\"verdict\":\"%s\",\"errno\":%d,\"log_size\":%zu,"
		   "\"log_attempts\":%d",
		log_level, err ? "rejected" : "accepted", err < 0 ? -err : err, log_len,
		attempts);
	if (!err && run) {
		unsigned char *out = calloc(1, data_len + 4096);
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = data, .data_size_in = data_len,
			    .data_out = out, .data_size_out = data_len + 4096, .repeat = repeat);
		int rerr;

		/* A syscall program has no packet: its context is the buffer,
		 * which the kernel copies back into ctx_in after the one run
		 * (data_out, ctx_out and repeat must stay unset); it is
		 * reported as data_out. */
		bool syscall = bpf_program__type(prog) == BPF_PROG_TYPE_SYSCALL;

		if (syscall) {
			memcpy(out, data, data_len);
			opts.data_in = NULL;
			opts.data_size_in = 0;
			opts.data_out = NULL;
			opts.data_size_out = 0;
			opts.ctx_in = out;
			opts.ctx_size_in = data_len;
			opts.repeat = 0;
		}
		rerr = bpf_prog_test_run_opts(bpf_program__fd(prog), &opts);

		if (rerr)
			fprintf(j, ",\"run_errno\":%d", errno);
		else {
			fprintf(j, ",\"retval\":%u,\"duration\":%u,\"data_out\":", opts.retval,
				opts.duration);
			put_hex(j, out, syscall ? data_len : opts.data_size_out);
		}
		free(out);
	}
	if (!err && dump)
		dump_maps(j, obj);
	fputs("}\n", j);
	if (j != stderr)
		fclose(j);
	bpf_object__close(obj);
	free(log);
	return 0;
}
