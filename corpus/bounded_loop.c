// SPDX-License-Identifier: GPL-2.0
/* A bounded loop the verifier proves terminates: 100 iterations over an array in
 * a map value. Unrolling is disabled so the object really contains a back edge. */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct samples {
	__u32 v[100];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct samples);
	__uint(max_entries, 1);
} table SEC(".maps");

SEC("socket")
int sock_loop100(struct __sk_buff *skb)
{
	__u32 key = 0, i;
	__u64 sum = 0;
	struct samples *s = bpf_map_lookup_elem(&table, &key);

	if (!s)
		return 0;
#pragma clang loop unroll(disable)
	for (i = 0; i < 100; i++)
		sum += s->v[i];
	/* Keep the whole packet unless the samples add up to zero. */
	return sum ? skb->len : 0;
}

char _license[] SEC("license") = "GPL";
