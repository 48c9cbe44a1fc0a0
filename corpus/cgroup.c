// SPDX-License-Identifier: GPL-2.0
/* Two cgroup program types in one object, sharing a map: cgroup_skb/ingress
 * (BPF_PROG_TYPE_CGROUP_SKB, attach BPF_CGROUP_INET_INGRESS) and
 * cgroup/sock_create (BPF_PROG_TYPE_CGROUP_SOCK, attach
 * BPF_CGROUP_INET_SOCK_CREATE). Both allow everything and count. */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 2);
} cg_counts SEC(".maps");

static __always_inline void count(__u32 slot, __u64 by)
{
	__u64 *v = bpf_map_lookup_elem(&cg_counts, &slot);

	if (v)
		__sync_fetch_and_add(v, by);
}

SEC("cgroup_skb/ingress")
int cg_ingress(struct __sk_buff *skb)
{
	count(0, skb->len);
	return 1;
}

SEC("cgroup/sock_create")
int cg_sock_create(struct bpf_sock *sk)
{
	/* Count only IPv4/IPv6 stream sockets. */
	if (sk->type == 1 /* SOCK_STREAM */)
		count(1, 1);
	return 1;
}

char _license[] SEC("license") = "GPL";
