#!/usr/bin/env bash
# The JavaScript sandbox from the command line, on the mock (KVM direct and
# nested run the same through tests/nested-kvm/suites.txt): `nub run` of
# js.elf evaluates 1+2 to 3; nub-js evaluates, reaches a host function,
# reports a throw and survives an endless loop by its timeout; --dir and
# --env reach scripts through sys.readFile and sys.getenv.
set -u
nub=$1
g=$NUB_GUEST_DIR
js=$NUB_BUILD_DIR/examples/js/nub-js
fail=0
if [ ! -e "$g/js.elf" ]; then
	echo "FAIL: $g/js.elf not built (musl-dev and duktape-dev are required)"; exit 1
fi
out=$("$nub" run "$g/js.elf" --backend mock --heap 16M --call eval s:1+2 2>&1)
if grep -qF 'status 0, 1 bytes: "3"' <<<"$out"; then echo "ok: nub run eval 1+2"
else echo "FAIL: nub run eval 1+2"; echo "$out"; fail=1; fi
out=$("$js" --backend mock --timeout 2000 --guest "$g/js.elf" '1+2' \
	'console.log("from", "js"); host.call("upper", "abc")' 'throw new Error("boom")' \
	'for (;;) {}' '[1,2,3].map(function (x) { return x * x; }).join()' 2>&1)
rc=$?
want=$'=> 3\n[js] from js\n=> ABC\n!! Error: boom'
if [ "$rc" -eq 1 ] && grep -qF "$want" <<<"$out" && grep -qF 'timeout of 2000000 us' <<<"$out" &&
	grep -qF '=> 1,4,9' <<<"$out"; then
	echo "ok: nub-js scripts, host call, throw, timeout then recovery"
else
	echo "FAIL: nub-js (exit $rc)"; echo "$out"; fail=1
fi
d=$(mktemp -d)
printf 'from a file' >"$d/note.txt"
out=$("$js" --backend mock --guest "$g/js.elf" --dir "$d:/in" --env WHO=js \
	'sys.readFile("/in/note.txt")' 'sys.getenv("WHO")' 'typeof sys.getenv("HOME")' \
	'sys.readFile("/in/none")' 2>&1)
rc=$?
rm -rf "$d"
want=$'=> from a file\n=> js\n=> undefined\n!! Error: /in/none: No such file or directory'
if [ "$rc" -eq 1 ] && grep -qF "$want" <<<"$out"; then
	echo "ok: nub-js --dir and --env"
else
	echo "FAIL: nub-js --dir/--env (exit $rc)"; echo "$out"; fail=1
fi
exit $fail
