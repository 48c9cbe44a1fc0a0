// SPDX-License-Identifier: GPL-2.0
/* LIBBPF_PIN_BY_NAME: libbpf pins the map at <pin_root>/pinned_counter
 * (/sys/fs/bpf by default) and, if something is already pinned there, reuses it
 * after checking that its type, sizes and flags match. */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pinned_counter SEC(".maps");

SEC("socket")
int sock_pinned(struct __sk_buff *skb)
{
	__u32 key = 0;
	__u64 *v = bpf_map_lookup_elem(&pinned_counter, &key);

	if (v)
		__sync_fetch_and_add(v, 1);
	return 0;
}

char _license[] SEC("license") = "GPL";
