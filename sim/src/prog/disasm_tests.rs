//! Tests of the disassembler: the dumps a real bpftool printed, reproduced byte for byte.

use super::*;

// ---- construction helpers: the dump's opcode byte and operands -----------------------

fn i(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn::raw(code, dst, src, off, imm)
}

/// `(18) rD = map[id:ID]`.
fn map(dst: u8, id: i32) -> [Insn; 2] {
    Insn::ld_imm64_raw(dst, pseudo::MAP_FD, id, 0)
}

/// `(18) rD = map[id:ID][0]+OFF`.
fn mapv(dst: u8, id: i32, off: i32) -> [Insn; 2] {
    Insn::ld_imm64_raw(dst, pseudo::MAP_VALUE, id, off)
}

/// The verifier's inlined `array_map_lookup_elem` (8 slots, root: no index mask):
/// `r1 = map[id:ID]`, `r1 += 312`, `r0 = *(u32 *)(r2 +0)`, `if r0 >= MAX goto pc+3`,
/// `r0 <<= 3`, `r0 += r1`, `goto pc+1`, `r0 = 0`.
fn array_lookup(v: &mut Vec<Insn>, id: i32, max: i32) {
    v.extend(map(1, id));
    v.extend([
        i(0x07, 1, 0, 0, 312),
        i(0x61, 0, 2, 0, 0),
        i(0x35, 0, 0, 3, max),
        i(0x67, 0, 0, 0, 3),
        i(0x0f, 0, 1, 0, 0),
        i(0x05, 0, 0, 1, 0),
        i(0xb7, 0, 0, 0, 0),
    ]);
}

/// The BTF part of a verbatim dump (not the disassembler's business): the `sig:` lines
/// become `func_info` records and the `; line` lines `line_info` records of the next
/// instruction printed. With `linum`, the ` [file:.. line_num:.. line_col:..]` tail is
/// parsed back into the record.
fn btf_records(dump: &str) -> (Vec<FuncInfo>, Vec<LineInfo>) {
    let (mut funcs, mut lines) = (Vec::new(), Vec::new());
    let (mut pf, mut pl): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
    for l in dump.lines() {
        if let Some(rest) = l.strip_prefix("; ") {
            pl.push(rest.to_string());
        } else if let Some((idx, _)) = l.trim_start().split_once(": (") {
            let at: usize = idx.parse().unwrap();
            funcs.extend(pf.drain(..).map(|signature| FuncInfo {
                insn_off: at,
                signature,
            }));
            for text in pl.drain(..) {
                let mut li = LineInfo {
                    insn_off: at,
                    line: text.clone(),
                    ..Default::default()
                };
                if let Some((line, tail)) = text.rsplit_once(" [file:") {
                    let tail = tail.strip_suffix(']').unwrap();
                    let (file, rest) = tail.split_once(" line_num:").unwrap();
                    let (n, c) = rest.split_once(" line_col:").unwrap();
                    li = LineInfo {
                        insn_off: at,
                        line: line.to_string(),
                        file: file.to_string(),
                        line_num: n.parse().unwrap(),
                        line_col: c.parse().unwrap(),
                    };
                }
                lines.push(li);
            }
        } else if let Some(sig) = l.strip_suffix(':').filter(|_| !l.starts_with(' ')) {
            pf.push(sig.to_string());
        }
    }
    (funcs, lines)
}

fn opts_for(dump: &str) -> DisasmOpts {
    let (func_info, line_info) = btf_records(dump);
    DisasmOpts {
        func_info,
        line_info,
        ..Default::default()
    }
}

/// Both printers give the same text for these pre-v4 programs.
fn assert_dump(insns: &[Insn], opts: DisasmOpts, expected: &str) {
    for dialect in [Dialect::Linux6_18, Dialect::Bpftool7_1] {
        let o = DisasmOpts {
            dialect,
            ..opts.clone()
        };
        let got = disasm(insns, &o);
        if got != expected {
            for (n, (g, e)) in got.lines().zip(expected.lines()).enumerate() {
                assert_eq!(g, e, "{dialect:?}: line {n} differs");
            }
            assert_eq!(got, expected, "{dialect:?}");
        }
    }
}

fn one(insn: Insn) -> String {
    insn_text(&insn, None, &DisasmOpts::default())
}

fn one_71(insn: Insn) -> String {
    let o = DisasmOpts {
        dialect: Dialect::Bpftool7_1,
        ..Default::default()
    };
    insn_text(&insn, None, &o)
}

// ---- verbatim dumps: kernel-observations.md sections 1.3 and 2.4 ---------------------

const MY_PROG_PLAIN: &str = r#"int my_prog(struct bpf_sock_ops * skops):
; int my_prog(struct bpf_sock_ops *skops)
   0: (b7) r6 = 1
; __u32 key = 1;
   1: (63) *(u32 *)(r10 -4) = r6
   2: (bf) r2 = r10
; 
   3: (07) r2 += -4
; value = bpf_map_lookup_elem(&my_map, &key);
   4: (18) r1 = map[id:26]
   6: (07) r1 += 312
   7: (61) r0 = *(u32 *)(r2 +0)
   8: (35) if r0 >= 0xa goto pc+3
   9: (67) r0 <<= 3
  10: (0f) r0 += r1
  11: (05) goto pc+1
  12: (b7) r0 = 0
; if (value)
  13: (15) if r0 == 0x0 goto pc+1
; __sync_fetch_and_add(value, 1);
  14: (db) lock *(u64 *)(r0 +0) += r6
; return 1;
  15: (b7) r0 = 1
  16: (95) exit
"#;

const MY_PROG_OPCODES: &str = r#"int my_prog(struct bpf_sock_ops * skops):
; int my_prog(struct bpf_sock_ops *skops)
   0: (b7) r6 = 1
       b7 06 00 00 01 00 00 00
; __u32 key = 1;
   1: (63) *(u32 *)(r10 -4) = r6
       63 6a fc ff 00 00 00 00
   2: (bf) r2 = r10
       bf a2 00 00 00 00 00 00
; 
   3: (07) r2 += -4
       07 02 00 00 fc ff ff ff
; value = bpf_map_lookup_elem(&my_map, &key);
   4: (18) r1 = map[id:26]
       18 11 00 00 1a 00 00 00 00 00 00 00 00 00 00 00
   6: (07) r1 += 312
       07 01 00 00 38 01 00 00
   7: (61) r0 = *(u32 *)(r2 +0)
       61 20 00 00 00 00 00 00
   8: (35) if r0 >= 0xa goto pc+3
       35 00 03 00 0a 00 00 00
   9: (67) r0 <<= 3
       67 00 00 00 03 00 00 00
  10: (0f) r0 += r1
       0f 10 00 00 00 00 00 00
  11: (05) goto pc+1
       05 00 01 00 00 00 00 00
  12: (b7) r0 = 0
       b7 00 00 00 00 00 00 00
; if (value)
  13: (15) if r0 == 0x0 goto pc+1
       15 00 01 00 00 00 00 00
; __sync_fetch_and_add(value, 1);
  14: (db) lock *(u64 *)(r0 +0) += r6
       db 60 00 00 00 00 00 00
; return 1;
  15: (b7) r0 = 1
       b7 00 00 00 01 00 00 00
  16: (95) exit
       95 00 00 00 00 00 00 00
"#;

const MY_PROG_LINUM: &str = r#"int my_prog(struct bpf_sock_ops * skops):
; int my_prog(struct bpf_sock_ops *skops) [file:eval/kernel-truth/corpus/seed_btf_lookup.c line_num:14 line_col:0]
   0: (b7) r6 = 1
; __u32 key = 1; [file:eval/kernel-truth/corpus/seed_btf_lookup.c line_num:16 line_col:8]
   1: (63) *(u32 *)(r10 -4) = r6
   2: (bf) r2 = r10
