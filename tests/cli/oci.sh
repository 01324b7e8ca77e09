#!/usr/bin/env bash
# Snapshots as OCI artifacts: `nub snapshot --oci DIR:TAG` writes two tags
# into one layout, Debian's skopeo copies one to another layout, `nub run
# oci:DIR:TAG` runs it from the copy (on the mock, and on KVM where
# /dev/kvm works); a changed blob, one of another size, a missing tag and a
# bad tag are refused, each by name.
set -u
nub=$1
fail=0
guest=$NUB_GUEST_DIR/test_guest.elf
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
. "$(dirname "$0")/lib/check.sh"
command -v skopeo >/dev/null || { echo "FAIL: no skopeo (scripts/install-deps.sh installs it)"; exit 1; }
check "save a warm snapshot as tag one" 0 "snapshot: $d/lay:one, hash" \
	"$nub" snapshot "$guest" --backend mock --oci "$d/lay:one" --call static_counter
check "save another tag into the same layout" 0 "snapshot: $d/lay:two, hash" \
	"$nub" snapshot "$guest" --backend mock --oci "$d/lay:two"
check "both tags listed" 0 '"org.opencontainers.image.ref.name":"two"' cat "$d/lay/index.json"
check "tag one still there" 0 '"org.opencontainers.image.ref.name":"one"' cat "$d/lay/index.json"
check "skopeo copies tag one" 0 "Writing manifest to image destination" \
	skopeo copy "oci:$d/lay:one" "oci:$d/copy:one"
backends=mock
[ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ] && backends="mock kvm"
for b in $backends; do
	# static_counter was called once before the snapshot: this call is the second.
	check "$b: run from the copy" 0 'status 0, 8 bytes: hex 0200000000000000 (i64 2)' \
		"$nub" run "oci:$d/copy:one" --backend "$b" --call static_counter
done
check "no such tag" 1 "$d/copy/index.json: no tag 'two' (NUB_ENOTFOUND)" \
	"$nub" run "oci:$d/copy:two" --backend mock --call static_counter
check "a bad tag" 1 "OCI tag '../x': 1 to 128 of [A-Za-z0-9_.-]" \
	"$nub" snapshot "$guest" --backend mock --oci "$d/lay:../x"
layer=$(grep -o '"digest":"sha256:[0-9a-f]*","size":[0-9]*}\]' "$d/copy/blobs/sha256/"* 2>/dev/null |
	head -1 | sed 's/.*sha256:\([0-9a-f]*\).*/\1/')
if [ -n "$layer" ] && [ -f "$d/copy/blobs/sha256/$layer" ]; then
	printf 'X' | dd of="$d/copy/blobs/sha256/$layer" bs=1 seek=100 conv=notrunc 2>/dev/null
	check "a changed layer is refused by digest" 1 \
		"$d/copy/blobs/sha256/$layer: " "$nub" run "oci:$d/copy:one" --backend mock
	check "... naming what the layout says" 1 "the layout says" \
		"$nub" run "oci:$d/copy:one" --backend mock
	printf 'X' >>"$d/copy/blobs/sha256/$layer"
	check "a layer of another size is refused before it is read" 1 \
		"$d/copy/blobs/sha256/$layer: " "$nub" run "oci:$d/copy:one" --backend mock
	check "... by its size" 1 "bytes, the layout says" \
		"$nub" run "oci:$d/copy:one" --backend mock
else
	echo "FAIL: no snapshot layer found in the copy's manifest"; fail=1
fi
exit $fail
