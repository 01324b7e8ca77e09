#!/bin/bash
# SPDX-License-Identifier: MIT
# The lint must fail on a read of a table outside hv.c and pass on hv.c's
# own reads: run it on a scratch tree holding one of each.
set -euo pipefail
lint="$(dirname "$0")/table_readers.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/core/backend" "$tmp/core/run"
printf 'int f(const struct nub_hv *hv) { return hv->ops->caps; }\n' >"$tmp/core/backend/hv.c"
bash "$lint" "$tmp" >/dev/null
printf 'const char *g(struct nub_backend *b) { return nub_backend_ops(b)->name; }\n' \
	>"$tmp/core/run/run.c"
if out=$(bash "$lint" "$tmp" 2>&1); then
	echo "lint passed a read in core/run/run.c" >&2
	exit 1
fi
grep -q "core/run/run.c:1:.*reads a backend's table outside core/backend/hv.c" <<<"$out" || {
	echo "lint failed without naming the line: $out" >&2
	exit 1
}
echo "table_readers.sh names a read outside hv.c and passes hv.c's own"
