#!/usr/bin/env bash
# Build examples/third-party-backend out of tree against the *installed*
# headers only, then select it by path and by NUB_BACKEND_PATH + name.
set -eu
nub=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$NUB_BUILD_DIR" --prefix "$tmp/stage" >/dev/null
# Only headers under the prefix may be used: no source tree include paths.
cmake -S "$NUB_SOURCE_DIR/examples/third-party-backend" -B "$tmp/build" \
	-DCMAKE_PREFIX_PATH="$tmp/stage" >/dev/null
cmake --build "$tmp/build" >/dev/null
so="$tmp/build/libnub-backend-example.so"
test -f "$so"
out=$(NUB_BACKEND="$so" "$nub" backends)
grep -qF "selected: example ($so)" <<<"$out" || { echo "by path: $out"; exit 1; }
out=$(NUB_BACKEND_PATH="/nonexistent:$tmp/build" NUB_BACKEND=example "$nub" backends)
grep -qF "selected: example (example) $so" <<<"$out" || { echo "by name: $out"; exit 1; }
echo "ok: third-party backend selected by path and by NUB_BACKEND_PATH + name"