;  [file:eval/kernel-truth/corpus/seed_btf_lookup.c line_num:0 line_col:0]
   3: (07) r2 += -4
; value = bpf_map_lookup_elem(&my_map, &key); [file:eval/kernel-truth/corpus/seed_btf_lookup.c line_num:19 line_col:10]
   4: (18) r1 = map[id:26]
   6: (07) r1 += 312
   7: (61) r0 = *(u32 *)(r2 +0)
   8: (35) if r0 >= 0xa goto pc+3
   9: (67) r0 <<= 3
  10: (0f) r0 += r1
  11: (05) goto pc+1
  12: (b7) r0 = 0
; if (value) [file:eval/kernel-truth/corpus/seed_btf_lookup.c line_num:20 line_col:6]
  13: (15) if r0 == 0x0 goto pc+1
; __sync_fetch_and_add(value, 1); [file:eval/kernel-truth/corpus/seed_btf_lookup.c line_num:21 line_col:3]
  14: (db) lock *(u64 *)(r0 +0) += r6
; return 1; [file:eval/kernel-truth/corpus/seed_btf_lookup.c line_num:22 line_col:2]
  15: (b7) r0 = 1
  16: (95) exit
"#;

const XDP_COUNT: &str = r#"int xdp_count(struct xdp_md * ctx):
; void *data_end = (void *)(long)ctx->data_end;
   0: (79) r2 = *(u64 *)(r1 +8)
; void *data = (void *)(long)ctx->data;
   1: (79) r1 = *(u64 *)(r1 +0)
   2: (b7) r3 = 1
; __u64 one = 1, *cnt;
   3: (7b) *(u64 *)(r10 -8) = r3
; __sync_fetch_and_add(&pkt_total, 1);
   4: (18) r4 = map[id:32][0]+0
   6: (db) lock *(u64 *)(r4 +0) += r3
; __sync_fetch_and_add(&byte_total, data_end - data);
   7: (bf) r3 = r2
   8: (1f) r3 -= r1
; __sync_fetch_and_add(&byte_total, data_end - data);
   9: (18) r4 = map[id:32][0]+8
  11: (bf) r5 = r3
  12: (db) lock *(u64 *)(r4 +0) += r5
; last_len = data_end - data;
  13: (18) r4 = map[id:33][0]+0
  15: (63) *(u32 *)(r4 +0) = r3
  16: (b7) r0 = 2
; if ((void *)(eth + 1) > data_end)
  17: (bf) r3 = r1
  18: (07) r3 += 14
; if ((void *)(eth + 1) > data_end)
  19: (2d) if r3 > r2 goto pc+32
; proto = bpf_ntohs(eth->h_proto);
  20: (71) r2 = *(u8 *)(r1 +12)
  21: (71) r1 = *(u8 *)(r1 +13)
  22: (67) r1 <<= 8
  23: (4f) r1 |= r2
  24: (dc) r1 = be16 r1
; proto = bpf_ntohs(eth->h_proto);
  25: (63) *(u32 *)(r10 -12) = r1
  26: (bf) r2 = r10
; proto = bpf_ntohs(eth->h_proto);
  27: (07) r2 += -12
; cnt = bpf_map_lookup_elem(&proto_count, &proto);
  28: (18) r1 = map[id:30]
  30: (85) call __htab_map_lookup_elem#330864
  31: (15) if r0 == 0x0 goto pc+1
  32: (07) r0 += 56
; if (cnt)
  33: (15) if r0 == 0x0 goto pc+3
  34: (b7) r1 = 1
; __sync_fetch_and_add(cnt, 1);
  35: (db) lock *(u64 *)(r0 +0) += r1
  36: (05) goto pc+8
  37: (bf) r2 = r10
; 
  38: (07) r2 += -12
  39: (bf) r3 = r10
  40: (07) r3 += -8
; bpf_map_update_elem(&proto_count, &proto, &one, BPF_NOEXIST);
  41: (18) r1 = map[id:30]
  43: (b7) r4 = 1
  44: (85) call htab_map_update_elem#343552
; if (proto == drop_proto)
  45: (18) r1 = map[id:34][0]+0
  47: (61) r1 = *(u32 *)(r1 +0)
  48: (b7) r0 = 1
; if (proto == drop_proto)
  49: (61) r2 = *(u32 *)(r10 -12)
; 
  50: (1d) if r2 == r1 goto pc+1
  51: (b7) r0 = 2
; }
  52: (95) exit
"#;

const SOCK_SUBPROG: &str = r#"int sock_subprog(struct __sk_buff * skb):
; int sock_subprog(struct __sk_buff *skb)
   0: (bf) r6 = r1
; __u64 m = mix(skb->len, skb->protocol);
   1: (69) r2 = *(u16 *)(r6 +176)
; __u64 m = mix(skb->len, skb->protocol);
   2: (61) r1 = *(u32 *)(r6 +112)
; __u64 m = mix(skb->len, skb->protocol);
   3: (85) call pc+11#bpf_prog_cf2a4efaef41db44_mix
   4: (bf) r7 = r0
; bump(0, 1);
   5: (b7) r1 = 0
   6: (b7) r2 = 1
   7: (85) call pc+12#bpf_prog_136d4e012530ae57_bump
; bump(1, m & 0xff);
   8: (57) r7 &= 255
; bump(1, m & 0xff);
   9: (b7) r1 = 1
  10: (bf) r2 = r7
  11: (85) call pc+8#bpf_prog_136d4e012530ae57_bump
; return clamp_len(skb->len);	/* bytes of packet to keep */
  12: (61) r1 = *(u32 *)(r6 +112)
  13: (85) call pc+22#bpf_prog_894e097a62db33ef_clamp_len
; return clamp_len(skb->len);	/* bytes of packet to keep */
  14: (95) exit
__u64 mix(__u64 a, __u64 b):
; static __noinline __u64 mix(__u64 a, __u64 b)
  15: (bf) r0 = r2
; return (a * 31) ^ (b >> 2);
  16: (27) r1 *= 31
; return (a * 31) ^ (b >> 2);
  17: (77) r0 >>= 2
; return (a * 31) ^ (b >> 2);
  18: (af) r0 ^= r1
; return (a * 31) ^ (b >> 2);
  19: (95) exit
void bump(__u32 idx, __u64 v):
; static __noinline void bump(__u32 idx, __u64 v)
  20: (bf) r6 = r2
  21: (63) *(u32 *)(r10 -4) = r1
  22: (bf) r2 = r10
; 
  23: (07) r2 += -4
; __u64 *p = bpf_map_lookup_elem(&stats, &idx);
  24: (18) r1 = map[id:36]
  26: (07) r1 += 312
  27: (61) r0 = *(u32 *)(r2 +0)
  28: (35) if r0 >= 0x4 goto pc+3
  29: (67) r0 <<= 3
  30: (0f) r0 += r1
  31: (05) goto pc+1
  32: (b7) r0 = 0
; if (p)
  33: (15) if r0 == 0x0 goto pc+1
; __sync_fetch_and_add(p, v);
  34: (db) lock *(u64 *)(r0 +0) += r6
; }
  35: (95) exit
int clamp_len(int len):
; __noinline int clamp_len(int len)
  36: (b7) r0 = 1500
  37: (bf) r2 = r1
  38: (67) r2 <<= 32
  39: (c7) r2 s>>= 32
; if (len > 1500)
  40: (65) if r2 s> 0x5dc goto pc+3
; 
  41: (65) if r2 s> 0x0 goto pc+1
  42: (b7) r1 = 0
  43: (bf) r0 = r1
; }
  44: (95) exit
"#;

const TC_ENTRY: &str = r#"int tc_entry(struct xdp_md * ctx):
; int tc_entry(struct xdp_md *ctx)
   0: (bf) r6 = r1
