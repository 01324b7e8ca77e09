#!/usr/bin/env bash
# Build nub's Debian packages (Release, warnings as errors), install them on
# this machine, and build examples/host-program outside the tree against
# the installed packages twice (pkg-config + plain compiler, CMake
# find_package), then run it: on the mock (no hypervisor) and, where usable,
# on KVM with the guest built from the installed SDK. The packages are
# removed again at the end. Needs root (dpkg -i), as CI has.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=$root/build-release
jobs=$(nproc)
log() { echo "packages: $*"; }

# With the distribution's default flags (dpkg-buildflags: stack protector,
# fortify, format-security, relro), as Debian would build it.
export CFLAGS="$(dpkg-buildflags --get CFLAGS) $(dpkg-buildflags --get CPPFLAGS)"
export LDFLAGS="$(dpkg-buildflags --get LDFLAGS)"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DNUB_WERROR=ON \
	-DCMAKE_INSTALL_PREFIX=/usr >/dev/null
cmake --build "$build" -j"$jobs" >/dev/null
log "Release build with dpkg-buildflags ($CFLAGS): ok; tests:"
ctest --test-dir "$build" -j"$jobs" --output-on-failure | tail -3
rm -f "$build"/*.deb
(cd "$build" && cpack -G DEB >"$build/cpack.log" 2>&1) || { cat "$build/cpack.log"; exit 1; }
debs=("$build"/*.deb)
log "built: $(for d in "${debs[@]}"; do basename "$d"; done | tr '\n' ' ')"
[ ${#debs[@]} -eq 4 ] || { log "ERROR: want 4 packages"; exit 1; }

SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
pkgs=(nub nub-backends libnub-dev libnub0)
cleanup() { $SUDO dpkg -P "${pkgs[@]}" >/dev/null 2>&1 || true; rm -rf "$tmp"; }
tmp=$(mktemp -d)
trap cleanup EXIT
$SUDO dpkg -i "${debs[@]}" >"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log"; exit 1; }
$SUDO ldconfig
log "installed: $(dpkg-query -W -f='${Package} ${Version}, ' "${pkgs[@]}")"

# The installed CLI finds the installed backends (plugin directory).
out=$(env -u NUB_BACKEND_PATH nub backends 2>&1 || true)
grep -q "usable.*/usr/lib/.*/nub/backends/libnub-backend-mock.so" <<<"$out" ||
	{ echo "$out"; log "ERROR: installed nub does not list the installed mock backend"; exit 1; }
env -u NUB_BACKEND_PATH nub-conformance --backend mock >/dev/null 2>&1 ||
	{ log "ERROR: installed nub-conformance fails on the mock"; exit 1; }
log "installed nub lists the packaged backends; nub-conformance passes on the mock"

run_both() { # run_both <dir>: the host program with each guest on the mock and, if usable, KVM
	local dir=$1 out g
	for g in guest guest_libc; do
		out=$(env -u NUB_BACKEND_PATH "$dir/host-program" "$dir/$g.elf" world mock)
		grep -q "mock: status 0: hello, WORLD" <<<"$out" || { echo "$out"; return 1; }
		if [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
			out=$(env -u NUB_BACKEND_PATH "$dir/host-program" "$dir/$g.elf" world kvm)
			grep -q "kvm: status 0: hello, WORLD" <<<"$out" || { echo "$out"; return 1; }
			log "$(basename "$dir") $g: on KVM: $out"
		fi
	done
}

mkdir -p "$tmp/pkg-config"
(cd "$tmp/pkg-config" && make -f "$root/examples/host-program/Makefile.pkg-config" >/dev/null)
lddout=$(ldd "$tmp/pkg-config/host-program")
grep -qE "libnub.so.0 => (/usr)?/lib/" <<<"$lddout" ||
	{ echo "$lddout"; log "ERROR: host-program does not link the installed libnub.so.0"; exit 1; }
run_both "$tmp/pkg-config"
log "pkg-config build: ok"

cmake -S "$root/examples/host-program" -B "$tmp/cmake" >/dev/null
cmake --build "$tmp/cmake" >/dev/null
run_both "$tmp/cmake"
log "find_package build: ok"
log "every package check passed"
