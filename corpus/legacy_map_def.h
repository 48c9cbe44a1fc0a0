/* SPDX-License-Identifier: GPL-2.0 */
/* The legacy map definition of libbpf 0.x and samples/bpf: one record per map in
 * SEC("maps"). libbpf 1.x's bpf_helpers.h no longer defines it (and libbpf 1.x
 * refuses such objects), so the corpus defines it here. */
#ifndef LEGACY_MAP_DEF_H
#define LEGACY_MAP_DEF_H

struct bpf_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

#endif
