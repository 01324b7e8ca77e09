#!/usr/bin/env bash
# Install dependencies, build, and run the main demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
if [ -x tests/nested-kvm/demo.sh ]; then
	exec tests/nested-kvm/demo.sh
fi
./build/nub backends || true
echo "demo: the guest runtime has not landed yet; shown: backend discovery"
