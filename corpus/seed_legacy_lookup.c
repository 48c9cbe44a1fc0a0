// SPDX-License-Identifier: GPL-2.0
/* The StackOverflow seed, legacy flavour: a SEC("maps") bpf_map_def and a sockops
 * program that looks the map up, so the map is referenced by an ld_imm64. */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "legacy_map_def.h"

typedef __u32 u32;

struct bpf_map_def SEC("maps") my_map = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(u32),
	.value_size = sizeof(long),
	.max_entries = 10,
};

SEC("sockops")
int my_prog(struct bpf_sock_ops *skops)
{
	u32 key = 1;
	long *value;

	value = bpf_map_lookup_elem(&my_map, &key);
	if (value)
		__sync_fetch_and_add(value, 1);
	return 1;
}

char _license[] SEC("license") = "GPL";
