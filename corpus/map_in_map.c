// SPDX-License-Identifier: GPL-2.0
/* Map-in-map with initializers: an ARRAY_OF_MAPS and a HASH_OF_MAPS whose slots
 * are filled from .values with inner ARRAY maps; the program looks through both. */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 8);
};

struct inner inner_a SEC(".maps");
struct inner inner_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, struct inner);
} outer_array SEC(".maps") = {
	.values = { &inner_a, [2] = &inner_b },
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, struct inner);
} outer_hash SEC(".maps") = {
	.values = { [1] = &inner_a },
};

static __always_inline void count_in(void *outer, __u32 slot)
{
	__u32 key = 0;
	__u64 *v;
	void *inner = bpf_map_lookup_elem(outer, &slot);

	if (!inner)
		return;
	v = bpf_map_lookup_elem(inner, &key);
	if (v)
		__sync_fetch_and_add(v, 1);
}

SEC("xdp")
int xdp_mim(struct xdp_md *ctx)
{
	count_in(&outer_array, 0);
	count_in(&outer_hash, 1);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
