#!/usr/bin/env bash
# Every test: the normal build (warnings as errors) and a sanitizer build
# (ASan+UBSan), each through ctest, then the format check, the Release
# build with its Debian packages (installed and built against, then
# removed), and what needs more than ctest (KVM suites, bench smoke run).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
# The presets of CMakePresets.json: dev (warnings as errors), asan.
cmake --preset dev >/dev/null
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs"
cmake --preset asan >/dev/null
cmake --build build-san -j"$jobs"
ctest --test-dir build-san --output-on-failure -j"$jobs"
cmake --build build --target format-check
# Release build, Debian packages, and a host program built against them.
echo "== scripts/packages.sh"
scripts/packages.sh
for extra in tests/nested-kvm/run.sh bench/run.sh; do
	if [ -x "$extra" ]; then
		echo "== $extra"
		"$extra" --ci
	fi
done
echo "test-all: every suite passed"
