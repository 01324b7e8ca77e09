#!/bin/sh
# The discipline of the code that runs in the mock's vCPU process, checked
# on its objects (backends/mock/CMakeLists.txt, CTest unit.mock_child_discipline).
# Its signal handler is entered with the guest's FS and GS bases and runs
# under a seccomp filter that traps libc's system calls, so:
#   1. no instruction addresses memory through FS or GS (thread-local
#      storage, errno, the stack protector's canary);
#   2. the objects reference nothing outside themselves but the symbols
#      ALLOWED and ANYWHERE list (shell patterns): no __stack_chk_fail, no
#      __errno_location, no libc function the list does not name;
#   3. code refers to an ALLOWED symbol only from SETUP (the set-up after
#      fork, before seccomp, still on the host's FS) or its compiler-made
#      parts (SETUP.cold, ...); ANYWHERE symbols from any code.
#
# usage: check_child_discipline.sh SETUP "ALLOWED..." "ANYWHERE..." OBJECT...
# (an OBJECT argument may be a ;-list: CMake's $<TARGET_OBJECTS>)
# NM and OBJDUMP name the tools (default: nm, objdump).
set -u
setup=$1 allowed=$2 anywhere=$3
shift 3
set -f # no globbing anywhere: the patterns are matched with case
IFS=';'
# shellcheck disable=SC2048,SC2086 # split each argument at ';', and only there
set -- $*
unset IFS
nm=${NM:-nm} objdump=${OBJDUMP:-objdump}
fail=0

matches() { # matches SYMBOL "PATTERNS..."
	for p in $2; do
		# shellcheck disable=SC2254 # the patterns are globs on purpose
		case $1 in $p) return 0 ;; esac
	done
	return 1
}

dis=$("$objdump" -dr --no-show-raw-insn "$@") || exit 1
fsgs=$(printf '%s\n' "$dis" | grep -E '%[fg]s:')
if [ -n "$fsgs" ]; then
	echo "FAIL: FS- or GS-relative accesses:"
	printf '%s\n' "$dis" | awk '/^[0-9a-f]+ <.*>:$/ { f = $2 } /%[fg]s:/ { print "  " f " " $0 }'
	fail=1
fi

defined=$("$nm" --defined-only "$@" | awk 'NF == 3 { print "D", $3 }') || exit 1
undefined=$("$nm" -u "$@" | awk '$1 ~ /^[Uwv]$/ { print "U", $2 }') || exit 1
external=$(printf '%s\n%s\n' "$defined" "$undefined" |
	awk '$1 == "D" { d[$2] = 1 } $1 == "U" && !($2 in d) { print $2 }' | sort -u)
# shellcheck disable=SC2086 # one symbol a word
for s in $external; do
	matches "$s" "$allowed $anywhere" && continue
	echo "FAIL: references $s, which the vCPU process may not call"
	fail=1
done

# Relocations in code: "<offset>: R_X86_64_<type> <symbol>[+-addend]",
# each under the function "<address> <name>:" it is in.
misplaced=$(printf '%s\n' "$dis" | awk '
	/^[0-9a-f]+ <.*>:$/ { f = substr($2, 2, length($2) - 3) }
	$2 ~ /^R_X86_64_/ { s = $3; sub(/[-+]0x[0-9a-f]+$/, "", s); sub(/@.*/, "", s); print f, s }' |
	sort -u | while read -r fn sym; do
		matches "$sym" "$allowed" || continue
		case $fn in "$setup" | "$setup".*) continue ;; esac
		echo "FAIL: $fn refers to $sym: only $setup, before seccomp, may"
	done)
if [ -n "$misplaced" ]; then
	printf '%s\n' "$misplaced"
	fail=1
fi

[ $fail -eq 0 ] && echo "ok: $# objects; outside references: $(printf '%s\n' "$external" | paste -sd ' ')"
exit $fail
