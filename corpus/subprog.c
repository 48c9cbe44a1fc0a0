// SPDX-License-Identifier: GPL-2.0
/* Subprograms: a static __noinline function (a bpf-to-bpf call the loader appends
 * to the entry program) and a global function (verified on its own, from BTF),
 * both called from one socket filter. */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 4);
} stats SEC(".maps");

/* Static: only this object sees it; it touches a map, so the relocation of the
 * map reference happens inside a subprogram. */
static __noinline void bump(__u32 slot, __u64 by)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &slot);

	if (v)
		__sync_fetch_and_add(v, by);
}

/* Global: verified independently with scalar arguments. */
__noinline int clamp_len(int len)
{
	if (len > 1500)
		return 1500;
	if (len < 0)
		return 0;
	return len;
}

SEC("socket")
int sock_subprog(struct __sk_buff *skb)
{
	int len = clamp_len(skb->len);

	bump(0, 1);
	bump(1, len);
	return len;
}

char _license[] SEC("license") = "GPL";
