#!/bin/sh
# capture.sh: regenerates the captured ref advertisements in this directory.
# Each NAME.adv is the body git-http-backend sent; NAME.refs is what
# `git show-ref --head -d` says of the same repository (the test's oracle).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
backend=${GIT_HTTP_BACKEND:-$(git --exec-path)/git-http-backend}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=Capture GIT_AUTHOR_EMAIL=capture@example.com
export GIT_COMMITTER_NAME=Capture GIT_COMMITTER_EMAIL=capture@example.com
export GIT_AUTHOR_DATE='2024-01-02T03:04:05Z'
export GIT_COMMITTER_DATE='2024-01-02T03:04:05Z'

# capture REPO NAME SERVICE: the advertisement body, CGI headers cut off.
capture() {
	GIT_PROJECT_ROOT=$work GIT_HTTP_EXPORT_ALL=1 REMOTE_USER=capture \
	REQUEST_METHOD=GET PATH_INFO=/$1/info/refs QUERY_STRING=service=$3 \
	    "$backend" >"$work/out"
	# Headers end at the first empty line (CRLF CRLF).
	python3 -c 'import sys
d = open(sys.argv[1], "rb").read()
i = d.index(b"\r\n\r\n")
assert b"Content-Type: application/x-%s-advertisement" % sys.argv[3].encode() in d[:i]
open(sys.argv[2], "wb").write(d[i + 4:])' "$work/out" "$here/$2.adv" "$3"
	if [ "$3" = git-upload-pack ]; then
		git --git-dir="$work/$1" show-ref --head -d >"$here/$2.refs" || :
	fi
}

# commit REPO BRANCH TEXT: one commit of a file holding TEXT on BRANCH.
commit() {
	tree=$(printf '%s\n' "$3" | git --git-dir="$work/$1" hash-object -w \
	    --stdin | sed 's/^/100644 blob /; s/$/\tfile.txt/' |
	    git --git-dir="$work/$1" mktree)
	parent=$(git --git-dir="$work/$1" rev-parse -q --verify "$2" || :)
	c=$(git --git-dir="$work/$1" commit-tree "$tree" ${parent:+-p $parent} \
	    -m "$3")
	git --git-dir="$work/$1" update-ref "$2" "$c"
}

# A repository with one branch, and its receive-pack side.
git init -q --bare -b main "$work/one.git"
commit one.git refs/heads/main "first"
capture one.git one-branch git-upload-pack
capture one.git one-branch-receive git-receive-pack

# An empty repository: upload-pack sends no line, receive-pack
# "capabilities^{}".
git init -q --bare -b main "$work/empty.git"
capture empty.git empty git-upload-pack
capture empty.git empty-receive git-receive-pack

# Annotated, lightweight and nested annotated tags.
git init -q --bare -b main "$work/tags.git"
commit tags.git refs/heads/main "one"
commit tags.git refs/heads/main "two"
git --git-dir="$work/tags.git" tag -a -m "release 1.0" v1.0 main~1
git --git-dir="$work/tags.git" tag v1.1 main
git --git-dir="$work/tags.git" -c advice.nestedTag=false tag -a -m "signed-off 1.0" v1.0-ok v1.0
capture tags.git tags git-upload-pack

# HEAD names a branch that does not exist.
git init -q --bare -b main "$work/unborn.git"
commit unborn.git refs/heads/feature "feature"
commit unborn.git refs/heads/other "other"
capture unborn.git unborn-head git-upload-pack

# SHA-256 object ids.
git init -q --bare -b main --object-format=sha256 "$work/sha256.git"
commit sha256.git refs/heads/main "sha256"
git --git-dir="$work/sha256.git" tag -a -m "v1" v1 main
capture sha256.git sha256 git-upload-pack

# Many refs: 300 branches and 300 tags on one commit.
git init -q --bare -b main "$work/many.git"
commit many.git refs/heads/main "many"
c=$(git --git-dir="$work/many.git" rev-parse main)
i=0
while [ $i -lt 300 ]; do
	printf 'create refs/heads/topic/%04d %s\n' $i "$c"
	printf 'create refs/tags/build-%04d %s\n' $i "$c"
	i=$((i + 1))
done | git --git-dir="$work/many.git" update-ref --stdin
capture many.git many-refs git-upload-pack