; __u32 slot = (ctx->data_end - ctx->data) > 100 ? 1 : 0;
   1: (79) r1 = *(u64 *)(r6 +0)
; __u32 slot = (ctx->data_end - ctx->data) > 100 ? 1 : 0;
   2: (79) r2 = *(u64 *)(r6 +8)
; __u32 slot = (ctx->data_end - ctx->data) > 100 ? 1 : 0;
   3: (1f) r2 -= r1
   4: (67) r2 <<= 32
   5: (77) r2 >>= 32
   6: (b7) r1 = 0
   7: (b7) r7 = 1
; __u32 slot = (ctx->data_end - ctx->data) > 100 ? 1 : 0;
   8: (25) if r2 > 0x64 goto pc+1
   9: (b7) r7 = 0
  10: (63) *(u32 *)(r10 -8) = r1
  11: (bf) r2 = r10
; 
  12: (07) r2 += -8
; __u64 *p = bpf_map_lookup_elem(&hits, &idx);
  13: (18) r1 = map[id:38]
  15: (07) r1 += 312
  16: (61) r0 = *(u32 *)(r2 +0)
  17: (35) if r0 >= 0x4 goto pc+3
  18: (67) r0 <<= 3
  19: (0f) r0 += r1
  20: (05) goto pc+1
  21: (b7) r0 = 0
; if (p)
  22: (15) if r0 == 0x0 goto pc+2
  23: (b7) r1 = 1
; __sync_fetch_and_add(p, 1);
  24: (db) lock *(u64 *)(r0 +0) += r1
; bpf_tail_call(ctx, &jmp_table, slot);
  25: (bf) r1 = r6
  26: (18) r2 = map[id:37]
  28: (bf) r3 = r7
  29: (85) call bpf_tail_call#12
  30: (b7) r1 = 3
  31: (63) *(u32 *)(r10 -4) = r1
  32: (bf) r2 = r10
  33: (07) r2 += -4
; __u64 *p = bpf_map_lookup_elem(&hits, &idx);
  34: (18) r1 = map[id:38]
  36: (07) r1 += 312
  37: (61) r0 = *(u32 *)(r2 +0)
  38: (35) if r0 >= 0x4 goto pc+3
  39: (67) r0 <<= 3
  40: (0f) r0 += r1
  41: (05) goto pc+1
  42: (b7) r0 = 0
; if (p)
  43: (15) if r0 == 0x0 goto pc+2
  44: (b7) r1 = 1
; __sync_fetch_and_add(p, 1);
  45: (db) lock *(u64 *)(r0 +0) += r1
; return XDP_PASS;	/* 2 */
  46: (b7) r0 = 2
  47: (95) exit
"#;

const XDP_MIM: &str = r#"int xdp_mim(struct xdp_md * ctx):
; __u32 okey = (ctx->data_end - ctx->data) & 2;	/* 0 or 2 */
   0: (79) r2 = *(u64 *)(r1 +0)
; __u32 okey = (ctx->data_end - ctx->data) & 2;	/* 0 or 2 */
   1: (79) r1 = *(u64 *)(r1 +8)
; __u32 okey = (ctx->data_end - ctx->data) & 2;	/* 0 or 2 */
   2: (1f) r1 -= r2
; __u32 okey = (ctx->data_end - ctx->data) & 2;	/* 0 or 2 */
   3: (57) r1 &= 2
; __u32 okey = (ctx->data_end - ctx->data) & 2;	/* 0 or 2 */
   4: (63) *(u32 *)(r10 -4) = r1
   5: (b7) r1 = 3
; __u32 ikey = 3;
   6: (63) *(u32 *)(r10 -8) = r1
   7: (bf) r2 = r10
; 
   8: (07) r2 += -4
; inner = bpf_map_lookup_elem(&outer, &okey);
   9: (18) r1 = map[id:42]
  11: (07) r1 += 312
  12: (61) r0 = *(u32 *)(r2 +0)
  13: (35) if r0 >= 0x4 goto pc+5
  14: (67) r0 <<= 3
  15: (0f) r0 += r1
  16: (79) r0 = *(u64 *)(r0 +0)
  17: (15) if r0 == 0x0 goto pc+1
  18: (05) goto pc+1
  19: (b7) r0 = 0
  20: (b7) r6 = 0
; if (!inner)
  21: (15) if r0 == 0x0 goto pc+14
  22: (bf) r2 = r10
; 
  23: (07) r2 += -8
; v = bpf_map_lookup_elem(inner, &ikey);
  24: (bf) r1 = r0
  25: (07) r1 += 312
  26: (61) r0 = *(u32 *)(r2 +0)
  27: (35) if r0 >= 0x8 goto pc+3
  28: (67) r0 <<= 3
  29: (0f) r0 += r1
  30: (05) goto pc+1
  31: (b7) r0 = 0
; if (!v)
  32: (15) if r0 == 0x0 goto pc+3
  33: (b7) r1 = 1
; __sync_fetch_and_add(v, 1);
  34: (db) lock *(u64 *)(r0 +0) += r1
  35: (b7) r6 = 2
; }
  36: (bf) r0 = r6
  37: (95) exit
"#;

const SOCK_PINNED: &str = r#"int sock_pinned(struct __sk_buff * skb):
; int sock_pinned(struct __sk_buff *skb)
   0: (bf) r6 = r1
   1: (b7) r1 = 0
; __u32 k = 0;
   2: (63) *(u32 *)(r10 -4) = r1
   3: (bf) r2 = r10
; 
   4: (07) r2 += -4
; __u64 *v = bpf_map_lookup_elem(&pinned_counter, &k);
   5: (18) r1 = map[id:43]
   7: (07) r1 += 312
   8: (61) r0 = *(u32 *)(r2 +0)
   9: (35) if r0 >= 0x1 goto pc+3
  10: (67) r0 <<= 3
  11: (0f) r0 += r1
  12: (05) goto pc+1
  13: (b7) r0 = 0
; if (v)
  14: (15) if r0 == 0x0 goto pc+2
  15: (b7) r1 = 1
; __sync_fetch_and_add(v, 1);
  16: (db) lock *(u64 *)(r0 +0) += r1
; return skb->len;
  17: (61) r0 = *(u32 *)(r6 +112)
  18: (95) exit
"#;

// ---- whole-dump reproductions ------------------------------------------------------------

/// `my_prog` of section 1.3, built from the raw bytes the `opcodes` dump shows.
fn my_prog_insns() -> Vec<Insn> {
    let mut bytes = Vec::new();
    for l in MY_PROG_OPCODES.lines().filter(|l| l.starts_with("       ")) {
        bytes.extend(
            l.split_whitespace()
                .map(|h| u8::from_str_radix(h, 16).unwrap()),
        );
    }
    decode(&bytes)
}

#[test]
fn my_prog_plain_opcodes_and_linum() {
    let insns = my_prog_insns();
    assert_eq!(insns.len(), 17);
    assert_eq!(insns[4], map(1, 26)[0]);
    assert_dump(&insns, opts_for(MY_PROG_PLAIN), MY_PROG_PLAIN);
    let opcodes = DisasmOpts {
        opcodes: true,
        ..opts_for(MY_PROG_OPCODES)
    };
    assert_dump(&insns, opcodes, MY_PROG_OPCODES);
    let linum = DisasmOpts {
        linum: true,
        ..opts_for(MY_PROG_LINUM)
    };
    assert_dump(&insns, linum, MY_PROG_LINUM);
}

