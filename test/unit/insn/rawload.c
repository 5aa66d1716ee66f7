/*
 * Loads raw BPF instructions into the running kernel with the verifier log at
 * level 2 and prints the log: the oracle for the disassembler's text and for
 * the linker's output.
 * Usage: rawload PROG_TYPE [OBJ FUNC_INFO LINE_INFO] < insns.bin
 *   PROG_TYPE: sched_cls | socket_filter | xdp
 *   OBJ: a .bpf.o whose BTF (as libbpf opens it) goes with the program;
 *   FUNC_INFO, LINE_INFO: files of struct bpf_func_info / bpf_line_info
 *   records, exactly as the kernel takes them.
 * Exit status 0 when the kernel accepted the program, 1 when it refused it
 * (the log is printed either way), 2 on a usage error.
 */
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *read_file(const char *path, size_t *len)
{
	static char buf[2][1 << 20];
	static int used;
	FILE *f = fopen(path, "rb");
	char *b = buf[used++ & 1];

	if (!f)
		return NULL;
	*len = fread(b, 1, sizeof(buf[0]), f);
	fclose(f);
	return b;
}

int main(int argc, char **argv)
{
	static struct bpf_insn insns[4096];
	static char log[1 << 22];
	enum bpf_prog_type type = BPF_PROG_TYPE_SCHED_CLS;
	size_t n;
	int fd;

	if (argc > 1 && strcmp(argv[1], "socket_filter") == 0)
		type = BPF_PROG_TYPE_SOCKET_FILTER;
	else if (argc > 1 && strcmp(argv[1], "xdp") == 0)
		type = BPF_PROG_TYPE_XDP;
	else if (argc > 1 && strcmp(argv[1], "sched_cls") != 0)
		return 2;
	n = fread(insns, sizeof(insns[0]), 4096, stdin);
	if (n == 0)
		return 2;

	LIBBPF_OPTS(bpf_prog_load_opts, opts, .log_level = 2, .log_buf = log, .log_size = sizeof(log));
	if (argc == 5) {
		struct bpf_object *obj = bpf_object__open_file(argv[2], NULL);
		struct btf *btf = obj ? bpf_object__btf(obj) : NULL;
		size_t fi_len = 0, li_len = 0;
		void *fi, *li;

		if (!btf || btf__load_into_kernel(btf)) {
			fprintf(stderr, "rawload: cannot load the BTF of %s\n", argv[2]);
			return 2;
		}
		fi = read_file(argv[3], &fi_len);
		li = read_file(argv[4], &li_len);
		if (!fi || !li)
			return 2;
		opts.prog_btf_fd = btf__fd(btf);
		opts.func_info = fi;
		opts.func_info_cnt = fi_len / sizeof(struct bpf_func_info);
		opts.func_info_rec_size = sizeof(struct bpf_func_info);
		opts.line_info = li;
		opts.line_info_cnt = li_len / sizeof(struct bpf_line_info);
		opts.line_info_rec_size = sizeof(struct bpf_line_info);
	}
	fd = bpf_prog_load(type, "rawload", "GPL", insns, n, &opts);
	fputs(log, stdout);
	if (fd < 0) {
		fprintf(stderr, "rawload: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}
