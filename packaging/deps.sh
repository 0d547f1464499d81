#!/bin/sh
# Installs the Debian packages that building and testing algopromoted need,
# but only when something is missing; a no-op on a ready machine.
set -eu

PKGS="build-essential pkg-config libssl-dev libevent-dev libcurl4-openssl-dev
libgit2-dev libyaml-dev libcjson-dev check git python3 curl openssl
ca-certificates btrfs-progs systemd procps"
LIBS="libevent libcurl libgit2 yaml-0.1 libcjson libcrypto check"
# mkfs.btrfs: the full-disk test's EDQUOT case (a btrfs quota).
# systemd-analyze (package systemd): test_unit's verify and security
# gates; systemd's pkg-config file also names the unit directory.
# /bin/kill (procps), which the unit's ExecReload= runs: verify checks it.
TOOLS="cc make pkg-config git python3 curl openssl mkfs.btrfs
systemd-analyze"

need=0
for t in $TOOLS; do
	command -v "$t" >/dev/null 2>&1 || need=1
done
[ -x /bin/kill ] || need=1
if [ $need -eq 0 ]; then
	for l in $LIBS; do
		pkg-config --exists "$l" 2>/dev/null || need=1
	done
fi
for arg in "$@"; do
	case "$arg" in
	lint)	for t in clang-tidy clang-format mandoc; do
			command -v "$t" >/dev/null 2>&1 || need=1
		done
		PKGS="$PKGS clang-tidy clang-format mandoc";;
	asan)	PKGS="$PKGS libclang-rt-14-dev";;
	# make fuzz: clang and its libFuzzer runtime (libclang_rt.fuzzer,
	# in libclang-rt-14-dev on Debian 12, which clang only recommends).
	fuzz)	rt=$(clang --print-runtime-dir 2>/dev/null) || need=1
		[ -e "$rt/libclang_rt.fuzzer-$(uname -m).a" ] || need=1
		PKGS="$PKGS clang libclang-rt-14-dev";;
	# gcc's ThreadSanitizer runtime. On Debian 12, gcc-12 pulls it in
	# (gcc-12 -> libgcc-12-dev -> libtsan2); checked and named anyway.
	tsan)	[ -e "$(cc -print-file-name=libtsan.so 2>/dev/null)" ] ||
			need=1
		PKGS="$PKGS libtsan2";;
	# make deb: dpkg-buildpackage, dh (debhelper-compat 13) and lintian.
	# No fakeroot: the package says Rules-Requires-Root: no.
	deb)	for t in dpkg-buildpackage dh lintian; do
			command -v "$t" >/dev/null 2>&1 || need=1
		done
		PKGS="$PKGS dpkg-dev debhelper lintian";;
	esac
done
[ $need -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
	SUDO=
elif command -v sudo >/dev/null 2>&1; then
	SUDO=sudo
else
	echo "deps: missing build dependencies and not root (no sudo):" >&2
	echo "deps: apt-get install $PKGS" | tr '\n' ' ' >&2
	echo >&2
	exit 1
fi
echo "deps: installing build dependencies with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >&2
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $PKGS >&2
