// SPDX-License-Identifier: GPL-2.0
/* Instructions new in cpu v4, built with -mcpu=v4: sign-extending loads
 * (BPF_MEMSX), sign-extending moves (movsx), signed division and modulo
 * (sdiv/smod) and unconditional byte swaps (BPF_ALU64 | BPF_END). */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct v4_data {
	__s8 s8;
	__s8 pad8;
	__s16 s16;
	__s32 s32;
	__s64 divisor;
	__s64 modulus;
	__s64 out_sum;
	__s64 out_div;
	__s64 out_mod;
	__u64 out_swap;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct v4_data);
	__uint(max_entries, 1);
} v4 SEC(".maps");

SEC("xdp")
int xdp_cpu_v4(struct xdp_md *ctx)
{
	__u32 key = 0;
	struct v4_data *d = bpf_map_lookup_elem(&v4, &key);
	__s64 sum, div;
	__s32 narrow;

	if (!d)
		return XDP_PASS;

	/* ldsx: 8/16/32-bit loads sign-extended into 64 bits. */
	sum = (__s64)d->s8 + (__s64)d->s16 + (__s64)d->s32;
	/* movsx: truncate then sign-extend a register. */
	narrow = (__s32)(__s8)(ctx->data_end - ctx->data);
	sum += narrow;
	d->out_sum = sum;

	/* sdiv/smod: operands from the map, so nothing folds; the kernel defines
	 * division by zero (the quotient is 0, the remainder the dividend). Two
	 * different divisors, or clang derives the remainder from the quotient. */
	div = d->divisor;
	d->out_div = sum / div;
	d->out_mod = sum % d->modulus;

	/* bswap: v4's unconditional byte swap. */
	d->out_swap = __builtin_bswap64(d->out_swap) ^ __builtin_bswap32((__u32)sum) ^
		      __builtin_bswap16((__u16)sum);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
