#!/usr/bin/env bash
# Run the suites in tests/nested-kvm/suites.txt against real KVM, both ways:
#
#  - directly on the host's /dev/kvm when there is a usable one (hardware
#    KVM, or the software KVM `kvm_pvm` of clouds without nested
#    virtualisation: /sys/module/kvm_pvm exists);
#  - inside a nested VM: QEMU in software emulation (TCG) emulates an AMD CPU
#    with SVM, a Debian kernel inside loads kvm_amd, and the suites see a
#    real hardware-semantics /dev/kvm.
# Both must pass.
#
# usage: tests/nested-kvm/run.sh [--ci] [--build DIR] [--nested|--direct]
#   --ci       compact output (result lines and test output, no kernel noise)
#   --build    build directory with the programs (default: <repo>/build)
#   --nested   only the nested VM
#   --direct   only the host's /dev/kvm (fails when there is none)
# Environment: NUB_NESTED_TIMEOUT (whole QEMU run, s; default 1800),
#   NUB_NESTED_SUITE_TIMEOUT (each suite, s; default 900). Both only stop a
#   run that hangs: a normal run takes a small fraction of them on a loaded
#   machine too, so no verdict depends on its speed.
#   NUB_NESTED_SUITES (suites file; default tests/nested-kvm/suites.txt),
#   NUB_NESTED_KERNEL_DEB (a linux-image-*-amd64 .deb to use instead of
#   downloading one).
# Cache (kernel .deb, extracted tree, vmlinux, modules): <repo>/build/nested-kvm/.
# The kernel is fetched with `apt-get download` and unpacked with dpkg-deb;
# nothing in /boot or /lib/modules is touched.
# Exit status: 0 when every suite passed, 1 otherwise.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
ci=0 want_nested=1 want_direct=1 build=$root/build
while [ $# -gt 0 ]; do
	case "$1" in
	--ci) ci=1 ;;
	--nested) want_direct=0 ;;
	--direct) want_nested=0 ;;
	--build) build=$(cd "$2" && pwd); shift ;;
	*) echo "usage: $0 [--ci] [--build DIR] [--nested|--direct]" >&2; exit 2 ;;
	esac
	shift
done
suites=${NUB_NESTED_SUITES:-$here/suites.txt}
qemu_timeout=${NUB_NESTED_TIMEOUT:-1800}
suite_timeout=${NUB_NESTED_SUITE_TIMEOUT:-900}
cache=$root/build/nested-kvm
start=$(date +%s.%N)

log() { echo "nested-kvm: $*"; }
die() { echo "nested-kvm: ERROR: $*" >&2; exit 1; }
elapsed() { awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# Suite lines: "name: [VAR=v ...] program args". Prints "name<TAB>program".
suite_programs() {
	sed -e 's/\r$//' "$suites" | while IFS= read -r line; do
		case "$line" in '' | '#'*) continue ;; esac
		name=${line%%:*}
		[[ "$name" =~ ^[A-Za-z0-9._-]+$ ]] || die "$suites: bad suite name in '$line'"
		prog=
		for w in ${line#*:}; do
			case "$w" in *=*) ;; *) prog=$w; break ;; esac
		done
		[ -n "$prog" ] || die "$suites: no program in '$line'"
		printf '%s\t%s\n' "$name" "$prog"
	done
}

ensure_built() {
	local missing=0
	while IFS=$'\t' read -r _ prog; do
		[ -x "$build/$prog" ] || missing=1
	done < <(suite_programs)
	[ -d "$build/backends" ] || missing=1
	if [ $missing -eq 1 ]; then
		log "building in $build"
		cmake -S "$root" -B "$build" >/dev/null
		cmake --build "$build" -j"$(nproc)" >/dev/null
	fi
	while IFS=$'\t' read -r name prog; do
		[ -x "$build/$prog" ] || die "suite $name: $build/$prog is not an executable"
	done < <(suite_programs)
}

# ---------------------------------------------------------------- direct run

