// SPDX-License-Identifier: GPL-2.0
/* The StackOverflow seed, BTF flavour: a SEC(".maps") definition and a sockops
 * program that looks the map up. */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

typedef __u32 u32;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, u32);
	__type(value, long);
	__uint(max_entries, 10);
} my_map SEC(".maps");

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
