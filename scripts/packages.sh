#!/usr/bin/env bash
# Build nub (Release, warnings as errors) and check what an install gives
# someone who has nothing else, twice:
#  1. `cmake --install --prefix` into a temporary directory (not the
#     configured /usr; no package installed): examples/host-program built
#     against it with pkg-config and with CMake and run; the installed
#     `nub backends` and `nub-conformance` find the install's own backends;
#     the third-party backend example, as installed under share/doc, built
#     from the install's headers alone and loaded by path and by name, with
#     the messages docs/writing-a-backend.md shows.
#  2. The Debian packages, installed on this machine, examples/host-program
#     built against them the same two ways and run, then removed again.
# Runs go to the mock (no hypervisor) and, where usable, to KVM. Needs root
# (dpkg -i), as CI has; take /tmp/nub-dpkg.lock around it where others run
# it on the same machine.
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
installed=0
cleanup() {
	[ "$installed" -eq 0 ] || $SUDO dpkg -P "${pkgs[@]}" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
tmp=$(mktemp -d)
trap cleanup EXIT
kvm_usable() { [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; }
fail() { log "ERROR: $*"; exit 1; }

run_both() { # run_both <dir>: the host program with each guest on the mock and, if usable, KVM
	local dir=$1 out g
	for g in guest guest_libc; do
		out=$(env -u NUB_BACKEND_PATH "$dir/host-program" "$dir/$g.elf" world mock)
		grep -q "mock: status 0: hello, WORLD" <<<"$out" || { echo "$out"; return 1; }
		if kvm_usable; then
			out=$(env -u NUB_BACKEND_PATH "$dir/host-program" "$dir/$g.elf" world kvm)
			grep -q "kvm: status 0: hello, WORLD" <<<"$out" || { echo "$out"; return 1; }
			log "$(basename "$dir") $g: on KVM: $out"
		fi
	done
}

# ---- 1. An install under a temporary prefix, nothing else installed.
# Checked before the packages go in, so nothing under /usr can stand in
# for what the install lacks.
stage=$tmp/stage
cmake --install "$build" --prefix "$stage" >/dev/null
libnub=$(find "$stage" -name libnub.so.0 -print -quit)
[ -n "$libnub" ] || fail "no libnub.so.0 under $stage"
libdir=$(dirname "$libnub") # <prefix>/lib/<multiarch>: configured for /usr
pcdir=$libdir/pkgconfig
plugindir=$(PKG_CONFIG_PATH=$pcdir pkg-config --variable=plugindir nub)
case "$(realpath -m "$plugindir")" in
"$stage"/*) ;;
*) fail "pkg-config --variable=plugindir nub is $plugindir, outside $stage" ;;
esac
plugindir=$(realpath "$plugindir")
[ -f "$plugindir/libnub-backend-mock.so" ] || fail "no mock backend in $plugindir"
for pc in nub nubguest nubguest-libc; do
	for v in libdir includedir; do
		d=$(PKG_CONFIG_PATH=$pcdir pkg-config --variable=$v $pc)
		[ -d "$d" ] && case "$(realpath "$d")" in "$stage"/*) true ;; *) false ;; esac ||
			fail "$pc.pc: $v $d is not a directory in $stage"
	done
done
log "install under $stage: its .pc files point into it (plugindir $plugindir)"

# The configured prefix is /usr: the installed programs carry no RPATH, so
# the dynamic loader is told where this libnub is, as a user would.
snub() { LD_LIBRARY_PATH=$libdir env -u NUB_BACKEND_PATH "$stage/bin/nub" "$@"; }
out=$(NUB_BACKEND=mock snub backends 2>&1) || { echo "$out"; fail "installed nub backends"; }
grep -qF "selected: mock (mock) $plugindir/libnub-backend-mock.so" <<<"$out" ||
	{ echo "$out"; fail "the install's nub does not select the install's mock"; }
guests=$stage/share/nub/guests
out=$(snub run "$guests/hello.elf" --backend mock --call greet world 2>&1) ||
	{ echo "$out"; fail "installed nub run on the installed hello.elf"; }
grep -qF '"hello, world"' <<<"$out" || { echo "$out"; fail "hello.elf's answer"; }
out=$(snub run "$guests/test_guest.elf" --backend mock --quiet --call echo hi 2>&1) ||
	{ echo "$out"; fail "installed nub run on the installed test_guest.elf"; }
grep -qF 'status 0, 2 bytes: "hi"' <<<"$out" || { echo "$out"; fail "test_guest.elf's echo"; }
sconf() { env -u NUB_BACKEND_PATH "$stage/bin/nub-conformance" "$@"; }
sconf --backend mock >"$tmp/conf.log" 2>&1 || { cat "$tmp/conf.log"; fail "nub-conformance on the mock"; }
if kvm_usable; then
	sconf --backend kvm >"$tmp/conf.log" 2>&1 || { cat "$tmp/conf.log"; fail "nub-conformance on KVM"; }
	out=$(snub run "$guests/hello.elf" --backend kvm --call greet world 2>&1) ||
		{ echo "$out"; fail "installed nub run on KVM"; }
	log "install: nub-conformance and nub run pass on KVM"
fi
log "install: nub and nub-conformance find its backends; the installed guests run"

mkdir -p "$tmp/stage-pkg-config"
(cd "$tmp/stage-pkg-config" &&
	make -f "$stage/share/doc/nub/examples/host-program/Makefile.pkg-config" PKG_CONFIG_PATH="$pcdir" \
		>/dev/null)
lddout=$(LD_LIBRARY_PATH=$libdir ldd "$tmp/stage-pkg-config/host-program")
grep -qF "libnub.so.0 => $libdir/libnub.so.0" <<<"$lddout" ||
	{ echo "$lddout"; fail "the pkg-config build does not use the install's libnub.so.0"; }
LD_LIBRARY_PATH=$libdir run_both "$tmp/stage-pkg-config" || fail "pkg-config build against $stage"
log "install: host program built with pkg-config (PKG_CONFIG_PATH=$pcdir): ok"

cmake -S "$stage/share/doc/nub/examples/host-program" -B "$tmp/stage-cmake" \
	-DCMAKE_PREFIX_PATH="$stage" >/dev/null
grep -qF "nub_DIR:PATH=$libdir/cmake/nub" "$tmp/stage-cmake/CMakeCache.txt" ||
	fail "find_package(nub) did not find $libdir/cmake/nub"
cmake --build "$tmp/stage-cmake" >/dev/null
lddout=$(ldd "$tmp/stage-cmake/host-program")
grep -qF "libnub.so.0 => $libdir/libnub.so.0" <<<"$lddout" ||
	{ echo "$lddout"; fail "the CMake build does not use the install's libnub.so.0"; }
run_both "$tmp/stage-cmake" || fail "CMake build against $stage"
log "install: host program built with CMake (-DCMAKE_PREFIX_PATH=$stage): ok"

# The third-party backend example, from the install alone: its copy under
# share/doc is the tree's, built against the install's headers only.
ex=$stage/share/doc/nub/examples/third-party-backend
diff -r "$root/examples/third-party-backend" "$ex" >/dev/null || fail "$ex differs from the tree's"
cmake -S "$ex" -B "$tmp/example" -DCMAKE_PREFIX_PATH="$stage" >/dev/null
grep -qF "NUB_INCLUDE_DIR:PATH=$stage/include" "$tmp/example/CMakeCache.txt" ||
	fail "the example backend did not take the install's headers"
cmake --build "$tmp/example" >/dev/null
so=$tmp/example/libnub-backend-example.so
out=$(NUB_BACKEND=$so snub backends 2>&1) || { echo "$out"; fail "nub backends on the example by path"; }
grep -qF "selected: example ($so) $so" <<<"$out" || { echo "$out"; fail "example by path"; }
out=$(LD_LIBRARY_PATH=$libdir NUB_BACKEND_PATH="$tmp/example" NUB_BACKEND=example \
	"$stage/bin/nub" backends 2>&1) || { echo "$out"; fail "nub backends on the example by name"; }
grep -qF "selected: example (example) $so" <<<"$out" || { echo "$out"; fail "example by name"; }
# What docs/writing-a-backend.md says the skeleton does: it stops at the
# first read-only mapping, in nub run and in every conformance test.
want="example: map_region: read-only memory not supported by this backend"
out=$(snub run "$guests/hello.elf" --backend "$so" --call greet world 2>&1) && rc=0 || rc=$?
[ "$rc" -eq 1 ] && grep -qF "nub run: evolve: $want (NUB_EUNSUPPORTED)" <<<"$out" ||
	{ echo "$out"; fail "nub run on the example: exit $rc, not the documented message"; }
out=$(sconf --backend "$so" 2>&1) && rc=0 || rc=$?
[ "$rc" -ne 0 ] && grep -qF "map slot 1: $want" <<<"$out" ||
	{ echo "$out"; fail "nub-conformance on the example: exit $rc, not the documented failure"; }
log "install: the third-party example builds from it, loads by path and by name, fails as documented"

# ---- 2. The Debian packages.
installed=1
$SUDO dpkg -i "${debs[@]}" >"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log"; exit 1; }
$SUDO ldconfig
log "installed: $(dpkg-query -W -f='${Package} ${Version}, ' "${pkgs[@]}")"

# The installed CLI finds the installed backends (plugin directory).
out=$(env -u NUB_BACKEND_PATH nub backends 2>&1 || true)
grep -q "usable.*/usr/lib/.*/nub/backends/libnub-backend-mock.so" <<<"$out" ||
	{ echo "$out"; log "ERROR: installed nub does not list the installed mock backend"; exit 1; }
env -u NUB_BACKEND_PATH nub-conformance --backend mock >/dev/null 2>&1 ||
	{ log "ERROR: installed nub-conformance fails on the mock"; exit 1; }
out=$(env -u NUB_BACKEND_PATH nub run /usr/share/nub/guests/hello.elf --backend mock --call greet world 2>&1) ||
	{ echo "$out"; log "ERROR: installed nub run on the packaged hello.elf"; exit 1; }
log "installed nub lists the packaged backends; nub-conformance passes on the mock; the packaged guests run"

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
