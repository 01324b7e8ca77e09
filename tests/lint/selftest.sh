#!/bin/bash
# SPDX-License-Identifier: MIT
# Each lint of tests/lint/ must pass the tree and fail, naming the line,
# on a scratch copy with one thing broken of each kind it checks.
#
# usage: selftest.sh SOURCE_DIR
set -euo pipefail
src=$(cd "${1:?usage: $0 SOURCE_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# expect_fail LINT TREE WANT...: LINT fails on TREE, saying every WANT.
expect_fail()
{
	local lint=$1 tree=$2 out
	shift 2
	if out=$(bash "$here/$lint" "$tree" 2>&1); then
		echo "$lint passed a broken tree" >&2
		exit 1
	fi
	for want in "$@"; do
		grep -q -- "$want" <<<"$out" || { echo "$lint: missing \"$want\" in: $out" >&2; exit 1; }
	done
	echo "$lint: fails as it should"
}

fresh_copy()
{
	rm -rf "$tmp/tree" && mkdir "$tmp/tree"
	for p in README.md docs include vmem core backends guest tools tests bench examples cmake scripts; do
		cp -r "$src/$p" "$tmp/tree/"
	done
	for lint in table_readers.sh architecture_map.sh core_layers.sh logs_kept.sh; do
		bash "$here/$lint" "$tmp/tree" >/dev/null
	done
}

fresh_copy
echo 'static int f(const struct nub_hv *hv) { return hv->ops->caps; }' >>"$tmp/tree/core/backend/hv.c"
bash "$here/table_readers.sh" "$tmp/tree" >/dev/null # hv.c may read its tables
echo 'static const char *g(struct nub_backend *b) { return nub_backend_ops(b)->name; }' \
	>>"$tmp/tree/core/run/run.c"
expect_fail table_readers.sh "$tmp/tree" \
	"core/run/run.c:[0-9]*:.*reads a backend's table outside core/backend/hv.c"

fresh_copy
touch "$tmp/tree/core/run/unmapped.c"
rm "$tmp/tree/core/run/log.c"
echo 'See `core/image/gone.c`.' >>"$tmp/tree/docs/security.md"
expect_fail architecture_map.sh "$tmp/tree" \
	"core/run/unmapped.c is not in the map" \
	"the map names core/run/log.c, which does not exist" \
	"docs/security.md:[0-9]*: names core/image/gone.c, which does not exist"

fresh_copy
echo '#include "sandbox/sandbox_internal.h"' >>"$tmp/tree/core/memory/gbuf.c"
echo '#include "image/snapshot.h"' >>"$tmp/tree/core/backend/hv.c"
mkdir "$tmp/tree/core/misc" && echo '#include "run/run.h"' >"$tmp/tree/core/misc/m.c"
expect_fail core_layers.sh "$tmp/tree" \
	'core/memory/gbuf.c:[0-9]*: memory/ (floor 0) includes "sandbox/sandbox_internal.h"' \
	'core/backend/hv.c:[0-9]*: backend/ (floor 2) includes "image/snapshot.h"' \
	'core/misc/: a folder with no floor'

fresh_copy
echo 'demo: ./nub run x | tee /dev/stderr | grep -q ok' >>"$tmp/tree/tests/nested-kvm/suites.txt"
echo 'echo done > /dev/stderr' >>"$tmp/tree/scripts/demo.sh"
expect_fail logs_kept.sh "$tmp/tree" \
	"tests/nested-kvm/suites.txt:[0-9]*:.*truncates the caller's output" \
	"scripts/demo.sh:[0-9]*:.*truncates the caller's output"
