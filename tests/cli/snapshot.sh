#!/usr/bin/env bash
# `nub snapshot GUEST.elf -o FILE [--call ...]` then `nub run FILE`: the
# warm-up call's state is in the file and every run starts from it, on the
# mock and (where /dev/kvm works) KVM, from a file either made; files that
# are not snapshots are refused by name.
set -u
nub=$1
fail=0
. "$(dirname "$0")/lib/check.sh"
g=$NUB_GUEST_DIR
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
backends=mock
[ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ] && backends="mock kvm"
for b in $backends; do
	check "$b: snapshot after two warm-up calls" 0 "snapshot: $d/$b.snap, hash " \
		"$nub" snapshot "$g/test_guest.elf" -o "$d/$b.snap" --backend "$b" \
		--call static_counter --repeat 2
	for r in $backends; do
		check "$r: run the $b file: the counter goes on from 2" 0 '(i64 3)' \
			"$nub" run "$d/$b.snap" --backend "$r" --call static_counter
	done
	check "$b: and every call restores to the file's state" 0 '(i64 3)' \
		"$nub" run "$d/$b.snap" --backend "$b" --call static_counter --repeat 3
done
check "a snapshot of a C library guest keeps its tree and environment" 0 "snapshot: $d/files.snap" \
	"$nub" snapshot "$g/files_test.elf" -o "$d/files.snap" --backend mock --env WHO=hi
check "... run from the file" 0 'status 0, 2 bytes: "hi"' \
	"$nub" run "$d/files.snap" --backend mock --call getenv WHO
check "snapshot needs -o" 2 "usage: nub snapshot GUEST.elf -o FILE" \
	"$nub" snapshot "$g/test_guest.elf"
printf 'NUBSNAP\0junk' >"$d/junk.snap"
check "a broken snapshot file is refused by name" 1 "$d/junk.snap: " \
	"$nub" run "$d/junk.snap" --backend mock --call 1
check "a failing warm-up call saves nothing" 1 "nub snapshot: warm-up call" \
	"$nub" snapshot "$g/test_guest.elf" -o "$d/no.snap" --backend mock --call null_deref
[ ! -e "$d/no.snap" ] || { echo "FAIL: a file was written after a failed warm-up"; fail=1; }
exit $fail