#[test]
fn my_prog_from_constructors_matches_bytes() {
    let mut v = vec![
        i(0xb7, 6, 0, 0, 1),
        i(0x63, 10, 6, -4, 0),
        i(0xbf, 2, 10, 0, 0),
        i(0x07, 2, 0, 0, -4),
    ];
    array_lookup(&mut v, 26, 10);
    v.extend([
        i(0x15, 0, 0, 1, 0),
        i(0xdb, 0, 6, 0, 0),
        i(0xb7, 0, 0, 0, 1),
        i(0x95, 0, 0, 0, 0),
    ]);
    assert_eq!(v, my_prog_insns());
}

#[test]
fn xdp_count_dump() {
    let mut v = vec![
        i(0x79, 2, 1, 8, 0),
        i(0x79, 1, 1, 0, 0),
        i(0xb7, 3, 0, 0, 1),
        i(0x7b, 10, 3, -8, 0),
    ];
    v.extend(mapv(4, 32, 0));
    v.extend([
        i(0xdb, 4, 3, 0, 0),
        i(0xbf, 3, 2, 0, 0),
        i(0x1f, 3, 1, 0, 0),
    ]);
    v.extend(mapv(4, 32, 8));
    v.extend([i(0xbf, 5, 3, 0, 0), i(0xdb, 4, 5, 0, 0)]);
    v.extend(mapv(4, 33, 0));
    v.extend([
        i(0x63, 4, 3, 0, 0),
        i(0xb7, 0, 0, 0, 2),
        i(0xbf, 3, 1, 0, 0),
        i(0x07, 3, 0, 0, 14),
        i(0x2d, 3, 2, 32, 0),
        i(0x71, 2, 1, 12, 0),
        i(0x71, 1, 1, 13, 0),
        i(0x67, 1, 0, 0, 8),
        i(0x4f, 1, 2, 0, 0),
        i(0xdc, 1, 0, 0, 16),
        i(0x63, 10, 1, -12, 0),
        i(0xbf, 2, 10, 0, 0),
        i(0x07, 2, 0, 0, -12),
    ]);
    v.extend(map(1, 30));
    v.extend([
        i(0x85, 0, 0, 0, 330864),
        i(0x15, 0, 0, 1, 0),
        i(0x07, 0, 0, 0, 56),
        i(0x15, 0, 0, 3, 0),
        i(0xb7, 1, 0, 0, 1),
        i(0xdb, 0, 1, 0, 0),
        i(0x05, 0, 0, 8, 0),
        i(0xbf, 2, 10, 0, 0),
        i(0x07, 2, 0, 0, -12),
        i(0xbf, 3, 10, 0, 0),
        i(0x07, 3, 0, 0, -8),
    ]);
    v.extend(map(1, 30));
    v.extend([i(0xb7, 4, 0, 0, 1), i(0x85, 0, 0, 0, 343552)]);
    v.extend(mapv(1, 34, 0));
    v.extend([
        i(0x61, 1, 1, 0, 0),
        i(0xb7, 0, 0, 0, 1),
        i(0x61, 2, 10, -12, 0),
        i(0x1d, 2, 1, 1, 0),
        i(0xb7, 0, 0, 0, 2),
        i(0x95, 0, 0, 0, 0),
    ]);
    assert_eq!(v.len(), 53);
    let mut opts = opts_for(XDP_COUNT);
    // kallsyms, relative to `__bpf_call_base`, as on the machine that printed it.
    opts.call_syms
        .insert(330864, "__htab_map_lookup_elem".into());
    opts.call_syms.insert(343552, "htab_map_update_elem".into());
    assert_dump(&v, opts, XDP_COUNT);
}

fn sock_subprog_insns() -> Vec<Insn> {
    let mut v = vec![
        i(0xbf, 6, 1, 0, 0),
        i(0x69, 2, 6, 176, 0),
        i(0x61, 1, 6, 112, 0),
        i(0x85, 0, 1, 11, 1),
        i(0xbf, 7, 0, 0, 0),
        i(0xb7, 1, 0, 0, 0),
        i(0xb7, 2, 0, 0, 1),
        i(0x85, 0, 1, 12, 2),
        i(0x57, 7, 0, 0, 255),
        i(0xb7, 1, 0, 0, 1),
        i(0xbf, 2, 7, 0, 0),
        i(0x85, 0, 1, 8, 2),
        i(0x61, 1, 6, 112, 0),
        i(0x85, 0, 1, 22, 3),
        i(0x95, 0, 0, 0, 0),
        // mix
        i(0xbf, 0, 2, 0, 0),
        i(0x27, 1, 0, 0, 31),
        i(0x77, 0, 0, 0, 2),
        i(0xaf, 0, 1, 0, 0),
        i(0x95, 0, 0, 0, 0),
        // bump
        i(0xbf, 6, 2, 0, 0),
        i(0x63, 10, 1, -4, 0),
        i(0xbf, 2, 10, 0, 0),
        i(0x07, 2, 0, 0, -4),
    ];
    array_lookup(&mut v, 36, 4);
    v.extend([
        i(0x15, 0, 0, 1, 0),
        i(0xdb, 0, 6, 0, 0),
        i(0x95, 0, 0, 0, 0),
        // clamp_len
        i(0xb7, 0, 0, 0, 1500),
        i(0xbf, 2, 1, 0, 0),
        i(0x67, 2, 0, 0, 32),
        i(0xc7, 2, 0, 0, 32),
        i(0x65, 2, 0, 3, 1500),
        i(0x65, 2, 0, 1, 0),
        i(0xb7, 1, 0, 0, 0),
        i(0xbf, 0, 1, 0, 0),
        i(0x95, 0, 0, 0, 0),
    ]);
    v
}

fn sock_subprog_ksyms() -> Vec<String> {
    [
        "bpf_prog_859421680dda720b_sock_subprog",
        "bpf_prog_cf2a4efaef41db44_mix",
        "bpf_prog_136d4e012530ae57_bump",
        "bpf_prog_894e097a62db33ef_clamp_len",
    ]
    .map(String::from)
    .to_vec()
}

#[test]
fn sock_subprog_dump() {
    let v = sock_subprog_insns();
    assert_eq!(v.len(), 45);
    let opts = DisasmOpts {
        jited_ksyms: sock_subprog_ksyms(),
        ..opts_for(SOCK_SUBPROG)
    };
    assert_dump(&v, opts, SOCK_SUBPROG);
}

#[test]
fn sock_subprog_from_submitted_call_layout() {
    // The simulator keeps calls as submitted (offset in imm, off 0); the JIT layout
    // moves the offset to off and puts the subprogram index in imm.
    let jited = sock_subprog_insns();
    let submitted: Vec<Insn> = jited
        .iter()
        .map(|x| {
            if x.code == 0x85 && x.src == pseudo::CALL {
                Insn::call_pseudo(i32::from(x.off))
            } else {
                *x
            }
        })
        .collect();
    assert_eq!(jited_call_layout(&submitted, &[0, 15, 20, 36]), jited);
    // Without jited_ksyms (an interpreted program) only the offset shows.
    let text = disasm(&jited, &DisasmOpts::default());
    assert!(text.contains("   3: (85) call pc+11\n"), "{text}");
}

