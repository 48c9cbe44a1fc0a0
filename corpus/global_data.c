// SPDX-License-Identifier: GPL-2.0
/* Global data: one variable in each of .rodata (const volatile, patched by the
 * loader before load and frozen), .data, .bss, and a string literal that clang
 * puts in .rodata.str1.1. libbpf turns each section into a one-entry ARRAY map
 * and the references into BPF_PSEUDO_MAP_VALUE + offset. */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* .rodata: packets shorter than this are dropped. */
const volatile __u32 min_len = 14;

/* .data: an initialised variable. */
__u32 last_len = 0xffffffff;

/* .bss: zero-initialised counters (two, so one sits at a non-zero offset). */
__u64 pkt_total;
__u64 short_total;

SEC("xdp")
int xdp_globals(struct xdp_md *ctx)
{
	__u32 len = ctx->data_end - ctx->data;

	pkt_total++;
	last_len = len;
	if (len < min_len) {
		short_total++;
		/* Only the first short packet logs, so the benchmark stays quiet. */
		if (short_total == 1)
			bpf_trace_printk("short packet\n", sizeof("short packet\n"));
		return XDP_DROP;
	}
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
