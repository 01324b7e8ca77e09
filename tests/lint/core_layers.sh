#!/bin/bash
# SPDX-License-Identifier: MIT
# core/'s floors point down (docs/architecture.md, Layers): a file in
# core/<floor>/ includes headers of its own folder and of lower floors
# only. error_internal.h and vmem.h are the ground floor, below them all.
#
# usage: core_layers.sh SOURCE_DIR
set -euo pipefail
cd "${1:?usage: $0 SOURCE_DIR}"

declare -A floor=([memory]=0 [x86]=1 [image]=2 [backend]=2 [debug]=3 [run]=4 [sandbox]=5)
bad=0
for dir in core/*/; do
	d=$(basename "$dir")
	[ -n "${floor[$d]+x}" ] || { echo "core/$d/: a folder with no floor (add it to $0)" >&2; bad=1; continue; }
	while IFS=: read -r file line inc; do
		e=${inc%%/*}
		if [ -z "${floor[$e]+x}" ]; then
			echo "$file:$line: includes \"$inc\" from no known floor" >&2
			bad=1
		elif [ "$e" != "$d" ] && [ "${floor[$e]}" -ge "${floor[$d]}" ]; then
			echo "$file:$line: $d/ (floor ${floor[$d]}) includes \"$inc\" ($e/, floor ${floor[$e]})" >&2
			bad=1
		fi
	done < <(grep -HnoE '^#include "[a-z0-9_]+/[^"]+"' "$dir"*.[ch] |
		sed -E 's/#include "([^"]+)"/\1/')
done
[ "$bad" = 0 ] || exit 1
echo "core/'s includes point down: memory < x86 < image, backend < debug < run < sandbox"
