#!/usr/bin/env bash
# `nub inspect`: a guest ELF (evolved on the mock, and on KVM where
# /dev/kvm works) and the snapshot file `nub snapshot` saved of it list the
# same functions with their typed signatures and what a sandbox must
# register; a file that is no snapshot is refused by name.
set -u
nub=$1
fail=0
guest=$NUB_GUEST_DIR/test_guest.elf
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
. "$(dirname "$0")/lib/check.sh"
backends=mock
[ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ] && backends="mock kvm"
for b in $backends; do
	check "$b: a typed function of the ELF" 0 \
		'44  typed_mix                (i32, i64, u64, f32, f64, bool, u32, str) -> f64' \
		"$nub" inspect "$guest" --backend "$b"
	check "$b: a byte function" 0 '1  echo                     bytes -> bytes' \
		"$nub" inspect "$guest" --backend "$b"
done
"$nub" snapshot "$guest" --backend mock -o "$dir/s.snap" >/dev/null ||
	{ echo "FAIL: nub snapshot"; fail=1; }
check "the file: its functions" 0 '45  typed_concat             (str, bytes) -> str' \
	"$nub" inspect "$dir/s.snap"
check "the file: what it needs" 0 'host functions needed: none' "$nub" inspect "$dir/s.snap"
head -c 200 "$dir/s.snap" >"$dir/cut.snap"
check "a cut file is refused by name" 1 "$dir/cut.snap" "$nub" inspect "$dir/cut.snap"
check "no file" 1 "nub inspect: " "$nub" inspect "$dir/none.elf" --backend mock
check "bad options" 2 "usage: nub inspect" "$nub" inspect
exit $fail