run_direct() {
	local pass=0 fail=0 name cmd rc
	log "host has /dev/kvm ($(kvm_kind)): running suites directly"
	while IFS= read -r line; do
		case "$line" in '' | '#'*) continue ;; esac
		name=${line%%:*}
		cmd=${line#*:}
		echo "NUBKVM: BEGIN $name"
		set +e
		(cd "$build" && NUB_BUILD_DIR=$build NUB_BACKEND_PATH=$build/backends \
			NUB_PLUGIN_BUILD_DIR=$build/backends NUB_TEST_BACKEND_DIR=$build/tests/backends \
			NUB_GUEST_DIR=$build/guest timeout "$suite_timeout" sh -c "$cmd" </dev/null 2>&1)
		rc=$?
		set -e
		if [ $rc -eq 0 ]; then
			pass=$((pass + 1)); echo "NUBKVM: RESULT $name PASS (exit 0)"
		else
			fail=$((fail + 1)); echo "NUBKVM: RESULT $name FAIL (exit $rc)"
		fi
	done < <(sed -e 's/\r$//' "$suites")
	log "$pass passed, $fail failed (direct, $(elapsed) s)"
	[ $fail -eq 0 ] && [ $pass -gt 0 ]
}

# ------------------------------------------------------------------- kernel

pick_kernel_deb() {
	if [ -n "${NUB_NESTED_KERNEL_DEB:-}" ]; then
		[ -f "$NUB_NESTED_KERNEL_DEB" ] || die "NUB_NESTED_KERNEL_DEB=$NUB_NESTED_KERNEL_DEB missing"
		echo "$NUB_NESTED_KERNEL_DEB"
		return
	fi
	local pkg
	pkg=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' 2>/dev/null |
		awk '{print $1}' | sort -V | tail -1)
	if [ -z "$pkg" ]; then
		# Package lists may be missing on a fresh machine.
		apt-get update -qq >/dev/null 2>&1 || true
		pkg=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' 2>/dev/null |
			awk '{print $1}' | sort -V | tail -1)
	fi
	mkdir -p "$cache/deb"
	if [ -z "$pkg" ]; then
		# Offline: fall back to whatever was downloaded before.
		local old
		old=$(ls "$cache"/deb/linux-image-6.1.0-*-amd64_*.deb 2>/dev/null | sort -V | tail -1)
		[ -n "$old" ] || die "no linux-image-6.1.0-*-amd64 package found with apt-cache"
		echo "$old"
		return
	fi
	local deb
	deb=$(ls "$cache"/deb/"${pkg}"_*.deb 2>/dev/null | tail -1 || true)
	if [ -z "$deb" ]; then
		log "downloading $pkg" >&2
		(cd "$cache/deb" && apt-get download -q "$pkg" >/dev/null 2>&1) ||
			die "apt-get download $pkg failed"
		deb=$(ls "$cache"/deb/"${pkg}"_*.deb | tail -1)
	fi
	echo "$deb"
}

# The bzImage's payload is the compressed ELF vmlinux; booting that ELF
# directly (PVH entry) skips decompression inside the slow emulated CPU.
extract_vmlinux() {
	python3 - "$1" "$2" <<'PY'
import subprocess, sys
src, dst = sys.argv[1], sys.argv[2]
data = open(src, 'rb').read()
for magic, cmd in ((b'\xfd7zXZ\x00', ['xz', '-dc', '--single-stream']),
                   (b'\x28\xb5\x2f\xfd', ['zstd', '-qdc']),
                   (b'\x1f\x8b\x08\x00', ['gzip', '-dc'])):
    i = data.find(magic)
    while i >= 0:
        p = subprocess.run(cmd, input=data[i:], capture_output=True)
        if p.stdout[:4] == b'\x7fELF':
            open(dst, 'wb').write(p.stdout)
            sys.exit(0)
        i = data.find(magic, i + 1)
sys.exit('no ELF payload found in ' + src)
PY
}

# Prepares $kdir with vmlinux and decompressed modules; sets $kver.
prepare_kernel() {
	local deb tree
	deb=$(pick_kernel_deb)
	kver=$(basename "$deb" | sed -E 's/^linux-image-([^_]+)_.*/\1/')
	kdir=$cache/kernel-$kver
	[ -f "$kdir/.ready" ] && return
	log "unpacking $(basename "$deb")"
	rm -rf "$kdir"
	tree=$kdir/tree
	mkdir -p "$tree" "$kdir/modules"
	dpkg-deb -x "$deb" "$tree"
	extract_vmlinux "$tree/boot/vmlinuz-$kver" "$kdir/vmlinux"
	local m f ext
	for m in kernel/virt/lib/irqbypass kernel/drivers/crypto/ccp/ccp kernel/arch/x86/kvm/kvm \
		kernel/arch/x86/kvm/kvm-amd; do
		f=$tree/lib/modules/$kver/$m.ko
		for ext in "" .xz .zst .gz; do [ -e "$f$ext" ] && break; done
		[ -e "$f$ext" ] || die "module $m missing in $deb"
		# busybox insmod cannot decompress: store them plain.
		case "$ext" in
		"") cp "$f" "$kdir/modules/" ;;
		.xz) xz -dc "$f$ext" >"$kdir/modules/$(basename "$m").ko" ;;
		.zst) zstd -qdc "$f$ext" >"$kdir/modules/$(basename "$m").ko" ;;
		.gz) gzip -dc "$f$ext" >"$kdir/modules/$(basename "$m").ko" ;;
		esac
	done
	# Only vmlinux and the modules are needed from here on.
	rm -rf "$tree"
	touch "$kdir/.ready"
}

