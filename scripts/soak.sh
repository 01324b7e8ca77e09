#!/usr/bin/env bash
# Soak: call+restore cycles with RSS, fd and mapping counts sampled (no
# growth allowed), and 64 sandboxes on 4 threads with interrupts racing
# calls (none lost, none spurious). Not part of the normal CI run.
#   scripts/soak.sh [--mock-cycles N] [--kvm-cycles N] [--rounds N]
# defaults: 1,000,000 cycles on the mock, 100,000 on KVM (when /dev/kvm is
# usable), 200 race rounds per thread on each backend.
set -euo pipefail
cd "$(dirname "$0")/.."
mock=1000000 kvm=100000 rounds=200
while [ $# -gt 0 ]; do
	case "$1" in
	--mock-cycles) mock=$2; shift ;;
	--kvm-cycles) kvm=$2; shift ;;
	--rounds) rounds=$2; shift ;;
	*) echo "usage: $0 [--mock-cycles N] [--kvm-cycles N] [--rounds N]" >&2; exit 2 ;;
	esac
	shift
done
cmake --preset dev >/dev/null
cmake --build build -j"$(nproc)" --target nub_soak nub-backend-mock nub-backend-kvm guest_test_guest >/dev/null
export NUB_BACKEND_PATH=$PWD/build/backends NUB_GUEST_DIR=$PWD/build/guest
soak=build/tests/nub_soak
backends=(mock)
[ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ] && backends+=(kvm)
for b in "${backends[@]}"; do
	n=$mock; [ "$b" = kvm ] && n=$kvm
	echo "== $n call+restore cycles on $b"
	/usr/bin/time -f "soak: %e s, max RSS %M KiB" "$soak" cycles "$b" "$n"
	echo "== 64 sandboxes, 4 threads, interrupts racing calls, on $b"
	/usr/bin/time -f "soak: %e s" "$soak" race "$b" 64 4 "$rounds"
done