#[test]
fn tc_entry_dump() {
    let mut v = vec![
        i(0xbf, 6, 1, 0, 0),
        i(0x79, 1, 6, 0, 0),
        i(0x79, 2, 6, 8, 0),
        i(0x1f, 2, 1, 0, 0),
        i(0x67, 2, 0, 0, 32),
        i(0x77, 2, 0, 0, 32),
        i(0xb7, 1, 0, 0, 0),
        i(0xb7, 7, 0, 0, 1),
        i(0x25, 2, 0, 1, 100),
        i(0xb7, 7, 0, 0, 0),
        i(0x63, 10, 1, -8, 0),
        i(0xbf, 2, 10, 0, 0),
        i(0x07, 2, 0, 0, -8),
    ];
    array_lookup(&mut v, 38, 4);
    v.extend([
        i(0x15, 0, 0, 2, 0),
        i(0xb7, 1, 0, 0, 1),
        i(0xdb, 0, 1, 0, 0),
        i(0xbf, 1, 6, 0, 0),
    ]);
    v.extend(map(2, 37));
    v.extend([
        i(0xbf, 3, 7, 0, 0),
        Insn::call_helper(BPF_FUNC_TAIL_CALL),
        i(0xb7, 1, 0, 0, 3),
        i(0x63, 10, 1, -4, 0),
        i(0xbf, 2, 10, 0, 0),
        i(0x07, 2, 0, 0, -4),
    ]);
    array_lookup(&mut v, 38, 4);
    v.extend([
        i(0x15, 0, 0, 2, 0),
        i(0xb7, 1, 0, 0, 1),
        i(0xdb, 0, 1, 0, 0),
        i(0xb7, 0, 0, 0, 2),
        i(0x95, 0, 0, 0, 0),
    ]);
    assert_eq!(v.len(), 48);
    assert_dump(&v, opts_for(TC_ENTRY), TC_ENTRY);
}

#[test]
fn xdp_mim_dump() {
    let mut v = vec![
        i(0x79, 2, 1, 0, 0),
        i(0x79, 1, 1, 8, 0),
        i(0x1f, 1, 2, 0, 0),
        i(0x57, 1, 0, 0, 2),
        i(0x63, 10, 1, -4, 0),
        i(0xb7, 1, 0, 0, 3),
        i(0x63, 10, 1, -8, 0),
        i(0xbf, 2, 10, 0, 0),
        i(0x07, 2, 0, 0, -4),
    ];
    v.extend(map(1, 42));
    v.extend([
        i(0x07, 1, 0, 0, 312),
        i(0x61, 0, 2, 0, 0),
        i(0x35, 0, 0, 5, 4),
        i(0x67, 0, 0, 0, 3),
        i(0x0f, 0, 1, 0, 0),
        i(0x79, 0, 0, 0, 0),
        i(0x15, 0, 0, 1, 0),
        i(0x05, 0, 0, 1, 0),
        i(0xb7, 0, 0, 0, 0),
        i(0xb7, 6, 0, 0, 0),
        i(0x15, 0, 0, 14, 0),
        i(0xbf, 2, 10, 0, 0),
        i(0x07, 2, 0, 0, -8),
        i(0xbf, 1, 0, 0, 0),
        i(0x07, 1, 0, 0, 312),
        i(0x61, 0, 2, 0, 0),
        i(0x35, 0, 0, 3, 8),
        i(0x67, 0, 0, 0, 3),
        i(0x0f, 0, 1, 0, 0),
        i(0x05, 0, 0, 1, 0),
        i(0xb7, 0, 0, 0, 0),
        i(0x15, 0, 0, 3, 0),
        i(0xb7, 1, 0, 0, 1),
        i(0xdb, 0, 1, 0, 0),
        i(0xb7, 6, 0, 0, 2),
        i(0xbf, 0, 6, 0, 0),
        i(0x95, 0, 0, 0, 0),
    ]);
    assert_eq!(v.len(), 38);
    assert_dump(&v, opts_for(XDP_MIM), XDP_MIM);
}

#[test]
fn sock_pinned_dump() {
    let mut v = vec![
        i(0xbf, 6, 1, 0, 0),
        i(0xb7, 1, 0, 0, 0),
        i(0x63, 10, 1, -4, 0),
        i(0xbf, 2, 10, 0, 0),
        i(0x07, 2, 0, 0, -4),
    ];
    array_lookup(&mut v, 43, 1);
    v.extend([
        i(0x15, 0, 0, 2, 0),
        i(0xb7, 1, 0, 0, 1),
        i(0xdb, 0, 1, 0, 0),
        i(0x61, 0, 6, 112, 0),
        i(0x95, 0, 0, 0, 0),
    ]);
    assert_eq!(v.len(), 19);
    assert_dump(&v, opts_for(SOCK_PINNED), SOCK_PINNED);
}

// ---- one test per instruction family ---------------------------------------------------

#[test]
fn alu64_and_alu32() {
    assert_eq!(one(Insn::mov64_imm(6, 1)), "(b7) r6 = 1");
    assert_eq!(one(Insn::mov64_imm(1, -1)), "(b7) r1 = -1");
    assert_eq!(one(Insn::mov64_reg(2, 10)), "(bf) r2 = r10");
    assert_eq!(one(Insn::alu64_imm(BPF_ADD, 2, -12)), "(07) r2 += -12");
    assert_eq!(one(Insn::alu64_imm(BPF_AND, 7, 255)), "(57) r7 &= 255");
    assert_eq!(one(Insn::alu64_imm(BPF_ARSH, 2, 32)), "(c7) r2 s>>= 32");
    assert_eq!(one(i(0x1f, 3, 1, 0, 0)), "(1f) r3 -= r1");
    assert_eq!(one(i(0x2f, 3, 1, 0, 0)), "(2f) r3 *= r1");
    assert_eq!(one(i(0x3f, 3, 1, 0, 0)), "(3f) r3 /= r1");
    assert_eq!(one(i(0x9f, 3, 1, 0, 0)), "(9f) r3 %= r1");
    assert_eq!(one(i(0xaf, 0, 1, 0, 0)), "(af) r0 ^= r1");
    assert_eq!(one(i(0x6f, 0, 1, 0, 0)), "(6f) r0 <<= r1");
    assert_eq!(one(i(0x7f, 0, 1, 0, 0)), "(7f) r0 >>= r1");
    assert_eq!(one(i(0xcf, 0, 1, 0, 0)), "(cf) r0 s>>= r1");
    // 32-bit: w registers, immediates still signed decimal.
    assert_eq!(one(Insn::alu32_imm(BPF_MOV, 0, 2)), "(b4) w0 = 2");
    assert_eq!(one(Insn::alu32_imm(BPF_SUB, 1, -3)), "(14) w1 -= -3");
    assert_eq!(one(i(0x0c, 1, 2, 0, 0)), "(0c) w1 += w2");
    assert_eq!(one(i(0xbc, 1, 2, 0, 0)), "(bc) w1 = w2");
    assert_eq!(one(i(0x5c, 1, 2, 0, 0)), "(5c) w1 &= w2");
    // Negation (the source bit is ignored).
    assert_eq!(one(i(0x87, 3, 0, 0, 0)), "(87) r3 = -r3");
    assert_eq!(one(i(0x84, 3, 0, 0, 0)), "(84) w3 = -w3");
    assert_eq!(one(i(0x8f, 3, 5, 0, 0)), "(8f) r3 = -r3");
    // No operation 0xe0/0xf0: a hole in bpf_alu_string.
    assert_eq!(one(i(0xe7, 1, 0, 0, 5)), "(e7) r1 (null) 5");
    assert_eq!(one(i(0xfc, 1, 2, 0, 0)), "(fc) w1 (null) w2");
}