# ---------------------------------------------------------------- initramfs

# Copy an ELF and, once each, every shared library ldd names for it
# (including the dynamic loader), at their absolute paths under $rootfs.
copy_with_libs() {
	local src=$1 dst=$2 lib
	mkdir -p "$(dirname "$dst")"
	cp -L "$src" "$dst"
	while read -r lib; do
		[ -e "$rootfs$lib" ] && continue
		mkdir -p "$rootfs$(dirname "$lib")"
		cp -L "$lib" "$rootfs$lib"
	done < <(ldd "$src" 2>/dev/null | sed -nE 's@.*=> (/[^ ]+) .*@\1@p; s@^[[:space:]]*(/[^ ]+) \(0x.*@\1@p')
}

# The host programs '#@tools:' lines name, into the VM's /bin, and the
# build directory's files '#@files:' lines name. gdb starts its embedded
# Python, which needs the codecs of its standard library (and a few
# modules they import) at the path it was built with.
copy_tools() {
	local tool path py lib m data
	for tool in $(sed -nE 's/^#@tools:(.*)/\1/p' "$suites"); do
		path=$(command -v "$tool") || die "suites need $tool (scripts/install-deps.sh)"
		copy_with_libs "$path" "$rootfs/bin/$tool"
		[ "$tool" = gdb ] || continue
		lib=$(ldd "$path" | sed -nE 's@.*libpython(3\.[0-9]+)\.so.*@\1@p' | head -1)
		[ -n "$lib" ] || continue
		# Its data directory: the Python gdb module, the target DTDs.
		data=$(gdb -nx -batch -ex 'show data-directory' 2>/dev/null |
			sed -nE 's/.*"(.*)"\.$/\1/p')
		if [ -d "$data" ]; then
			mkdir -p "$rootfs$(dirname "$data")"
			cp -r "$data" "$rootfs$data"
		fi
		py=/usr/lib/python$lib
		mkdir -p "$rootfs$py"
		cp -r "$py/encodings" "$rootfs$py/"
		for m in codecs io abc os stat posixpath genericpath _collections_abc _sitebuiltins \
			site types functools collections keyword operator reprlib heapq warnings enum re \
			copyreg weakref _weakrefset contextlib traceback linecache tokenize token \
			textwrap importlib copy sre_compile sre_parse sre_constants; do
			if [ -e "$py/$m.py" ]; then cp "$py/$m.py" "$rootfs$py/"; fi
			if [ -d "$py/$m" ]; then cp -r "$py/$m" "$rootfs$py/"; fi
		done
	done
	mkdir -p "$rootfs/usr/bin"
	ln -sf /bin/busybox "$rootfs/usr/bin/env"
	for f in $(sed -nE 's/^#@files:(.*)/\1/p' "$suites"); do
		[ -f "$build/$f" ] || die "$suites: #@files: $build/$f missing"
		mkdir -p "$(dirname "$rootfs/nub/$f")"
		cp "$build/$f" "$rootfs/nub/$f"
	done
}

