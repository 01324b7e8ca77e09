#!/bin/bash
# SPDX-License-Identifier: MIT
# Only core/backend/hv.c reads a backend's table (struct nub_backend_ops):
# the rest of core asks hv.c (nub_hv_name, nub_hv_has, nub_hv_probe, ...).
# Fails naming every other line of core/ that reads one: through a pointer
# or member called ops (`ops->`, `ops.`), or through the accessors that
# return the table (nub_backend_ops(), nub_hv_ops()), their own
# declarations and definition aside.
#
# usage: table_readers.sh SOURCE_DIR
set -euo pipefail
cd "${1:?usage: $0 SOURCE_DIR}"

# Reads that predate the rule, in files another change is restructuring;
# each goes when its file moves to nub_hv_name() / nub_hv_caps(). Exact
# lines (leading whitespace dropped), one occurrence each.
allowed=(
	'core/sandbox/sandbox.c:return sb && sb->hv ? nub_hv_ops(sb->hv)->name : "";'
	'core/sandbox/sandbox.c:if (nub_hv_ops(sb->hv)->caps & NUB_CAP_SHARED_MEMORY) {'
	'core/sandbox/sandbox.c:if (nub_hv_ops(sb->hv)->caps & NUB_CAP_SHARED_MEMORY)'
	'core/run/run.c:ex->detail[0] ? nub_hv_ops(sb->hv)->name : "",'
	'core/run/run.c:nub_hv_ops(sb->hv)->name, ex->reason,'
)

hits=$(grep -rnE --include='*.c' --include='*.h' \
	'ops(->|\.[a-z_])|nub_backend_ops\(|nub_hv_ops\(' core |
	grep -v '^core/backend/hv\.c:' |
	grep -vE '^[^:]+:[0-9]+:const struct nub_backend_ops \*nub_(backend|hv)_ops\(' || true)

bad=0
while IFS= read -r hit; do
	[ -n "$hit" ] || continue
	file=${hit%%:*}
	rest=${hit#*:}
	text=$(sed 's/^[[:space:]]*//' <<<"${rest#*:}")
	for i in "${!allowed[@]}"; do
		if [ "${allowed[$i]}" = "$file:$text" ]; then
			unset 'allowed[i]'
			continue 2
		fi
	done
	echo "$hit: reads a backend's table outside core/backend/hv.c" >&2
	bad=1
done <<<"$hits"
[ "$bad" = 0 ] || exit 1
echo "only core/backend/hv.c reads backends' tables (${#allowed[@]} allowed lines left unused)"
