#!/usr/bin/env bash
# `nub run` on the mock's native guests: by id, by name, bad input refused.
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
check "greet by id" 0 '"hello, world"' "$g/hello.elf" --backend mock --options native=hello --call 1 world
check "greet by name, logs" 0 'guest info: greeting world' "$g/hello.elf" --backend mock --options native=hello --call greet world
check "calc add" 0 'i64 42' "$g/calc.elf" --backend mock --options native=calc --call add i64:40 i64:2
check "repeat" 0 'mean of 5' "$g/calc.elf" --backend mock --options native=calc --call fib hex:0a000000 --repeat 5
check "unknown name" 1 "no function named 'nope'" "$g/calc.elf" --backend mock --options native=calc --call nope
check "missing ELF" 1 "/nonexistent.elf" /nonexistent.elf --backend mock
check "no arguments" 2 "usage: nub run" 
exit $fail
