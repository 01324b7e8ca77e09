# Sourced by the CLI tests: check <desc> <want-exit> <needle> <cmd...> runs
# the command and passes when it exits <want-exit> with <needle> in its
# output (stdout and stderr); a failure prints both and sets fail=1.
check() {
	local desc=$1 want=$2 needle=$3; shift 3
	out=$("$@" 2>&1); rc=$?
	if [ "$rc" -ne "$want" ] || ! grep -qF -- "$needle" <<<"$out"; then
		echo "FAIL: $desc (exit $rc, want $want; needle '$needle')"; echo "$out"; fail=1
	else
		echo "ok: $desc"
	fi
}