#[test]
fn signed_div_mod_and_movsx() {
    assert_eq!(one(i(0x3f, 1, 2, 1, 0)), "(3f) r1 s/= r2");
    assert_eq!(one(i(0x9f, 1, 2, 1, 0)), "(9f) r1 s%= r2");
    assert_eq!(one(i(0x37, 1, 0, 1, -7)), "(37) r1 s/= -7");
    assert_eq!(one(i(0x94, 1, 0, 1, 3)), "(94) w1 s%= 3");
    assert_eq!(one(i(0x3f, 1, 2, 2, 0)), "(3f) r1 /= r2");
    assert_eq!(one(i(0xbf, 1, 2, 8, 0)), "(bf) r1 = (s8)r2");
    assert_eq!(one(i(0xbf, 1, 2, 16, 0)), "(bf) r1 = (s16)r2");
    assert_eq!(one(i(0xbf, 1, 2, 32, 0)), "(bf) r1 = (s32)r2");
    assert_eq!(one(i(0xbc, 1, 2, 8, 0)), "(bc) w1 = (s8)w2");
    // Only 8/16/32 are movsx; an immediate mov ignores off.
    assert_eq!(one(i(0xbf, 1, 2, 24, 0)), "(bf) r1 = r2");
    assert_eq!(one(i(0xb7, 1, 0, 8, 4)), "(b7) r1 = 4");
    // Internal forms of ALU64|MOV|X.
    assert_eq!(
        one(i(0xbf, 1, 2, 1, 0x0001_0000)),
        "(bf) r1 = addr_space_cast(r2, 1, 0)"
    );
    assert_eq!(
        one(i(0xbf, 1, 2, 1, -1)),
        "(bf) r1 = addr_space_cast(r2, 65535, 65535)"
    );
    assert_eq!(
        one(i(0xbf, 1, 2, -1, 0)),
        "(bf) r1 = &(void __percpu *)(r2)"
    );
    // bpftool 7.1 knows none of these.
    assert_eq!(one_71(i(0x3f, 1, 2, 1, 0)), "(3f) r1 /= r2");
    assert_eq!(one_71(i(0xbf, 1, 2, 8, 0)), "(bf) r1 = r2");
    assert_eq!(one_71(i(0xbf, 1, 2, 1, 0)), "(bf) r1 = r2");
}

#[test]
fn endianness() {
    assert_eq!(one(i(0xdc, 1, 0, 0, 16)), "(dc) r1 = be16 r1");
    assert_eq!(one(i(0xdc, 1, 0, 0, 64)), "(dc) r1 = be64 r1");
    assert_eq!(one(i(0xd4, 2, 0, 0, 32)), "(d4) r2 = le32 r2");
    assert_eq!(one(i(0xd7, 1, 0, 0, 64)), "(d7) r1 = bswap64 r1");
    assert_eq!(one(i(0xd7, 1, 0, 0, 16)), "(d7) r1 = bswap16 r1");
    // ALU64|END|X (0xdf) is not an opcode but prints as bswap.
    assert_eq!(one(i(0xdf, 1, 0, 0, 32)), "(df) r1 = bswap32 r1");
    assert_eq!(one_71(i(0xd7, 1, 0, 0, 64)), "BUG_alu64_d7");
    assert_eq!(one_71(i(0xdc, 1, 0, 0, 16)), "(dc) r1 = be16 r1");
}

#[test]
fn loads_and_stores() {
    assert_eq!(
        one(Insn::ldx_mem(BPF_DW, 2, 1, 8)),
        "(79) r2 = *(u64 *)(r1 +8)"
    );
    assert_eq!(
        one(Insn::ldx_mem(BPF_W, 0, 2, 0)),
        "(61) r0 = *(u32 *)(r2 +0)"
    );
    assert_eq!(
        one(Insn::ldx_mem(BPF_H, 2, 6, 176)),
        "(69) r2 = *(u16 *)(r6 +176)"
    );
    assert_eq!(
        one(Insn::ldx_mem(BPF_B, 2, 1, -1)),
        "(71) r2 = *(u8 *)(r1 -1)"
    );
    assert_eq!(
        one(Insn::stx_mem(BPF_DW, 10, 3, -8)),
        "(7b) *(u64 *)(r10 -8) = r3"
    );
    assert_eq!(
        one(Insn::stx_mem(BPF_B, 1, 2, 3)),
        "(73) *(u8 *)(r1 +3) = r2"
    );
    assert_eq!(
        one(Insn::st_mem(BPF_W, 10, -4, 7)),
        "(62) *(u32 *)(r10 -4) = 7"
    );
    assert_eq!(
        one(Insn::st_mem(BPF_H, 10, -2, -1)),
        "(6a) *(u16 *)(r10 -2) = -1"
    );
    assert_eq!(
        one(Insn::st_mem(BPF_DW, 1, 0, 0)),
        "(7a) *(u64 *)(r1 +0) = 0"
    );
    // Sign-extending loads (v4).
    assert_eq!(one(i(0x91, 0, 1, 0, 0)), "(91) r0 = *(s8 *)(r1 +0)");
    assert_eq!(one(i(0x89, 0, 1, 2, 0)), "(89) r0 = *(s16 *)(r1 +2)");
    assert_eq!(one(i(0x81, 3, 1, -4, 0)), "(81) r3 = *(s32 *)(r1 -4)");
    assert_eq!(one(i(0x99, 3, 1, 0, 0)), "(99) r3 = *((null) *)(r1 +0)");
    assert_eq!(one_71(i(0x91, 0, 1, 0, 0)), "BUG_ldx_91");
    // The internal speculation barrier.
    assert_eq!(one(i(0xc2, 0, 0, 0, 0)), "(c2) nospec");
    assert_eq!(i16::MIN, -32768);
    assert_eq!(
        one(Insn::ldx_mem(BPF_DW, 1, 2, i16::MIN)),
        "(79) r1 = *(u64 *)(r2 -32768)"
    );
}

#[test]
fn atomics() {
    let a = |code: u8, imm: i32| one(i(code, 1, 2, -8, imm));
    assert_eq!(a(0xdb, 0x00), "(db) lock *(u64 *)(r1 -8) += r2");
    assert_eq!(a(0xc3, 0x00), "(c3) lock *(u32 *)(r1 -8) += r2");
    assert_eq!(a(0xdb, 0x50), "(db) lock *(u64 *)(r1 -8) &= r2");
    assert_eq!(a(0xdb, 0x40), "(db) lock *(u64 *)(r1 -8) |= r2");
    assert_eq!(a(0xc3, 0xa0), "(c3) lock *(u32 *)(r1 -8) ^= r2");
    assert_eq!(
        a(0xdb, 0x01),
        "(db) r2 = atomic64_fetch_add((u64 *)(r1 -8), r2)"
    );
    assert_eq!(
        a(0xc3, 0x51),
        "(c3) r2 = atomic_fetch_and((u32 *)(r1 -8), r2)"
    );
    assert_eq!(
        a(0xc3, 0x41),
        "(c3) r2 = atomic_fetch_or((u32 *)(r1 -8), r2)"
    );
    assert_eq!(
        a(0xdb, 0xa1),
        "(db) r2 = atomic64_fetch_xor((u64 *)(r1 -8), r2)"
    );
    assert_eq!(a(0xdb, 0xe1), "(db) r2 = atomic64_xchg((u64 *)(r1 -8), r2)");
    assert_eq!(a(0xc3, 0xe1), "(c3) r2 = atomic_xchg((u32 *)(r1 -8), r2)");
    assert_eq!(
        a(0xdb, 0xf1),
        "(db) r0 = atomic64_cmpxchg((u64 *)(r1 -8), r0, r2)"
    );
    assert_eq!(
        a(0xc3, 0xf1),
        "(c3) r0 = atomic_cmpxchg((u32 *)(r1 -8), r0, r2)"
    );
    // Load-acquire reads through src, store-release writes through dst (6.15).
    assert_eq!(a(0xd3, 0x100), "(d3) r1 = load_acquire((u8 *)(r2 -8))");
    assert_eq!(a(0xdb, 0x100), "(db) r1 = load_acquire((u64 *)(r2 -8))");
    assert_eq!(a(0xcb, 0x110), "(cb) store_release((u16 *)(r1 -8), r2)");
    assert_eq!(a(0xc3, 0x110), "(c3) store_release((u32 *)(r1 -8), r2)");
    // Anything else is a BUG line, without the opcode column.
    assert_eq!(a(0xdb, 0x10), "BUG_db");
    assert_eq!(a(0xdb, 0xe0), "BUG_db");
    assert_eq!(one_71(i(0xd3, 1, 2, 0, 0x100)), "BUG_d3");
    assert_eq!(
        one_71(i(0xdb, 1, 2, 0, 0xf1)),
        "(db) r0 = atomic64_cmpxchg((u64 *)(r1 +0), r0, r2)"
    );
}

