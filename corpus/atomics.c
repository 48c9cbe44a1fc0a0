// SPDX-License-Identifier: GPL-2.0
/* Atomics on map values, 32 and 64 bits: fetch-and-add with the result unused
 * (BPF_ADD) and used (BPF_ADD | BPF_FETCH), xchg (__sync_lock_test_and_set) and
 * cmpxchg (__sync_val_compare_and_swap). Built with -mcpu=v3: the fetching forms
 * and 32-bit atomics need it. */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct counters {
	__u64 add64;
	__u64 fetch64;
	__u64 xchg64;
	__u64 cmpxchg64;
	__u32 add32;
	__u32 fetch32;
	__u32 xchg32;
	__u32 cmpxchg32;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct counters);
	__uint(max_entries, 1);
} atom SEC(".maps");

SEC("xdp")
int xdp_atomics(struct xdp_md *ctx)
{
	__u32 key = 0;
	struct counters *c = bpf_map_lookup_elem(&atom, &key);
	__u64 old64;
	__u32 old32;

	if (!c)
		return XDP_PASS;

	/* Result unused: plain atomic add. */
	__sync_fetch_and_add(&c->add64, 1);
	__sync_fetch_and_add(&c->add32, 1);

	/* Result used: atomic fetch-add. */
	old64 = __sync_fetch_and_add(&c->fetch64, 2);
	old32 = __sync_fetch_and_add(&c->fetch32, 2);

	/* xchg: store the previous fetch results. */
	__sync_lock_test_and_set(&c->xchg64, old64);
	__sync_lock_test_and_set(&c->xchg32, old32);

	/* cmpxchg: 0 -> 1 the first time, then it keeps failing. */
	old64 = __sync_val_compare_and_swap(&c->cmpxchg64, 0, 1);
	old32 = __sync_val_compare_and_swap(&c->cmpxchg32, 0, 1);

	/* Both swaps see the same history, so this always passes. */
	return old64 == old32 ? XDP_PASS : XDP_DROP;
}

char _license[] SEC("license") = "GPL";
