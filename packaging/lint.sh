#!/bin/sh
# make lint: banned functions, then clang-tidy over every C file.
# Exits non-zero on the first class of problems found.
set -eu
cd "$(dirname "$0")/.."

status=0
files=$(ls common/*.c daemon/*.c)

# Functions with a safer twin in this tree: snprintf/xasprintf,
# strlcpy-style copies, strtonum-style parsing, fork+exec.
banned='\<(sprintf|vsprintf|strcpy|strcat|strncat|atoi|atol|atoll|gets|system|strtok|tmpnam|mktemp)[[:space:]]*\('
if grep -nE "$banned" $files tests/unit/*.c tests/fakes/*.c; then
	echo "lint: banned function used (see above)" >&2
	status=1
fi

# Secrets reach logs only through log.c, which redacts: nothing else
# may write to stderr directly from the daemon's library code.
if grep -nE '\<(fprintf|fputs)[[:space:]]*\([[:space:]]*stderr' \
    $(ls common/*.c daemon/*.c | grep -v -e algopromoted.c \
    -e algopromotectl.c); then
	echo "lint: library code writes to stderr around the logger" >&2
	status=1
fi

# The man pages: mandoc's warnings are errors here.
if ! mandoc -T lint -W warning daemon/*.8 config/*.5; then
	echo "lint: man page problems (see above)" >&2
	status=1
fi

out=$(mktemp)
trap 'rm -f "$out"' EXIT
cflags="-std=gnu11 -D_GNU_SOURCE -DAP_VERSION=\"lint\" -Icommon -Idaemon \
    $(pkg-config --cflags libevent libcurl libgit2 yaml-0.1 libcjson libcrypto)"
# shellcheck disable=SC2086
if ! clang-tidy --quiet $files -- $cflags 2>/dev/null >"$out"; then
	grep -E 'warning:|error:' "$out" >&2 || cat "$out" >&2
	echo "lint: clang-tidy found problems" >&2
	status=1
fi
[ $status -eq 0 ] && echo "lint: OK ($(echo $files | wc -w) files)"
exit $status
