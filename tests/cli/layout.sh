#!/usr/bin/env bash
# `nub layout`: the map for defaults and for a big heap; bad input refused.
set -u
nub=$1
fail=0
out=$("$nub" layout) || { echo "FAIL: defaults exit $?"; fail=1; }
for area in "PEB" "ELF image" "heap" "page tables" "input buffer" "stack guard" "bookkeeping"; do
	grep -q "$area" <<<"$out" || { echo "FAIL: no '$area' in: $out"; fail=1; }
done
out=$("$nub" layout --heap 64M) || { echo "FAIL: 64M heap"; fail=1; }
grep -qE '^  heap .*\(65536 KiB\)' <<<"$out" || { echo "FAIL: heap not 64 MiB: $out"; fail=1; }
out=$("$nub" layout --input 0 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q "input_size" <<<"$out" || { echo "FAIL: --input 0 ($rc): $out"; fail=1; }
out=$("$nub" layout --heap bogus 2>&1); rc=$?
[ $rc -eq 2 ] || { echo "FAIL: --heap bogus exit $rc"; fail=1; }
[ $fail -eq 0 ] && echo "ok: nub layout"
exit $fail
