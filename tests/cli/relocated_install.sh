#!/usr/bin/env bash
# An install with another prefix than the configured one finds its own
# backends (libnub looks beside libnub.so) and its .pc files point into it.
set -eu
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$NUB_BUILD_DIR" --prefix "$tmp/p" >/dev/null
nub="$tmp/p/bin/nub"
plugins=$(cd "$tmp/p" && find . -name libnub-backend-mock.so -printf '%h\n')
plugins="$tmp/p/${plugins#./}"
# A build configured for /usr installs nub without an RPATH: say where its
# libnub is, as a user of such an install would.
libdir=$(dirname "$(find "$tmp/p" -name libnub.so.0)")
export LD_LIBRARY_PATH=$libdir
grep -qF "libnub.so.0 => $libdir/libnub.so.0" <<<"$(ldd "$nub")" ||
	{ ldd "$nub"; echo "FAIL: the installed nub does not use the installed libnub"; exit 1; }
out=$(env -u NUB_BACKEND_PATH NUB_BACKEND=mock "$nub" backends)
first=$(head -1 <<<"$out")
grep -qF "$plugins/libnub-backend-" <<<"$first" ||
	{ echo "$out"; echo "FAIL: the first backends listed are not the install's ($plugins)"; exit 1; }
grep -qF "selected: mock (mock) $plugins/libnub-backend-mock.so" <<<"$out" ||
	{ echo "$out"; echo "FAIL: mock not selected from $plugins"; exit 1; }
out=$(env -u NUB_BACKEND_PATH NUB_BACKEND=nosuch "$nub" backends || true)
grep -qF "NUB_BACKEND_PATH='', $plugins, " <<<"$out" ||
	{ echo "$out"; echo "FAIL: a missing backend's message does not name $plugins first"; exit 1; }
pc=$(dirname "$(find "$tmp/p" -name nub.pc)")
dir=$(PKG_CONFIG_PATH="$pc" pkg-config --variable=plugindir nub)
[ "$(realpath "$dir")" = "$(realpath "$plugins")" ] ||
	{ echo "FAIL: pkg-config plugindir $dir is not $plugins"; exit 1; }
echo "ok: an install under $tmp/p loads its own backends; plugindir $dir"
