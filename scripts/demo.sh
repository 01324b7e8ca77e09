#!/usr/bin/env bash
# Install dependencies, build, and run the main demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
./build/nub backends || true
exec tests/nested-kvm/demo.sh build
