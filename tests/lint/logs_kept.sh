#!/bin/bash
# SPDX-License-Identifier: MIT
# No test or script opens /dev/stdout or /dev/stderr to write anew:
# `tee /dev/stderr` or `> /dev/stderr` opens the caller's file again with
# O_TRUNC, and where the caller's output is a file (`scripts/test-all.sh >
# log 2>&1`, as CI runs it) that empties the log mid-run. `tee -a`, `>>`
# and `>&2` write on without truncating. Fails naming every such line.
#
# usage: logs_kept.sh SOURCE_DIR
set -euo pipefail
cd "${1:?usage: $0 SOURCE_DIR}"

hits=$(grep -rnE '(tee( +-[b-z]+)* +/dev/std(out|err)|(^|[^>&0-9])[12]?> *(/dev/std(out|err)|/proc/self/fd/[12]))' \
	tests scripts bench examples .ci 2>/dev/null | grep -v '^tests/lint/' |
	grep -vE '^[^:]+:[0-9]+:[[:space:]]*#' || true) # comments say it, they do not do it

if [ -n "$hits" ]; then
	sed 's/$/: truncates the caller'"'"'s output (use tee -a, >> or >\&2)/' <<<"$hits" >&2
	exit 1
fi
echo "no test truncates its caller's output"
