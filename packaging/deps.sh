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
PROMDIR=
NOSTART=

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
	# A real git server for the HTTP/2 test and the bench: nginx with
	# fcgiwrap and git-http-backend, started on loopback by the tests
	# themselves; the packages' own services are never started (below).
	gitserver)
		for t in nginx fcgiwrap; do
			[ -x "/usr/sbin/$t" ] || need=1
		done
		PKGS="$PKGS nginx-light fcgiwrap"; NOSTART=1;;
	# promtool=DIR: promtool for the alert rules' checks. Installing
	# the prometheus package would also install (and enable) a server,
	# so the binary is taken out of the package into DIR instead.
	promtool=*)
		PROMDIR=${arg#promtool=};;
	esac
done

# promtool: on PATH, or already taken out, or out of the package now.
# A machine without apt (or offline) goes without: the test says so.
take_promtool() {
	command -v promtool >/dev/null 2>&1 && return 0
	[ -x "$PROMDIR/promtool" ] && return 0
	command -v apt-get >/dev/null 2>&1 || return 0
	tmp=$(mktemp -d) || return 0
	if (cd "$tmp" && apt-get download -q prometheus >/dev/null 2>&1) &&
	    dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/x" &&
	    mkdir -p "$PROMDIR" &&
	    cp "$tmp/x/usr/bin/promtool" "$PROMDIR/promtool.tmp" &&
	    mv "$PROMDIR/promtool.tmp" "$PROMDIR/promtool"; then
		echo "deps: promtool taken out of the prometheus package" \
		    "into $PROMDIR" >&2
	else
		echo "deps: promtool not available (apt-get download" \
		    "prometheus failed); its checks will be skipped" >&2
	fi
	rm -rf "$tmp"
	return 0
}
if [ $need -eq 0 ]; then
	[ -z "$PROMDIR" ] || take_promtool
	exit 0
fi

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
# Services a package would start on install (nginx, fcgiwrap) stay
# stopped: a policy-rc.d that refuses every start, for this install only,
# unless the machine has its own.
policy=
if [ -n "$NOSTART" ] && [ ! -e /usr/sbin/policy-rc.d ]; then
	policy=/usr/sbin/policy-rc.d
	printf '#!/bin/sh\n# algopromoted deps.sh: no service starts\nexit 101\n' |
	    $SUDO tee $policy >/dev/null
	$SUDO chmod 755 $policy
	trap '$SUDO rm -f $policy' EXIT
fi
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $PKGS >&2
if [ -n "$policy" ]; then
	$SUDO rm -f $policy
	trap - EXIT
	# Installed but not started; not started at boot either.
	for unit in nginx.service fcgiwrap.socket fcgiwrap.service; do
		$SUDO systemctl disable "$unit" >/dev/null 2>&1 || true
	done
fi
[ -z "$PROMDIR" ] || take_promtool
