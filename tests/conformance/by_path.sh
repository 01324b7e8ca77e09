#!/usr/bin/env bash
# The conformance verdict must not depend on a backend's name or where it
# lies: copy each in-tree backend that can run here to a file of another
# name and run the suite on it by path.
set -eu
conformance=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
backends=(mock)
if [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
	backends+=(kvm)
fi
for b in "${backends[@]}"; do
	so="$tmp/libnub-backend-renamed-$b.so"
	cp "$NUB_PLUGIN_BUILD_DIR/libnub-backend-$b.so" "$so"
	if ! out=$(env -u NUB_BACKEND_PATH "$conformance" --backend "$so" 2>&1); then
		echo "$out"
		echo "FAIL: $b copied to $so and selected by path"
		exit 1
	fi
	echo "ok: $b as $so: $(grep -c '\[       OK \]' <<<"$out") tests passed"
done
