#!/usr/bin/env bash
# Run every fuzz target (tests/fuzz/fuzz_*.c) under libFuzzer (clang, ASan +
# UBSan, coverage of libnub too) for a number of executions or a time, with
# its corpus in tests/fuzz/corpus/<target>/ (kept small: minimised with
# -merge at the end, and committed). Crashes go to build-fuzz/crashes/;
# turn each into a regression input under tests/fuzz/regress/<target>/,
# which the replay tests in CTest run.
#
# usage: scripts/fuzz.sh [--runs N] [--time SECONDS] [target...]
#   defaults: --runs 10000000, no time limit, every target
set -euo pipefail
cd "$(dirname "$0")/.."
runs=10000000 time=0 targets=()
while [ $# -gt 0 ]; do
	case "$1" in
	--runs) runs=$2; shift ;;
	--time) time=$2; shift ;;
	-*) echo "usage: $0 [--runs N] [--time SECONDS] [target...]" >&2; exit 2 ;;
	*) targets+=("$1") ;;
	esac
	shift
done
build=build-fuzz
CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNUB_FUZZ=ON \
	-DNUB_BUILD_GUESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
if [ ${#targets[@]} -eq 0 ]; then
	for f in "$build"/tests/fuzz_*_libfuzzer; do
		n=$(basename "$f"); targets+=("${n%_libfuzzer}")
	done
fi
mkdir -p "$build/crashes"
printf '%-16s %12s %10s %8s %s\n' target executions exec/s seconds result
for t in "${targets[@]}"; do
	bin=$build/tests/${t}_libfuzzer
	corpus=tests/fuzz/corpus/$t
	work=$build/corpus-$t
	mkdir -p "$corpus" "$work"
	log=$build/$t.log
	start=$(date +%s)
	rc=0
	"$bin" -runs="$runs" -max_total_time="$time" -print_final_stats=1 \
		-artifact_prefix="$build/crashes/$t-" "$work" "$corpus" >"$log" 2>&1 || rc=$?
	secs=$(( $(date +%s) - start ))
	execs=$(awk '/stat::number_of_executed_units:/ { print $2 }' "$log" | tail -1)
	rate=$(awk '/stat::average_exec_per_sec:/ { print $2 }' "$log" | tail -1)
	# Keep the committed corpus small: merge what was found into it.
	"$bin" -merge=1 "$corpus" "$work" >/dev/null 2>&1 || true
	res=ok; [ $rc -eq 0 ] || res="FAILED (exit $rc, see $log and $build/crashes/)"
	printf '%-16s %12s %10s %8s %s\n' "$t" "${execs:-?}" "${rate:-?}" "$secs" "$res"
done
