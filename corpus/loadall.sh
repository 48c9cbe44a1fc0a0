#!/bin/sh
# Load every corpus object into the real kernel with `bpftool prog loadall` and
# print, per program, whether it loaded, its type and the kernel's tag: the
# evidence behind the table in README.md. Root only; needs bpftool.
#
# It runs in a private mount namespace with a fresh bpffs under /tmp (and one on
# /sys/fs/bpf, where LIBBPF_PIN_BY_NAME pins by default: bpftool sets no pin
# root), so it touches no bpffs anyone else mounted, and removes everything after.
set -eu

cd "$(dirname "$0")"

if [ "${BPFSIM_LOADALL_INNER:-}" != 1 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "loadall.sh: skipped: needs root" >&2
		exit 2
	fi
	if ! command -v bpftool >/dev/null 2>&1; then
		echo "loadall.sh: skipped: bpftool not installed (apt-get install bpftool)" >&2
		exit 2
	fi
	BPFSIM_LOADALL_INNER=1 exec unshare --mount --propagation private sh "$0" "$@"
fi

bpftool version | head -n 2 | sed 's/^/# /'
root=$(mktemp -d /tmp/bpfsim_corpus_check.XXXXXX)
mount -t bpf bpf "$root"
mount -t bpf bpf /sys/fs/bpf
cleanup() {
	rm -rf "${root:?}"/* /sys/fs/bpf/pinned_counter 2>/dev/null || true
	umount /sys/fs/bpf 2>/dev/null || true
	umount "$root" 2>/dev/null || true
	rmdir "$root" 2>/dev/null || true
}
trap cleanup EXIT

printf '%-22s %-16s %-14s %s\n' object program type tag
for obj in ${*:-*.o}; do
	name=${obj%.o}
	if ! err=$(bpftool prog loadall "$obj" "$root/$name" 2>&1); then
		reason=$(printf '%s\n' "$err" | grep -m1 'libbpf:' || printf '%s\n' "$err" | head -n 1)
		printf '%-22s %-16s %-14s %s\n' "$name.o" - REJECTED "$reason"
		continue
	fi
	for pin in "$root/$name"/*; do
		bpftool -j prog show pinned "$pin" |
			python3 -c 'import json,sys; p=json.load(sys.stdin); print(p["name"], p["type"], p["tag"])' |
			while read -r prog type tag; do
				printf '%-22s %-16s %-14s %s\n' "$name.o" "$prog" "$type" "$tag"
			done
	done
done
