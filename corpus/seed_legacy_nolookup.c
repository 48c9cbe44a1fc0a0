// SPDX-License-Identifier: GPL-2.0
/* The StackOverflow seed, legacy flavour, without the lookup: the map is defined
 * but no instruction refers to it, so nothing holds it once the loader exits. */
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
	return 1;
}

char _license[] SEC("license") = "GPL";
