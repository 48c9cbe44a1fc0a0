// SPDX-License-Identifier: GPL-2.0
/* The StackOverflow seed, BTF flavour, without the lookup: libbpf still creates
 * my_map, but no instruction refers to it. */
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
	return 1;
}

char _license[] SEC("license") = "GPL";