build_initramfs() {
	rootfs=$cache/rootfs
	rm -rf "$rootfs"
	mkdir -p "$rootfs"/{bin,sbin,proc,sys,dev,tmp,lib/modules,nub/backends,nub/guest}
	local busybox
	busybox=$(command -v busybox || true)
	[ -n "$busybox" ] && ! ldd "$busybox" >/dev/null 2>&1 ||
		die "a static busybox is needed (apt-get install busybox-static)"
	cp "$busybox" "$rootfs/bin/busybox"
	cp "$here/init" "$rootfs/init"
	chmod +x "$rootfs/init"
	cp "$kdir"/modules/*.ko "$rootfs/lib/modules/"
	sed -e 's/\r$//' "$suites" >"$rootfs/nub/suites.txt"
	local prog f
	while IFS=$'\t' read -r _ prog; do
		copy_with_libs "$build/$prog" "$rootfs/nub/$prog"
	done < <(suite_programs)
	for f in "$build"/backends/*.so "$build"/tests/backends/*.so; do
		[ -e "$f" ] || continue
		copy_with_libs "$f" "$rootfs/nub/${f#"$build"/}"
	done
	for f in "$build"/core/libnub.so* "$build"/tools/nub; do
		[ -e "$f" ] || continue
		copy_with_libs "$f" "$rootfs/nub/${f#"$build"/}"
	done
	copy_tools
	for f in "$build"/guest/*.elf; do
		[ -e "$f" ] && cp "$f" "$rootfs/nub/guest/"
	done
	# The Python guest's standard library (guest/python/lib/python311.zip).
	[ -d "$build/guest/python" ] && cp -r "$build/guest/python" "$rootfs/nub/guest/"
	# Some loaders and tools look for the library path cache; an empty one
	# is fine, the libraries sit at the paths ldd reported.
	(cd "$rootfs" && find . | cpio -o -H newc --quiet) >"$cache/initrd.cpio"
}

# ------------------------------------------------------------------ nested

run_nested() {
	command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing (scripts/install-deps.sh)"
	local bios=/usr/share/qemu/qboot.rom
	[ -f "$bios" ] || die "$bios missing (qemu-system-x86)"
	prepare_kernel
	build_initramfs
	log "kernel $kver, initramfs $(du -h "$cache/initrd.cpio" | cut -f1), prepared in $(elapsed) s"
	local serial=$cache/serial.log
	local boot_start
	boot_start=$(date +%s.%N)
	: >"$serial" # exists before tail opens it (the redirect below runs in the background job)
	set +e
	timeout "$qemu_timeout" qemu-system-x86_64 -accel tcg -cpu EPYC -smp 1 -m 1024 -nographic \
		-net none -bios "$bios" -no-reboot -kernel "$kdir/vmlinux" -initrd "$cache/initrd.cpio" \
		-append "console=ttyS0 quiet panic=-1 nubkvm_timeout=$suite_timeout" \
		</dev/null >"$serial" 2>&1 &
	local qpid=$!
	if [ $ci -eq 1 ]; then
		tail -n +1 -f --pid=$qpid "$serial" | grep --line-buffered -vE '^qemu-system-x86_64: warning|^\[ *[0-9]+\.[0-9]+\]'
	else
		tail -n +1 -f --pid=$qpid "$serial"
	fi
	wait $qpid
	local qrc=$?
	set -e
	local boot_s
	boot_s=$(awk -v a="$boot_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	[ $qrc -eq 124 ] && log "QEMU killed after ${qemu_timeout}s"
	judge "$serial" "$boot_s"
}

# Pass only if the final marker is there, every suite has a PASS line and
# the counts agree with the suites file.
judge() {
	local serial=$1 boot_s=$2 want pass fail done_line
	want=$(suite_programs | wc -l)
	pass=$(grep -c '^NUBKVM: RESULT [^ ]* PASS' "$serial" || true)
	fail=$(grep -c '^NUBKVM: RESULT [^ ]* FAIL' "$serial" || true)
	done_line=$(grep -m1 '^NUBKVM: DONE ' "$serial" || true)
	log "$pass passed, $fail failed (nested VM $boot_s s, total $(elapsed) s; log $serial)"
	if [ -z "$done_line" ]; then
		log "FAILED: no final marker (VM crashed, hung or timed out)"
		return 1
	fi
	if [ "$pass" -ne "$want" ] || [ "$fail" -ne 0 ]; then
		log "FAILED: $want suites, $pass passed, $fail failed"
		return 1
	fi
	case "$done_line" in *"pass=$want fail=0"*) ;; *)
		log "FAILED: marker disagrees: $done_line"; return 1 ;; esac
	log "OK"
}

# What the host's /dev/kvm is: the software KVM (kvm_pvm) or hardware.
kvm_kind() {
	if [ -d /sys/module/kvm_pvm ]; then
		echo "software KVM: pvm"
	elif [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; then
		echo "hardware KVM"
	else
		echo "unknown KVM"
	fi
}

host_kvm_usable() { [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; }

[ -f "$suites" ] || die "suites file $suites missing"
ensure_built
rc=0
if [ $want_direct -eq 1 ]; then
	if host_kvm_usable; then
		run_direct || rc=1
	elif [ $want_nested -eq 0 ]; then
		die "--direct: no usable /dev/kvm on this host"
	else
		log "no usable /dev/kvm on this host: direct run skipped, nested only"
	fi
fi
if [ $want_nested -eq 1 ]; then
	start=$(date +%s.%N)
	run_nested || rc=1
fi
exit $rc
