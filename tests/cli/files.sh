#!/usr/bin/env bash
# `nub run --dir/--env/--arg/--cwd`: a C library guest reads a file from a
# host directory and prints an environment value, on the mock and (where
# /dev/kvm works) on KVM; malformed options are refused by name.
set -u
nub=$1
fail=0
guest=$NUB_GUEST_DIR/files_test.elf
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir "$dir/sub"
printf 'from the host\n' >"$dir/sub/note.txt"
. "$(dirname "$0")/lib/check.sh"
backends=mock
[ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ] && backends="mock kvm"
for b in $backends; do
	check "$b: a file from --dir" 0 'status 0, 14 bytes: "from the host\n"' \
		"$nub" run "$guest" --backend "$b" --dir "$dir:/srv" --call cat /srv/sub/note.txt
	check "$b: relative to --cwd" 0 'status 0, 14 bytes: "from the host\n"' \
		"$nub" run "$guest" --backend "$b" --dir "$dir:/srv" --cwd /srv/sub --call cat note.txt
	check "$b: the tree at / by default" 0 'status 0, 14 bytes: "from the host\n"' \
		"$nub" run "$guest" --backend "$b" --dir "$dir" --call cat sub/note.txt
	check "$b: an --env value" 0 'status 0, 5 bytes: "hello"' \
		"$nub" run "$guest" --backend "$b" --env WHO=hello --call getenv WHO
	check "$b: --arg and --cwd in main's argv" 0 "guest/files_test.elf a b|/srv\"" \
		"$nub" run "$guest" --backend "$b" --dir "$dir:/srv" --arg a --arg b --cwd /srv --call args
	check "$b: the tree is read-only" 0 'status -30, 21 bytes: "Read-only file system"' \
		"$nub" run "$guest" --backend "$b" --dir "$dir" --call write sub/note.txt
	check "$b: no host environment" 0 "status -2, 0 bytes" \
		env NUB_LEAK=1 "$nub" run "$guest" --backend "$b" --call getenv NUB_LEAK
done
check "missing --dir refused" 1 "dirs[0]: cannot open directory /nonexistent/d" \
	"$nub" run "$guest" --backend mock --dir /nonexistent/d --call args
check "relative guest path refused" 2 "--dir '$dir:srv': want HOSTDIR[:/GUEST/PATH]" \
	"$nub" run "$guest" --backend mock --dir "$dir:srv" --call args
check "--env without '=' refused" 1 "envp[0] \"WHO\" is not NAME=VALUE" \
	"$nub" run "$guest" --backend mock --env WHO --call args
check "--cwd must be absolute" 1 "cwd \"x\" is not an absolute path" \
	"$nub" run "$guest" --backend mock --cwd x --call args
check "--dir needs a value" 2 "--dir needs a value" "$nub" run "$guest" --dir
exit $fail
