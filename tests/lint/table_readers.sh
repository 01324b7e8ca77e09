#!/bin/bash
# SPDX-License-Identifier: MIT
# Only core/backend/hv.c reads a backend's table (struct nub_backend_ops):
# the rest of core asks hv.c (nub_hv_name, nub_hv_caps, nub_hv_has,
# nub_hv_probe, ...). Fails naming every other line of core/ that reads
# one: through a pointer or member called ops (`ops->`, `ops.`), or
# through an accessor that returns the table (nub_backend_ops()), its
# declaration and definition aside.
#
# usage: table_readers.sh SOURCE_DIR
set -euo pipefail
cd "${1:?usage: $0 SOURCE_DIR}"

hits=$(grep -rnE --include='*.c' --include='*.h' \
	'ops(->|\.[a-z_])|nub_backend_ops\(|nub_hv_ops\(' core |
	grep -v '^core/backend/hv\.c:' |
	grep -vE '^[^:]+:[0-9]+:const struct nub_backend_ops \*nub_backend_ops\(' || true)

if [ -n "$hits" ]; then
	sed 's/$/: reads a backend'"'"'s table outside core\/backend\/hv.c/' <<<"$hits" >&2
	exit 1
fi
echo "only core/backend/hv.c reads backends' tables"
