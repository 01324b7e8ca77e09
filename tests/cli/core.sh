#!/usr/bin/env bash
# Core files (nub_config.core_dir, `nub run --core-dir`): a guest fault
# writes an ELF core of the guest, named at the end of the fault's message,
# and Debian's gdb reads it with the guest ELF: the faulting function and
# its source line in the backtrace, the registers as they were. On the
# mock and (where /dev/kvm works) on KVM. A directory that is not there
# leaves the fault's message whole with the reason there is no core.
set -u
nub=$1
fail=0
guest=$NUB_GUEST_DIR/test_guest.elf
. "$(dirname "$0")/lib/check.sh"
command -v gdb >/dev/null || { echo "gdb not installed (scripts/install-deps.sh installs it)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
backends=${NUB_CORE_BACKENDS:-mock}
if [ -z "${NUB_CORE_BACKENDS:-}" ] && [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
	backends="mock kvm"
fi
for b in $backends; do
	mkdir "$tmp/$b"
	check "$b: the fault names its core" 1 "; core dumped to $tmp/$b/test_guest.elf." \
		"$nub" run "$guest" --backend "$b" --core-dir "$tmp/$b" --call null_deref
	core=$(ls "$tmp/$b"/*.core 2>/dev/null | head -1)
	[ -n "$core" ] || { echo "FAIL: $b: no core in $tmp/$b"; fail=1; continue; }
	check "$b: gdb's backtrace has the faulting function and its line" 0 \
		"in null_deref (" gdb -batch -nx -ex bt "$guest" "$core"
	check "$b: ... from the guest's source" 0 "test_guest.c:" \
		gdb -batch -nx -ex bt "$guest" "$core"
	check "$b: ... and its caller" 0 "in nub_rt_dispatch" gdb -batch -nx -ex bt "$guest" "$core"
	check "$b: gdb sees the signal" 0 "Program terminated with signal SIGSEGV" \
		gdb -batch -nx -ex bt "$guest" "$core"
	check "$b: the faulting instruction at \$pc" 0 "<null_deref+" \
		gdb -batch -nx -ex 'x/i $pc' "$guest" "$core"
	check "$b: the fault's message is in the core" 0 "null_deref+0x" \
		strings "$core"
done
check "a core directory that is not there" 1 "; no core: core dump: cannot create $tmp/none/" \
	"$nub" run "$guest" --backend mock --core-dir "$tmp/none" --call null_deref
check "\$NUB_CORE_DIR works as --core-dir" 1 "; core dumped to $tmp/mock/" \
	env NUB_CORE_DIR="$tmp/mock" "$nub" run "$guest" --backend mock --call null_deref
check "no core without a directory" 1 "(null_deref+0x" \
	env -u NUB_CORE_DIR "$nub" run "$guest" --backend mock --call null_deref
if env -u NUB_CORE_DIR "$nub" run "$guest" --backend mock --call null_deref 2>&1 | grep -q core; then
	echo "FAIL: a core named with no directory configured"; fail=1
fi
exit $fail
