#!/bin/sh
# Load every corpus object into the real kernel with `bpftool prog loadall` and
# print, per program, whether it loaded, its type and the kernel's tag: the
# evidence behind the table in README.md. Root only; needs bpftool.
#
#   loadall.sh [--tsv] [X.o ...]     (default: every *.o here)
#
# Without --tsv it prints a table for people. With --tsv (read by the harness test
# harness/tests/it/kernel_tags.rs) it prints `#` comment lines (bpftool and libbpf
# versions) and then one tab-separated line per program or refused object:
#   loaded<TAB>X.o<TAB>pin name (libbpf's prog name)<TAB>kernel name<TAB>type<TAB>tag
#   rejected<TAB>X.o<TAB>first libbpf: line of bpftool's error
# When it cannot run here (not root, no bpftool, no unshare, no mount namespace,
# bpffs not mountable) it prints `loadall.sh: skipped: <reason>` on stderr and
# exits 2.
#
# It runs in a private mount namespace with a fresh bpffs under /tmp (and one on
# /sys/fs/bpf, where LIBBPF_PIN_BY_NAME pins by default: bpftool sets no pin
# root), so it touches no bpffs anyone else mounted, and removes everything after.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

skip() {
	echo "loadall.sh: skipped: $*" >&2
	exit 2
}

if [ "${BPFSIM_LOADALL_INNER:-}" != 1 ]; then
	[ "$(id -u)" = 0 ] || skip "needs root"
	command -v bpftool >/dev/null 2>&1 || skip "bpftool not installed (apt-get install bpftool)"
	command -v unshare >/dev/null 2>&1 || skip "unshare not installed (util-linux)"
	command -v python3 >/dev/null 2>&1 || skip "python3 not installed"
	if ! err=$(unshare --mount --propagation private true 2>&1); then
		skip "cannot create a mount namespace: $err"
	fi
	BPFSIM_LOADALL_INNER=1 exec unshare --mount --propagation private sh "$here/loadall.sh" "$@"
fi

tsv=0
if [ "${1:-}" = --tsv ]; then
	tsv=1
	shift
fi

bpftool version | head -n 2 | sed 's/^/# /'
root=$(mktemp -d /tmp/bpfsim_corpus_check.XXXXXX)
cleanup() {
	rm -rf "${root:?}"/* /sys/fs/bpf/pinned_counter 2>/dev/null || true
	umount /sys/fs/bpf 2>/dev/null || true
	umount "$root" 2>/dev/null || true
	rmdir "$root" 2>/dev/null || true
}
trap cleanup EXIT
if ! err=$(mount -t bpf bpf "$root" 2>&1) || ! err=$(mount -t bpf bpf /sys/fs/bpf 2>&1); then
	cleanup
	trap - EXIT
	skip "cannot mount bpffs: $err"
fi

row() {
	if [ "$tsv" = 1 ]; then
		printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@"
	else
		# object, program (the kernel's name), type, tag
		printf '%-22s %-16s %-14s %s\n' "$2" "$4" "$5" "$6"
	fi
}

[ "$tsv" = 1 ] || printf '%-22s %-16s %-14s %s\n' object program type tag
for obj in ${*:-*.o}; do
	name=${obj%.o}
	if ! err=$(bpftool prog loadall "$obj" "$root/$name" 2>&1); then
		reason=$(printf '%s\n' "$err" | grep -m1 'libbpf:' || printf '%s\n' "$err" | head -n 1)
		if [ "$tsv" = 1 ]; then
			printf 'rejected\t%s\t%s\n' "$name.o" "$reason"
		else
			printf '%-22s %-16s %-14s %s\n' "$name.o" - REJECTED "$reason"
		fi
		continue
	fi
	for pin in "$root/$name"/*; do
		bpftool -j prog show pinned "$pin" |
			python3 -c 'import json,sys; p=json.load(sys.stdin); print(p["name"], p["type"], p["tag"])' |
			while read -r prog type tag; do
				row loaded "$name.o" "${pin##*/}" "$prog" "$type" "$tag"
			done
	done
done
