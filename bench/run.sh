#!/usr/bin/env bash
# Run every benchmark and print one table: figure | value | floor/peer |
# ratio | count-or-time. `--ci` runs the short mode (the figures are not
# asserted, only that every benchmark runs); `--build DIR` picks the build.
set -euo pipefail
cd "$(dirname "$0")/.."
build=build
mode=
while [ $# -gt 0 ]; do
	case "$1" in
	--ci|--short) mode=--short ;;
	--build) build=$2; shift ;;
	*) echo "usage: bench/run.sh [--ci|--short] [--build DIR]" >&2; exit 2 ;;
	esac
	shift
done
[ -d "$build" ] || { echo "bench: no build directory '$build'" >&2; exit 1; }
build=$(cd "$build" && pwd) # relative or absolute, inside the tree or not
shopt -s nullglob
benches=("$build"/bench/bench_*)
[ ${#benches[@]} -gt 0 ] || { echo "bench: no benchmarks built in $build/bench" >&2; exit 1; }
printf '%-60s | %14s | %-30s | %8s | %s\n' figure value "floor / peer" ratio kind
for b in "${benches[@]}"; do
	[ -x "$b" ] || continue
	[ "$(basename "$b")" = bench_ir ] && continue # counted under callgrind below
	[ "$(basename "$b")" = bench_kvm_vms ] && continue # raw KVM: below
	NUB_BACKEND_PATH="$build/backends" NUB_GUEST_DIR="$build/guest" NUB_BENCH_DIR="$build/bench" \
		"$b" $mode | grep -E '^[^#].*\|' || { echo "bench: $b failed" >&2; exit 1; }
done

# The host's own /dev/kvm (hardware, or the software KVM of clouds without
# nested virtualisation): real times. Nested-emulation figures come from the
# nested-KVM suites instead and are emulated times.
backends=()
if [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
	backends+=(kvm)
	for b in bench_sandbox bench_js bench_peers bench_py bench_kvm_vms; do
		[ -x "$build/bench/$b" ] || continue
		NUB_BENCH_BACKEND=kvm NUB_BACKEND_PATH="$build/backends" NUB_BENCH_DIR="$build/bench" \
			NUB_GUEST_DIR="$build/guest" "$build/bench/$b" $mode |
			grep -E '^[^#].*\|' || { echo "bench: $b on kvm failed" >&2; exit 1; }
	done
fi

# Instruction counts (stable across runs and machine load): callgrind.
ir=$build/bench/bench_ir
if [ -x "$ir" ] && command -v valgrind >/dev/null; then
	n=200
	[ -n "$mode" ] && n=20
	# On KVM the guest runs in the VM: the count is the host side alone
	# (core, backend, libc), the figure the floor of 2,000 is set for. (The
	# mock's vCPU is a seccomp-confined child process, which valgrind cannot
	# run: no count there.)
	[ ${#backends[@]} -gt 0 ] || echo "# no usable /dev/kvm: no host-side instruction counts"
	for backend in "${backends[@]}"; do
		for what in call restore; do
			out=$(mktemp)
			NUB_BENCH_BACKEND=$backend NUB_BACKEND_PATH="$build/backends" \
				NUB_GUEST_DIR="$build/guest" \
				valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out" \
				"$ir" "$what" "$n" >/dev/null 2>&1 ||
				{ echo "bench: callgrind $what on $backend failed" >&2; exit 1; }
			total=$(awk '/^totals:/ { print $2; exit }' "$out")
			rm -f "$out"
			[ -n "$total" ] || { echo "bench: no callgrind total for $what" >&2; exit 1; }
			per=$((total / n))
			floor=2000 kind="host side"
			printf '%-60s | %14s | %-30s | %8s | %s\n' \
				"instructions per $what ($backend, callgrind)" "$per Ir" \
				"$([ "$what" = call ] && [ $floor -gt 0 ] && echo "target 2000 Ir ($kind)" || echo "($kind)")" \
				"$([ "$what" = call ] && [ $floor -gt 0 ] && awk -v a=$per 'BEGIN{printf "%.2f", a/2000}' || echo -)" count
		done
	done
fi
