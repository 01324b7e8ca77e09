#!/usr/bin/env bash
# The gdb stub (`nub run --gdb PORT`, nub_config.gdb_port), driven by
# Debian's gdb in batch mode on the mock and (where /dev/kvm works) on KVM:
# the guest stops before the first call; a breakpoint on a function stops
# there with the backtrace, registers and stack gdb reads through the
# guest's tables; stepi moves one instruction; register and memory writes
# change what the call returns; a breakpoint is hit again in the next call
# (armed again after the restore, which never saw it); a fault stops with
# SIGSEGV and, continued, ends the call with it; detach lets the call
# finish; kill fails it. And the refusals: a port that is no port, one in
# use, a variable that is no port.
#
# usage: gdb.sh NUB   (NUB_GDB_BACKENDS: the backends, default mock and kvm)
set -u
nub=$1
fail=0
. "$(dirname "$0")/lib/check.sh"
command -v gdb >/dev/null || { echo "gdb not installed (scripts/install-deps.sh installs it)"; exit 1; }
hello=$NUB_GUEST_DIR/hello.elf
tguest=$NUB_GUEST_DIR/test_guest.elf
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
backends=${NUB_GDB_BACKENDS:-mock}
if [ -z "${NUB_GDB_BACKENDS:-}" ] && [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
	backends="mock kvm"
fi

# session NAME ELF "NUB-RUN-ARGS" GDB-ARGS...: `nub run ELF --gdb 0 ARGS`
# in the background, gdb connected to the port it says, both outputs in
# $tmp/NAME.nub and $tmp/NAME.gdb, nub's exit status in $tmp/NAME.rc.
# The waits only stop a hang: nothing here depends on how fast it runs.
session() {
	local name=$1 elf=$2 args=$3 port= i
	shift 3
	# shellcheck disable=SC2086 # args is a word list
	"$nub" run "$elf" --gdb 0 $args >"$tmp/$name.nub" 2>&1 &
	local pid=$!
	for ((i = 0; i < 600; i++)); do
		port=$(sed -n 's/.*gdb: listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/$name.nub")
		[ -n "$port" ] && break
		kill -0 $pid 2>/dev/null || break
		sleep 0.1
	done
	if [ -z "$port" ]; then
		echo "FAIL: $name: nub run did not listen"; cat "$tmp/$name.nub"; fail=1
		wait $pid
		return
	fi
	timeout 300 gdb -nx -batch -ex "set tcp connect-timeout 60" \
		-ex "target remote 127.0.0.1:$port" "$@" "$elf" >"$tmp/$name.gdb" 2>&1
	for ((i = 0; i < 3000; i++)); do
		kill -0 $pid 2>/dev/null || break
		sleep 0.1
	done
	wait $pid
	echo $? >"$tmp/$name.rc"
}

# has NAME nub|gdb NEEDLE DESC
has() {
	if grep -qF -- "$3" "$tmp/$1.$2"; then
		echo "ok: $4"
	else
		echo "FAIL: $4 (no '$3' in $2 output)"; cat "$tmp/$1.gdb" "$tmp/$1.nub"; fail=1
	fi
}
rc_is() {
	if [ "$(cat "$tmp/$1.rc" 2>/dev/null)" = "$2" ]; then
		echo "ok: $3"
	else
		echo "FAIL: $3 (nub run exit $(cat "$tmp/$1.rc" 2>/dev/null), want $2)"
		cat "$tmp/$1.gdb" "$tmp/$1.nub"; fail=1
	fi
}

for b in $backends; do
	s=$b.break
	session $s "$hello" "--backend $b --call greet world" \
		-ex 'break greet' -ex continue -ex bt -ex 'info registers rip rsp eflags' \
		-ex 'x/4gx $sp' -ex 'x/a $sp' -ex stepi -ex 'p $pc' -ex continue
	has $s gdb "in nub_rt_dispatch_entry ()" "$b: stopped before the first call, at the dispatch entry"
	has $s gdb "Breakpoint 1, greet (" "$b: break greet, continue: stopped in greet"
	has $s gdb "hello.c:12" "$b: ... at its source line"
	has $s gdb "in nub_rt_dispatch (" "$b: bt: the caller"
	if grep -qE '^rip +0x[0-9a-f]+ +0x[0-9a-f]+ <greet>' "$tmp/$s.gdb"; then
		echo "ok: $b: info registers: rip at greet"
	else
		echo "FAIL: $b: info registers: rip at greet"; cat "$tmp/$s.gdb"; fail=1
	fi
	if grep -qE '^0x3f[0-9a-f]+:\s+0x[0-9a-f]{16}\s+0x[0-9a-f]{16}' "$tmp/$s.gdb"; then
		echo "ok: $b: x/4gx \$sp reads the stack"
	else
		echo "FAIL: $b: x/4gx \$sp"; cat "$tmp/$s.gdb"; fail=1
	fi
	has $s gdb "<nub_rt_dispatch+" "$b: x/a \$sp: the return address into the caller"
	if grep -qE '^\$1 = .*<greet\+[1-9][0-9]*>' "$tmp/$s.gdb"; then
		echo "ok: $b: stepi moved one instruction into greet"
	else
		echo "FAIL: $b: stepi"; cat "$tmp/$s.gdb"; fail=1
	fi
	has $s gdb "exited normally" "$b: continue: the sandbox ends, gdb sees an exit"
	has $s nub 'status 0, 12 bytes: "hello, world"' "$b: the call's result is untouched"
	rc_is $s 0 "$b: nub run succeeded"

	s=$b.write
	session $s "$hello" "--backend $b --call greet world" \
		-ex 'break greet' -ex continue -ex 'set var in_len = 3' \
		-ex 'set var *(char *)in = 87' -ex continue
	has $s nub 'status 0, 10 bytes: "hello, Wor"' \
		"$b: a register (in_len) and memory (*in) written by gdb change the result"

	s=$b.again
	session $s "$hello" "--backend $b --call greet world --repeat 2" \
		-ex 'break greet' -ex continue -ex continue -ex 'p $pc' -ex continue
	if [ "$(grep -c 'Breakpoint 1, greet (' "$tmp/$s.gdb")" = 2 ]; then
		echo "ok: $b: the breakpoint is hit in the next call too, after the restore"
	else
		echo "FAIL: $b: breakpoint in the second call"; cat "$tmp/$s.gdb" "$tmp/$s.nub"; fail=1
	fi
	if [ "$(grep -c 'greeting world (5 bytes)' "$tmp/$s.nub")" = 2 ] &&
		grep -qF 'status 0, 12 bytes: "hello, world"' "$tmp/$s.nub"; then
		echo "ok: $b: both calls run as they would without a debugger"
	else
		echo "FAIL: $b: results of two calls"; cat "$tmp/$s.nub"; fail=1
	fi

	s=$b.fault
	session $s "$tguest" "--backend $b --call null_deref" -ex continue -ex bt \
		-ex 'x/i $pc' -ex continue
	has $s gdb "Program received signal SIGSEGV" "$b: a fault stops with SIGSEGV"
	has $s gdb "in null_deref (" "$b: ... in the faulting function"
	has $s gdb "=> 0x" "$b: ... at the faulting instruction"
	has $s gdb "Program terminated with signal SIGSEGV" "$b: continued, the guest dies of it"
	has $s nub "guest fault: vector 14 (#PF page fault)" "$b: ... and the call fails with the fault"
	rc_is $s 1 "$b: nub run failed"

	s=$b.detach
	session $s "$hello" "--backend $b --call greet world" -ex 'break greet' -ex continue \
		-ex detach
	has $s gdb "(Remote target) detached]" "$b: detach"
	has $s nub 'status 0, 12 bytes: "hello, world"' "$b: ... and the call finishes without gdb"
	rc_is $s 0 "$b: nub run succeeded after the detach"

	s=$b.kill
	session $s "$hello" "--backend $b --call greet world" -ex 'break greet' -ex continue \
		-ex kill
	has $s nub "call killed by the debugger" "$b: kill fails the call"
	rc_is $s 1 "$b: nub run failed after the kill"
done

check "--gdb that is no port" 2 "nub run: --gdb 70000: not a TCP port" \
	"$nub" run "$hello" --backend mock --gdb 70000 --call greet x
check "NUB_GDB_PORT that is no port" 1 "NUB_GDB_PORT 'abc' is not a TCP port" \
	env NUB_GDB_PORT=abc "$nub" run "$hello" --backend mock --call greet x
# A port in use: the one a waiting session listens on.
"$nub" run "$hello" --backend mock --gdb 0 --call greet x >"$tmp/busy" 2>&1 &
busy=$!
for ((i = 0; i < 600; i++)); do
	port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/busy")
	[ -n "$port" ] && break
	sleep 0.1
done
check "a port in use" 1 "evolve: gdb: cannot listen on 127.0.0.1:$port: Address already in use" \
	"$nub" run "$hello" --backend mock --gdb "$port" --call greet x
kill $busy 2>/dev/null
wait $busy 2>/dev/null
exit $fail
