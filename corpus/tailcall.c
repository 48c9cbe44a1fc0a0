// SPDX-License-Identifier: GPL-2.0
/* Tail calls: three tc programs in one object and a PROG_ARRAY whose slot 0 is
 * filled by a .values initializer; libbpf writes the slot after every program has
 * loaded. Slot 1 stays empty, so that tail call falls through. */
#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 4);
} hits SEC(".maps");

static __always_inline void hit(__u32 slot)
{
	__u64 *v = bpf_map_lookup_elem(&hits, &slot);

	if (v)
		__sync_fetch_and_add(v, 1);
}

SEC("tc")
int tail_target0(struct __sk_buff *skb)
{
	hit(1);
	return TC_ACT_SHOT;
}

SEC("tc")
int tail_target1(struct __sk_buff *skb)
{
	hit(2);
	return TC_ACT_OK;
}

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__uint(key_size, sizeof(__u32));
	__array(values, int (struct __sk_buff *));
} jmp_table SEC(".maps") = {
	.values = {
		[0] = (void *)&tail_target0,
	},
};

SEC("tc")
int tail_entry(struct __sk_buff *skb)
{
	hit(0);
	/* Slot 0 is initialised: on success this never returns. */
	bpf_tail_call(skb, &jmp_table, 0);
	/* Slot 1 is empty: bpf_tail_call returns and we carry on. */
	bpf_tail_call(skb, &jmp_table, 1);
	hit(3);
	return TC_ACT_OK;
}

char _license[] SEC("license") = "GPL";
