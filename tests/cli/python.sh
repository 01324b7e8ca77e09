#!/usr/bin/env bash
# nub-py (examples/python): scripts in the warm CPython of a snapshot, on
# the mock and (where /dev/kvm works) on KVM: their output exactly, the
# last expression's value, a traceback and the exit status, a module from
# --dir, a timeout; bad options refused by name.
set -u
fail=0
py=$NUB_BUILD_DIR/examples/python/nub-py
[ -x "$py" ] || { echo "FAIL: $py is not built (scripts/fetch-sources.sh, reconfigure)"; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
printf 'def greet(who):\n    return "hello, " + who\n' >"$dir/app.py"
. "$(dirname "$0")/lib/check.sh"
backends=mock
[ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ] && backends="mock kvm"
for b in $backends; do
	out=$("$py" --backend "$b" 'print(sum(range(10)))' 'import json; json.dumps({"a": 1})' 2>&1)
	want=$(printf '45\n%s' "'{\"a\": 1}'")
	if [ "$out" != "$want" ]; then
		echo "FAIL: $b: print(sum(range(10))) and a value: got"; echo "$out"; fail=1
	else
		echo "ok: $b: print(sum(range(10))) prints 45"
	fi
	check "$b: a traceback, exit 1" 1 $'line 1, in f\n    def f(): return 1/0' \
		"$py" --backend "$b" $'def f(): return 1/0\nf()'
	check "$b: scripts do not see each other" 1 "NameError: name 'x' is not defined" \
		"$py" --backend "$b" 'x = 1' 'x'
	check "$b: a module from --dir" 0 "'hello, nub'" \
		"$py" --backend "$b" --dir "$dir" 'import app; app.greet("nub")'
	check "$b: the timeout ends a loop, the next script runs" 1 \
		'call exceeded its timeout of 200000 us' \
		"$py" --backend "$b" --timeout 200 'while True: pass' 'print("after")'
	check "$b: ... and runs the next" 1 'after' \
		"$py" --backend "$b" --timeout 200 'while True: pass' 'print("after")'
done
check "a bad --heap is named" 2 "nub-py: --heap: not a number up to 1048576: '12x'" \
	"$py" --heap 12x 'print(1)'
check "an unknown option is named" 2 "nub-py: unknown option or too many: --nope" \
	"$py" --nope 1 'print(1)'
check "a missing guest is named" 1 "/nonexistent/python.elf" \
	"$py" --guest /nonexistent/python.elf 'print(1)'
exit $fail