#[test]
fn jumps() {
    assert_eq!(one(Insn::jeq_imm(1, 2, 3)), "(15) if r1 == 0x2 goto pc+3");
    assert_eq!(
        one(Insn::jmp_imm(BPF_JSGT, 2, 1500, 3)),
        "(65) if r2 s> 0x5dc goto pc+3"
    );
    assert_eq!(
        one(Insn::jmp_imm(BPF_JNE, 2, -1, -4)),
        "(55) if r2 != 0xffffffff goto pc-4"
    );
    assert_eq!(
        one(Insn::jmp_reg(BPF_JGT, 3, 2, 32)),
        "(2d) if r3 > r2 goto pc+32"
    );
    assert_eq!(
        one(Insn::jmp_reg(BPF_JSLE, 3, 2, 0)),
        "(dd) if r3 s<= r2 goto pc+0"
    );
    assert_eq!(
        one(Insn::jmp_imm(BPF_JSET, 1, 8, 1)),
        "(45) if r1 & 0x8 goto pc+1"
    );
    assert_eq!(
        one(Insn::jmp_imm(BPF_JLT, 1, 8, 1)),
        "(a5) if r1 < 0x8 goto pc+1"
    );
    assert_eq!(
        one(Insn::jmp_imm(BPF_JLE, 1, 8, 1)),
        "(b5) if r1 <= 0x8 goto pc+1"
    );
    assert_eq!(
        one(Insn::jmp_imm(BPF_JGE, 1, 8, 1)),
        "(35) if r1 >= 0x8 goto pc+1"
    );
    assert_eq!(
        one(Insn::jmp_imm(BPF_JSGE, 1, 8, 1)),
        "(75) if r1 s>= 0x8 goto pc+1"
    );
    assert_eq!(
        one(Insn::jmp_imm(BPF_JSLT, 1, 8, 1)),
        "(c5) if r1 s< 0x8 goto pc+1"
    );
    assert_eq!(
        one(Insn::jmp32_imm(BPF_JEQ, 1, 0, 1)),
        "(16) if w1 == 0x0 goto pc+1"
    );
    assert_eq!(one(i(0x1e, 1, 2, -1, 0)), "(1e) if w1 == w2 goto pc-1");
    assert_eq!(one(i(0xde, 1, 2, 5, 0)), "(de) if w1 s<= w2 goto pc+5");
    assert_eq!(one(Insn::ja(-1)), "(05) goto pc-1");
    assert_eq!(one(Insn::ja(0)), "(05) goto pc+0");
    assert_eq!(one(Insn::ja32(70000)), "(06) gotol pc+70000");
    assert_eq!(one(Insn::ja32(-2)), "(06) gotol pc-2");
    assert_eq!(one(i(0xe5, 0, 0, 3, 0)), "(e5) may_goto pc+3");
    assert_eq!(one(Insn::exit()), "(95) exit");
    // Holes and near misses: JCOND with another src, op 0xf0, JMP32|EXIT, gotox (6.19).
    assert_eq!(one(i(0xe5, 1, 1, 3, 4)), "(e5) if r1 (null) 0x4 goto pc+3");
    assert_eq!(one(i(0xf5, 1, 0, 3, 4)), "(f5) if r1 (null) 0x4 goto pc+3");
    assert_eq!(one(i(0x96, 0, 0, 0, 0)), "(96) if w0 exit 0x0 goto pc+0");
    assert_eq!(one(i(0x0d, 1, 0, 0, 0)), "(0d) if r1 jmp r0 goto pc+0");
    assert_eq!(one_71(Insn::ja32(5)), "(06) if w0 jmp 0x5 goto pc+0");
    assert_eq!(
        one_71(i(0xe5, 0, 0, 3, 0)),
        "(e5) if r0 (null) 0x0 goto pc+3"
    );
}

#[test]
fn ld_imm64_forms() {
    let o = DisasmOpts::default();
    let t = |p: [Insn; 2]| insn_text(&p[0], Some(&p[1]), &o);
    assert_eq!(t(Insn::ld_imm64(1, 0x1234)), "(18) r1 = 0x1234");
    assert_eq!(t(Insn::ld_imm64(1, 0)), "(18) r1 = 0x0");
    assert_eq!(
        t(Insn::ld_imm64(2, 0xdead_beef_0000_0001)),
        "(18) r2 = 0xdeadbeef00000001"
    );
    assert_eq!(
        t(Insn::ld_imm64(2, u64::MAX)),
        "(18) r2 = 0xffffffffffffffff"
    );
    assert_eq!(t(map(1, 26)), "(18) r1 = map[id:26]");
    assert_eq!(t(mapv(1, 32, 4)), "(18) r1 = map[id:32][0]+4");
    assert_eq!(t(mapv(1, 32, -4)), "(18) r1 = map[id:32][0]+-4");
    assert_eq!(
        t(Insn::ld_imm64_raw(1, pseudo::MAP_IDX_VALUE, 2, 16)),
        "(18) r1 = map[idx:2]+16"
    );
    assert_eq!(t(Insn::ld_func(3, 7)), "(18) r3 = subprog[+7]");
    assert_eq!(t(Insn::ld_func(3, -9)), "(18) r3 = subprog[-9]");
    // BTF_ID and MAP_IDX show the raw 64-bit value.
    assert_eq!(
        t(Insn::ld_imm64_raw(
            4,
            pseudo::BTF_ID,
            0x1000,
            0xffff_ffffu32 as i32
        )),
        "(18) r4 = 0xffffffff00001000"
    );
    assert_eq!(
        t(Insn::ld_imm64_raw(4, pseudo::MAP_IDX, 3, 0)),
        "(18) r4 = 0x3"
    );
    // bpftool 7.1 printed map ids and offsets as %u.
    let o71 = DisasmOpts {
        dialect: Dialect::Bpftool7_1,
        ..Default::default()
    };
    let p = mapv(1, 32, -4);
    assert_eq!(
        insn_text(&p[0], Some(&p[1]), &o71),
        "(18) r1 = map[id:32][0]+4294967292"
    );
    // No second half: treated as 0, and the dump does not panic.
    assert_eq!(insn_text(&map(1, 5)[0], None, &o), "(18) r1 = map[id:5]");
    let text = disasm(
        &[Insn::ld_imm64(1, 7)[0]],
        &DisasmOpts {
            opcodes: true,
            ..Default::default()
        },
    );
    assert_eq!(
        text,
        "   0: (18) r1 = 0x7\n       18 01 00 00 07 00 00 00\n"
    );
}

