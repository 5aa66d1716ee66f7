// The oracle for parseObject: what libbpf 1.1 reads from an object at
// bpf_object__open() time (before any kernel call): programs with their
// section, type, expected attach type and instruction count, and maps
// (BTF-defined and the internal global-data maps) with their shape and
// initial bytes. One tab-separated line per item.
#include <bpf/libbpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// With LIBBPF_DEBUG set, libbpf's own log goes to stderr (its relocation lines are an oracle too).
static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap) { return getenv("LIBBPF_DEBUG") ? vfprintf(stderr, fmt, ap) : 0; }

int main(int argc, char **argv) {
	// "--sections NAME...": libbpf_prog_type_by_name() for each name.
	if (argc >= 2 && strcmp(argv[1], "--sections") == 0) {
		for (int i = 2; i < argc; i++) {
			enum bpf_prog_type t;
			enum bpf_attach_type a;
			if (libbpf_prog_type_by_name(argv[i], &t, &a))
				printf("%s\tunknown\n", argv[i]);
			else
				printf("%s\t%d\t%d\n", argv[i], t, a);
		}
		return 0;
	}
	if (argc != 2 && argc != 3) return 2;
	libbpf_set_print(quiet);
	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) { printf("error\n"); return 1; }
	// "load": let libbpf relocate (CO-RE included, against this kernel's BTF)
	// and load; its debug log names each CO-RE record it applies.
	if (argc == 3) {
		int err = bpf_object__load(obj);
		bpf_object__close(obj);
		printf("load %d\n", err);
		return 0;
	}
	struct bpf_program *p;
	bpf_object__for_each_program(p, obj) {
		printf("prog\t%s\t%s\t%d\t%d\t%zu\t%d\n", bpf_program__name(p), bpf_program__section_name(p),
		       bpf_program__type(p), bpf_program__expected_attach_type(p), bpf_program__insn_cnt(p),
		       bpf_program__autoload(p));
	}
	struct bpf_map *m;
	bpf_object__for_each_map(m, obj) {
		size_t sz = 0;
		const unsigned char *init = bpf_map__initial_value(m, &sz);
		printf("map\t%s\t%d\t%u\t%u\t%u\t%u\t%d\t%u\t%u\t", bpf_map__name(m), bpf_map__type(m), bpf_map__key_size(m),
		       bpf_map__value_size(m), bpf_map__max_entries(m), bpf_map__map_flags(m), bpf_map__is_internal(m),
		       bpf_map__btf_key_type_id(m), bpf_map__btf_value_type_id(m));
		for (size_t i = 0; init && i < sz; i++) printf("%02x", init[i]);
		printf("\t%llu\t%u\t%d\n", (unsigned long long)bpf_map__map_extra(m), bpf_map__numa_node(m),
		       bpf_map__pin_path(m) != NULL);
	}
	bpf_object__close(obj);
	return 0;
}
