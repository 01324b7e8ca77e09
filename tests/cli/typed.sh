#!/usr/bin/env bash
# `nub run --call` of a typed function (nub_register_typed): the words are
# parsed by the signature the guest published, the result printed with its
# type, on the mock and (where /dev/kvm works) on KVM; a value of the wrong
# type is refused by the guest, naming the argument; a word that is no
# value of its type is refused by the CLI, naming the word.
set -u
nub=$1
fail=0
guest=$NUB_GUEST_DIR/test_guest.elf
. "$(dirname "$0")/lib/check.sh"
backends=mock
[ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ] && backends="mock kvm"
for b in $backends; do
	check "$b: mixed argument types" 0 'status 0, f64 1000000000047.75' \
		"$nub" run "$guest" --backend "$b" --call typed_mix -3 1000000000000 5 0.5 0.25 true 40 four
	check "$b: str and bytes in, str out" 0 'status 0, str "nub \x01\xff"' \
		"$nub" run "$guest" --backend "$b" --call typed_concat "nub " bytes:01ff
	check "$b: a void function" 0 'status 0, void' \
		"$nub" run "$guest" --backend "$b" --call typed_void 41
	check "$b: a named type the function does not take" 1 \
		'call_typed: function 45: argument 2 is str, the function takes bytes (NUB_EINVAL)' \
		"$nub" run "$guest" --backend "$b" --call typed_concat a s:b
	check "$b: too few values" 1 \
		'call_typed: function 44: 2 arguments given, the function takes 8 (NUB_EINVAL)' \
		"$nub" run "$guest" --backend "$b" --call typed_mix 1 2
done
check "a word that is not an i32" 2 "nub run: typed argument '1.5': not an i32" \
	"$nub" run "$guest" --backend mock --call typed_mix 1.5
check "a u32 out of range" 2 "nub run: typed argument 'u32:4294967296': not a u32" \
	"$nub" run "$guest" --backend mock --call typed_mix u32:4294967296
check "a value past the signature without a type" 2 \
	"nub run: typed argument 'x': past the function's arguments, and no TYPE: prefix" \
	"$nub" run "$guest" --backend mock --call typed_last true x
exit $fail