#[test]
fn calls() {
    assert_eq!(one(Insn::call_helper(1)), "(85) call bpf_map_lookup_elem#1");
    assert_eq!(one(Insn::call_helper(12)), "(85) call bpf_tail_call#12");
    assert_eq!(one(Insn::call_helper(0)), "(85) call bpf_unspec#0");
    assert_eq!(one(Insn::call_helper(6)), "(85) call bpf_trace_printk#6");
    assert_eq!(
        one(Insn::call_helper(130)),
        "(85) call bpf_ringbuf_output#130"
    );
    assert_eq!(
        one(Insn::call_helper(209)),
        "(85) call bpf_user_ringbuf_drain#209"
    );
    assert_eq!(
        one(Insn::call_helper(211)),
        "(85) call bpf_cgrp_storage_delete#211"
    );
    // Past the table: resolved through kallsyms, else the address.
    assert_eq!(one(Insn::call_helper(212)), "(85) call 0xd4#212");
    assert_eq!(
        one(Insn::call_helper(-16)),
        "(85) call 0xfffffffffffffff0#-16"
    );
    assert_eq!(one_71(Insn::call_helper(210)), "(85) call 0xd2#210");
    let mut o = DisasmOpts {
        call_base: 0xffff_ffff_8100_0000,
        ..Default::default()
    };
    o.call_syms.insert(330864, "__htab_map_lookup_elem".into());
    assert_eq!(
        insn_text(&Insn::call_helper(330864), None, &o),
        "(85) call __htab_map_lookup_elem#330864"
    );
    assert_eq!(
        insn_text(&Insn::call_helper(0x100), None, &o),
        "(85) call 0xffffffff81000100#256"
    );
    // A kfunc never takes the helper table, even with a small imm.
    assert_eq!(
        insn_text(&Insn::call_kfunc(1, 0), None, &o),
        "(85) call 0xffffffff81000001#1"
    );
    // bpf-to-bpf: interpreted shows the offset, JITed the symbol of subprog `imm`.
    assert_eq!(one(i(0x85, 0, 1, 11, 1)), "(85) call pc+11");
    assert_eq!(one(i(0x85, 0, 1, -20, 0)), "(85) call pc-20");
    let j = DisasmOpts {
        jited_ksyms: sock_subprog_ksyms(),
        ..o.clone()
    };
    assert_eq!(
        insn_text(&i(0x85, 0, 1, 12, 2), None, &j),
        "(85) call pc+12#bpf_prog_136d4e012530ae57_bump"
    );
    assert_eq!(
        insn_text(&i(0x85, 0, 1, 12, 9), None, &j),
        "(85) call pc+12#0xffffffff81000009"
    );
    // JMP32|CALL is not an opcode but prints as a call.
    assert_eq!(one(i(0x86, 0, 0, 0, 5)), "(86) call bpf_ktime_get_ns#5");
    assert_eq!(helper_name(2), Some("bpf_map_update_elem"));
    assert_eq!(helper_name(212), None);
    assert_eq!(helper_name(-1), None);
}

#[test]
fn legacy_packet_loads() {
    assert_eq!(one(i(0x30, 0, 0, 0, 12)), "(30) r0 = *(u8 *)skb[12]");
    assert_eq!(one(i(0x28, 0, 0, 0, 12)), "(28) r0 = *(u16 *)skb[12]");
    assert_eq!(one(i(0x20, 0, 0, 0, -1)), "(20) r0 = *(u32 *)skb[-1]");
    assert_eq!(one(i(0x50, 0, 7, 0, 14)), "(50) r0 = *(u8 *)skb[r7 + 14]");
    assert_eq!(one(i(0x40, 0, 7, 0, -2)), "(40) r0 = *(u32 *)skb[r7 + -2]");
}

#[test]
fn undecodable_instructions() {
    assert_eq!(one(i(0x00, 0, 0, 0, 0)), "BUG_ld_00");
    assert_eq!(one(i(0x60, 1, 2, 0, 0)), "BUG_ld_60");
    assert_eq!(one(i(0x21, 1, 2, 0, 0)), "BUG_ldx_21");
    assert_eq!(one(i(0xe1, 1, 2, 0, 0)), "BUG_ldx_e1");
    assert_eq!(one(i(0x22, 1, 0, 0, 0)), "BUG_st_22");
    assert_eq!(one(i(0x23, 1, 2, 0, 0)), "BUG_23");
    assert_eq!(one(i(0x83, 1, 2, 0, 0)), "BUG_83");
    let text = disasm(
        &[i(0xff, 15, 15, -1, -1), Insn::exit()],
        &DisasmOpts::default(),
    );
    assert_eq!(text, "   0: (ff) r15 (null) r15\n   1: (95) exit\n");
    let text = disasm(&[i(0x23, 1, 2, 0, 0)], &DisasmOpts::default());
    assert_eq!(text, "   0: BUG_23\n");
}

// ---- the dump around the instructions ------------------------------------------------------

#[test]
fn index_column_width() {
    let prog = vec![Insn::ja(0); 10_001];
    let modern = disasm(&prog, &DisasmOpts::default());
    let old = disasm(
        &prog,
        &DisasmOpts {
            dialect: Dialect::Bpftool7_1,
            ..Default::default()
        },
    );
    let line = |t: &str, n: usize| t.lines().nth(n).unwrap().to_string();
    assert_eq!(line(&modern, 7), "   7: (05) goto pc+0");
    assert_eq!(line(&old, 7), "   7: (05) goto pc+0");
    assert_eq!(line(&modern, 999), " 999: (05) goto pc+0");
    assert_eq!(line(&old, 999), " 999: (05) goto pc+0");
    assert_eq!(line(&modern, 1000), "1000: (05) goto pc+0");
    assert_eq!(line(&old, 1000), " 1000: (05) goto pc+0");
    assert_eq!(line(&modern, 10_000), "10000: (05) goto pc+0");
}

#[test]
fn line_info_lookup_follows_libbpf() {
    let li = |insn_off: usize, line: &str| LineInfo {
        insn_off,
        line: line.into(),
        ..Default::default()
    };
    let prog = [
        Insn::mov64_imm(0, 0),
        Insn::ld_imm64(1, 1)[0],
        Insn::ld_imm64(1, 1)[1],
        Insn::mov64_imm(0, 3),
        Insn::exit(),
    ];
    // A record on the second half of an ld_imm64 shows at the next printed insn; two
    // records passed at once print the later one, and the earlier then shows again.
    let opts = DisasmOpts {
        line_info: vec![li(0, "\t  a"), li(2, "b"), li(3, "c")],
        func_info: vec![
            FuncInfo {
                insn_off: 0,
                signature: "int f(void)".into(),
            },
            FuncInfo {
                insn_off: 3,
                signature: String::new(),
            },
        ],
        ..Default::default()
    };
    assert_eq!(
        disasm(&prog, &opts),
        "int f(void):\n; a\n   0: (b7) r0 = 0\n   1: (18) r1 = 0x1\n\
         ; c\n   3: (b7) r0 = 3\n; c\n   4: (95) exit\n"
    );
}

#[test]
fn random_bytes_never_panic() {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) as u32
    };
    for p in 0..10_000 {
        let n = (next() % 24) as usize;
        let mut bytes = Vec::with_capacity(n * 8);
        for _ in 0..n * 8 {
            bytes.push(next() as u8);
        }
        let mut insns = decode(&bytes);
        // Bias towards interesting codes and out-of-range fields.
        if let Some(first) = insns.first_mut() {
            first.code = [0x18, 0x85, 0xdb, 0xbf, 0x99, 0xe5][p % 6];
            first.src = (next() % 20) as u8;
            first.dst = (next() % 20) as u8;
        }
        let mut o = DisasmOpts {
            opcodes: p % 2 == 0,
            linum: p % 3 == 0,
            dialect: if p % 5 == 0 {
                Dialect::Bpftool7_1
            } else {
                Dialect::Linux6_18
            },
            call_base: u64::from(next()) << 32,
            ..Default::default()
        };
        if p % 7 == 0 {
            o.jited_ksyms = vec!["bpf_prog_x_y".into(); 3];
            o.line_info = (0..n)
                .map(|k| LineInfo {
                    insn_off: (next() % 30) as usize + k,
                    line: "x".into(),
                    ..Default::default()
                })
                .collect();
            o.func_info = vec![FuncInfo {
                insn_off: (next() % 4) as usize,
                signature: "void f(void)".into(),
            }];
        }
        let text = disasm(&insns, &o);
        let printed = text.lines().filter(|l| l.contains(": ")).count();
        assert!(printed <= n + o.line_info.len() + o.func_info.len());
    }
}
