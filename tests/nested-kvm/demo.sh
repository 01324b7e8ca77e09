#!/usr/bin/env bash
# The main demo: call a guest function (hello's greet) in a real sandbox on
# KVM. With a usable /dev/kvm it runs here; without one it runs the very
# same `nub run` inside the nested-emulation VM (QEMU TCG + kvm_amd) and
# says so. It never falls back to the mock backend.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
cmd=(./nub run guest/hello.elf --backend kvm --call greet world)
if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
	if [ -d /sys/module/kvm_pvm ]; then
		echo "demo: /dev/kvm is the software KVM (kvm_pvm, no VMX/SVM here): the guest runs"
		echo "demo: at CPL3, natively; running it directly"
	else
		echo "demo: /dev/kvm present: running the guest directly on KVM"
	fi
	cd "$build" && exec "${cmd[@]}"
fi
echo "demo: no usable /dev/kvm on this host; running the same guest on real KVM inside"
echo "demo: a nested-emulation VM (QEMU TCG emulating AMD SVM, kvm_amd in a Debian kernel)."
echo "demo: times printed inside it are emulated, not hardware figures; exit counts are real."
suites=$(mktemp)
out=$(mktemp)
trap 'rm -f "$suites" "$out"' EXIT
echo "demo: ${cmd[*]}" > "$suites"
rc=0
NUB_NESTED_SUITES=$suites "$here/run.sh" --ci --build "$build" --nested > "$out" 2>&1 || rc=$?
grep -vE '^(NUBKVM: (BEGIN|DONE)|nested-kvm: [0-9]+ passed)' "$out" || true
exit $rc
