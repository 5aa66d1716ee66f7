// The kernel as the oracle for special-field offsets: create the maps of an
// object with libbpf (programs not loaded), then for every byte of MAP's
// value load a tiny sched_cls program that stores one byte at that offset
// of a looked-up value. The verifier refuses stores into special fields
// ("bpf_list_head cannot be accessed directly by load/store", "kptr access
// size must be BPF_DW", ...) and accepts the rest. Prints "OFF\tok" or
// "OFF\terr\tLAST LOG LINE" per byte.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap) { return getenv("PROBE_DEBUG") ? vfprintf(stderr, fmt, ap) : 0; }

int main(int argc, char **argv) {
	if (argc != 3) return 2;
	libbpf_set_print(quiet);
	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) { printf("open failed\n"); return 1; }
	struct bpf_program *p;
	bpf_object__for_each_program(p, obj) bpf_program__set_autoload(p, false);
	if (bpf_object__load(obj)) { printf("load failed\n"); return 1; }
	struct bpf_map *map = bpf_object__find_map_by_name(obj, argv[2]);
	if (!map) { printf("no map\n"); return 1; }
	int fd = bpf_map__fd(map);
	unsigned vs = bpf_map__value_size(map);
	static char log[65536];
	for (unsigned off = 0; off < vs; off++) {
		struct bpf_insn insns[] = {
			{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 1, .imm = 0 },
			{ .code = BPF_STX | BPF_MEM | BPF_W, .dst_reg = 10, .src_reg = 1, .off = -4 },
			{ .code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = 2, .src_reg = 10 },
			{ .code = BPF_ALU64 | BPF_ADD | BPF_K, .dst_reg = 2, .imm = -4 },
			{ .code = BPF_LD | BPF_DW | BPF_IMM, .dst_reg = 1, .src_reg = BPF_PSEUDO_MAP_FD, .imm = fd },
			{ 0 },
			{ .code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_map_lookup_elem },
			{ .code = BPF_JMP | BPF_JEQ | BPF_K, .dst_reg = 0, .off = 1, .imm = 0 },
			{ .code = BPF_ST | BPF_MEM | BPF_B, .dst_reg = 0, .off = (short)off, .imm = 0 },
			{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 0 },
			{ .code = BPF_JMP | BPF_EXIT },
		};
		LIBBPF_OPTS(bpf_prog_load_opts, opts, .log_buf = log, .log_size = sizeof(log), .log_level = 1);
		log[0] = 0;
		int pfd = bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "fieldprobe", "GPL", insns, sizeof(insns) / sizeof(insns[0]), &opts);
		if (pfd >= 0) {
			printf("%u\tok\n", off);
			close(pfd);
			continue;
		}
		// The reason is the first line that names what is wrong, before the summary lines.
		char *line = log, *reason = NULL;
		while (line && *line) {
			char *nl = strchr(line, '\n');
			if (nl) *nl = 0;
			if (strstr(line, "cannot be accessed") || strstr(line, "access size") || strstr(line, "misaligned")) { reason = line; break; }
			line = nl ? nl + 1 : NULL;
		}
		printf("%u\terr\t%s\n", off, reason ? reason : "?");
	}
	bpf_object__close(obj);
	return 0;
}
