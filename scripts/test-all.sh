#!/usr/bin/env bash
# Every test: the normal build (warnings as errors) and a sanitizer build
# (ASan+UBSan), each through ctest, then the format check and anything that
# needs more than ctest (nested KVM, bench smoke run) when present.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs"
cmake -S . -B build-san -DCMAKE_BUILD_TYPE=Debug -DNUB_SANITIZE=ON >/dev/null
cmake --build build-san -j"$jobs"
ctest --test-dir build-san --output-on-failure -j"$jobs"
cmake --build build --target format-check
for extra in tests/nested-kvm/run.sh bench/run.sh; do
	if [ -x "$extra" ]; then
		echo "== $extra"
		"$extra" --ci
	fi
done
echo "test-all: every suite passed"
