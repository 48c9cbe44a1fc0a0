// SPDX-License-Identifier: GPL-2.0
/* Benchmark anchor: a 1000-iteration loop of ALU work seeded from the packet
 * length, not unrolled, so an interpreter runs a few thousand instructions. */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_loop1000(struct xdp_md *ctx)
{
	/* 64-bit so clang emits a plain counted loop without zero-extension noise. */
	__u64 acc = ctx->data_end - ctx->data;
	__u64 i;

#pragma clang loop unroll(disable)
	for (i = 0; i < 1000; i++)
		acc = acc * 31 + i;
	/* Depend on acc so the loop is not dead code; both outcomes pass. */
	return acc == 0xdeadbeef ? XDP_DROP : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
