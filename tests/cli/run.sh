#!/usr/bin/env bash
# `nub run` on the mock (the real guest ELFs, no hypervisor): by id, by
# name, bad input refused, --heap and --timeout applied, results shown as
# text or hex; the heap and timeout cases again on KVM where it is usable.
set -u
nub=$1
g=$NUB_GUEST_DIR
fail=0
check() { # check <desc> <want-exit> <needle> <args...>
	local desc=$1 want=$2 needle=$3; shift 3
	out=$("$nub" run "$@" 2>&1); rc=$?
	if [ "$rc" -ne "$want" ] || ! grep -qF -- "$needle" <<<"$out"; then
		echo "FAIL: $desc (exit $rc, want $want, needle '$needle')"; echo "$out"; fail=1
	else
		echo "ok: $desc"
	fi
}
check "greet by id" 0 '"hello, world"' "$g/hello.elf" --backend mock --call 1 world
check "greet by name, logs" 0 'guest info (greet): greeting world' "$g/hello.elf" --backend mock --call greet world
check "calc add" 0 'i64 42' "$g/calc.elf" --backend mock --call add i64:40 i64:2
check "repeat" 0 'mean of 5' "$g/calc.elf" --backend mock --call fib hex:0a000000 --repeat 5
check "unknown name" 1 "no function named 'nope'" "$g/calc.elf" --backend mock --call nope
check "missing ELF" 1 "/nonexistent.elf" /nonexistent.elf --backend mock
check "no arguments" 2 "usage: nub run"

t=("$g/test_guest.elf" --backend mock --quiet)
# Results: text in quotes with C escapes, anything else as hex.
check "text result" 0 'status 0, 5 bytes: "hello"' "${t[@]}" --call echo hello
check "text escapes" 0 'status 0, 7 bytes: "a\"b\\c\t\n"' "${t[@]}" --call 1 hex:6122625c63090a
check "UTF-8 is text" 0 'status 0, 2 bytes: "é"' "${t[@]}" --call 1 hex:c3a9
# The pages the 300000 filled bytes span, with the heap's first page and
# the result area: 75 pages, 300 KiB (the same on every backend).
check "heap usage" 0 'heap: 300 KiB of 1024 KiB written' "${t[@]}" --call heap_usage i64:300000
check "binary as hex" 0 'status 0, 2 bytes: hex 00ff' "${t[@]}" --call 1 hex:00ff
check "control byte as hex" 0 'status 0, 3 bytes: hex 610162' "${t[@]}" --call 1 hex:610162
check "8 bytes as hex and i64" 0 'status 0, 8 bytes: hex 2a00000000000000 (i64 42)' \
	"${t[@]}" --call 1 i64:42
check "empty result" 0 'status 0, 0 bytes: ""' "${t[@]}" --call 1

# --heap: the test guest's malloc (id 22) returns NULL (status NUB_EFULL,
# -15) when the heap cannot hold 200000 bytes (the default heap is 1 MiB).
check "--heap small, malloc fails" 0 'status -15' \
	"${t[@]}" --heap 64K --call malloc i64:200000
check "--heap large, malloc succeeds" 0 'status 0, 8 bytes: hex' \
	"${t[@]}" --heap 2M --call 22 i64:200000
check "--heap in bytes" 0 'status -15' \
	"${t[@]}" --heap 65536 --call malloc i64:200000
check "--heap abc" 2 "--heap: 'abc' is not a size" "${t[@]}" --heap abc --call 1
check "--heap 1Q" 2 "--heap: '1Q' is not a size" "${t[@]}" --heap 1Q --call 1
check "--heap -1" 2 "--heap: '-1' is not a size" "${t[@]}" --heap -1 --call 1
check "--heap overflow" 2 "--heap: '99999999999G' is too large" "${t[@]}" --heap 99999999999G
check "--heap missing" 2 "--heap needs a value" "${t[@]}" --heap
check "--heap before an option" 2 "--heap needs a value" "${t[@]}" --heap --call 1

# --timeout: the watchdog stops a guest that spins.
check "--timeout fires" 1 'call exceeded its timeout of 200000 us' \
	"${t[@]}" --timeout 200 --call spin
check "--timeout not reached" 0 '"ok"' "${t[@]}" --timeout 10000 --call echo ok
check "--stats counts the calls" 0 'stats: calls: 3' "${t[@]}" --stats --repeat 3 --call echo ok
check "--stats counts the restores" 0 'stats: restores: 4' "${t[@]}" --stats --repeat 3 --call echo ok
check "--timeout 0 is none" 0 '"ok"' "${t[@]}" --timeout 0 --call echo ok
check "--timeout -1" 2 "--timeout: '-1' is not a number of milliseconds" "${t[@]}" --timeout -1
check "--timeout abc" 2 "--timeout: 'abc' is not a number of milliseconds" "${t[@]}" --timeout abc
check "--timeout missing" 2 "--timeout needs a value" "${t[@]}" --timeout
check "usage names the options" 2 "--heap SIZE" --timeout 5

# The same on KVM where it is usable.
if "$nub" backends 2>/dev/null | grep -qE '^kvm +usable'; then
	k=("$g/test_guest.elf" --backend kvm --quiet)
	check "kvm: --heap small, malloc fails" 0 'status -15' \
		"${k[@]}" --heap 64K --call malloc i64:200000
	check "kvm: --heap large, malloc succeeds" 0 'status 0, 8 bytes: hex' \
		"${k[@]}" --heap 2M --call 22 i64:200000
	check "kvm: --timeout fires" 1 '(NUB_ETIMEDOUT)' "${k[@]}" --timeout 200 --call 4
	# Core names backend and slot once; the backend writes only what is wrong.
	check "kvm: bad option, named once" 1 \
		"evolve: kvm: vm_create: options 'signal=1' not understood (want 'signal=N'" \
		"${k[@]}" --options signal=1 --call echo x
else
	echo "skip: kvm cases (no usable kvm backend here)"
fi
exit $fail
