/*
 * Loads raw BPF instructions into the running kernel with the verifier log at
 * level 2 and prints the log: the oracle for the disassembler's text.
 * Usage: rawload PROG_TYPE < insns.bin   (PROG_TYPE: sched_cls | socket_filter | xdp)
 * Exit status 0 when the kernel accepted the program, 1 when it refused it
 * (the log is printed either way), 2 on a usage error.
 */
#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	fd = bpf_prog_load(type, "rawload", "GPL", insns, n, &opts);
	fputs(log, stdout);
	if (fd < 0) {
		fprintf(stderr, "rawload: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}
