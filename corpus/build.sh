#!/bin/sh
# Rebuild every corpus object from its C source with the pinned compiler.
#
#   corpus/build.sh           rebuild all X.o next to X.c
#   corpus/build.sh --check   rebuild into a temp dir and compare with the committed .o
#
# Only maintainers changing a source need this; tests use the committed objects.
# Requires: clang-19 1:19.1.7 (Debian 12: apt-get install clang-19), libbpf-dev 1.1
# (<bpf/bpf_helpers.h>), linux-libc-dev (<linux/bpf.h>).
set -eu

PINNED=19.1.7
CLANG=${CLANG:-clang-19}

# Build from the corpus directory with relative file names, and map the directory
# to ".", so DWARF/BTF carry no checkout path and the bytes depend on the sources only.
cd "$(dirname "$0")"
here=$(pwd -P)

if ! command -v "$CLANG" >/dev/null 2>&1; then
	echo "build.sh: $CLANG not found; install it with: apt-get install clang-19" >&2
	exit 1
fi
version_line=$("$CLANG" --version | head -n 1)
echo "compiler: $version_line"
case "$version_line" in
*"clang version $PINNED "* | *"clang version $PINNED") ;;
*)
	echo "build.sh: need clang $PINNED (Debian clang-19 1:19.1.7-3~deb12u1), got: $version_line" >&2
	exit 1
	;;
esac

# The headers feed the BTF (struct bpf_sock_ops, struct xdp_md, ...), so their
# versions matter for the bytes too. A different version is allowed but announced:
# `./build.sh --check` then tells whether anything actually changed.
for pin in libbpf-dev=1:1.1.2-0+deb12u1 linux-libc-dev=6.1.192-2; do
	pkg=${pin%%=*}
	want=${pin#*=}
	have=$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null || echo "not installed")
	echo "headers:  $pkg $have"
	if [ "$have" != "$want" ]; then
		echo "build.sh: warning: objects were built with $pkg $want; bytes may differ" >&2
	fi
done

# Per-object CPU: the default (clang 19: v1) unless the object is about newer insns.
cpu_flags() {
	case "$1" in
	atomics) echo "-mcpu=v3" ;; # fetching atomics, xchg, cmpxchg, 32-bit atomics
	cpu_v4) echo "-mcpu=v4" ;;  # ldsx, movsx, sdiv/smod, bswap
	*) echo "" ;;
	esac
}

out_dir=.
if [ "${1:-}" = "--check" ]; then
	out_dir=$(mktemp -d)
	trap 'rm -rf "$out_dir"' EXIT
fi

status=0
for src in *.c; do
	name=${src%.c}
	# shellcheck disable=SC2046 # cpu_flags is empty or one word
	"$CLANG" -O2 -g -target bpf $(cpu_flags "$name") \
		-I/usr/include/x86_64-linux-gnu \
		-fdebug-compilation-dir=. -ffile-prefix-map="$here"=. \
		-Wall -Werror \
		-c "$src" -o "$out_dir/$name.o"
	if [ "$out_dir" != . ]; then
		if cmp -s "$out_dir/$name.o" "$name.o"; then
			echo "same    $name.o"
		else
			echo "DIFFERS $name.o"
			status=1
		fi
	else
		echo "built   $name.o ($(wc -c <"$name.o") bytes)"
	fi
done
exit $status
