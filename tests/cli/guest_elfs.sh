#!/usr/bin/env bash
# Every guest ELF in $NUB_GUEST_DIR is something the host loader can take:
# static PIE (no interpreter), only R_X86_64_RELATIVE relocations, no
# undefined symbols, entry inside an executable PT_LOAD, no W+X segment, and
# the nub ABI note (in a PT_NOTE) with the version of include/nub/guest_abi.h.
# The checker is also run on files that must be refused, so it cannot pass
# vacuously. ($1, the nub CLI, is one of those: a dynamic executable.)
set -u
nub=$1
fail=0
want_version=$(awk '/#define NUB_GUEST_ABI_VERSION/ { sub(/u$/, "", $3); print $3 }' \
	"$NUB_SOURCE_DIR/include/nub/guest_abi.h")
want_type=$(awk '/#define NUB_NOTE_TYPE_ABI/ { sub(/u$/, "", $3); print tolower($3) }' \
	"$NUB_SOURCE_DIR/include/nub/guest_abi.h")
[ -n "$want_version" ] && [ -n "$want_type" ] || { echo "FAIL: cannot read guest_abi.h"; exit 1; }

# check_elf <file>: prints the first problem and returns 1, or returns 0.
check_elf() {
	local f=$1 hdr phdrs relocs undef notes entry
	hdr=$(readelf -hW "$f" 2>&1) || { echo "not an ELF: $hdr"; return 1; }
	grep -Eq 'Type:[[:space:]]+DYN' <<<"$hdr" || { echo "not a PIE (type not DYN)"; return 1; }
	grep -q 'X86-64' <<<"$hdr" || { echo "not x86-64"; return 1; }
	phdrs=$(readelf -lW "$f")
	if grep -q 'INTERP' <<<"$phdrs"; then echo "has PT_INTERP (dynamic)"; return 1; fi
	relocs=$(readelf -rW "$f" | awk '/^[0-9a-f]+ +[0-9a-f]+ +R_/ { print $3 }' | sort -u)
	if [ -n "$relocs" ] && [ "$relocs" != "R_X86_64_RELATIVE" ]; then
		echo "relocation types other than RELATIVE: $(echo $relocs)"; return 1
	fi
	undef=$(nm -u "$f" 2>/dev/null; readelf --dyn-syms -W "$f" |
		awk '$7 == "UND" && $8 != "" { print $8 }')
	if [ -n "$undef" ]; then echo "undefined symbols: $(echo $undef)"; return 1; fi
	entry=$(awk '/Entry point address:/ { print $4 }' <<<"$hdr")
	# LOAD lines: Type Offset VirtAddr PhysAddr FileSiz MemSiz Flg... Align
	local vaddr memsz flags inx=0 loads=0 idx note_idx=-1
	while read -r vaddr memsz flags; do
		loads=$((loads + 1))
		case $flags in *W*E*) echo "W+X segment at $vaddr"; return 1 ;; esac
		case $flags in *E*)
			if (( entry >= vaddr && entry < vaddr + memsz )); then inx=1; fi ;;
		esac
	done < <(awk '$1 == "LOAD" { f = ""; for (i = 7; i < NF; i++) f = f $i; print $3, $6, f }' \
		<<<"$phdrs")
	[ "$loads" -gt 0 ] || { echo "no PT_LOAD"; return 1; }
	[ "$inx" = 1 ] || { echo "entry $entry not in an executable PT_LOAD"; return 1; }
	# Index of the PT_NOTE among the program headers, then its sections.
	idx=0
	while read -r type; do
		[ "$type" = NOTE ] && note_idx=$idx
		idx=$((idx + 1))
	done < <(sed -n '/Program Headers:/,/Section to Segment/p' <<<"$phdrs" |
		awk '$1 ~ /^[A-Z_]+$/ && $2 ~ /^0x/ { print $1 }')
	[ "$note_idx" -ge 0 ] || { echo "no PT_NOTE segment"; return 1; }
	sed -n '/Section to Segment/,$p' <<<"$phdrs" |
		awk -v n="$(printf '%02d' "$note_idx")" '$1 == n' | grep -q '\.note\.nub' ||
		{ echo "section .note.nub not in the PT_NOTE segment"; return 1; }
	notes=$(readelf -nW "$f" | awk '
		/Displaying notes found in:/ { sec = $NF }
		sec == ".note.nub" && $1 == "nub" { owner = 1 }
		# The ABI note; readelf prints its descriptor on the same line.
		sec == ".note.nub" && $1 == "nub" && /0x4e554201/ && !type { type = $0; desc = $0 }
		END { print owner "|" type "|" desc }')
	[ "${notes%%|*}" = "1" ] || { echo "no 'nub' note in section .note.nub"; return 1; }
	grep -qi "(${want_type})\|${want_type}" <<<"$notes" ||
		{ echo "nub note has the wrong type: $notes"; return 1; }
	local bytes version
	bytes=$(sed 's/.*description data: *//' <<<"${notes##*|}")
	read -r b0 b1 b2 b3 <<<"$bytes"
	version=$(( 16#${b0:-0} | 16#${b1:-0} << 8 | 16#${b2:-0} << 16 | 16#${b3:-0} << 24 ))
	[ "$version" = "$want_version" ] ||
		{ echo "ABI version $version in note, want $want_version"; return 1; }
	return 0
}

expect_ok() {
	local why
	if why=$(check_elf "$1"); then echo "ok: $(basename "$1")"; else
		echo "FAIL: $(basename "$1"): $why"; fail=1; fi
}
expect_refused() { # expect_refused <desc> <file> <needle>
	local why
	if why=$(check_elf "$2"); then echo "FAIL: $1 accepted"; fail=1
	elif ! grep -qF -- "$3" <<<"$why"; then echo "FAIL: $1 refused for '$why', want '$3'"; fail=1
	else echo "ok: $1 refused ($why)"; fi
}

if [ -f "$NUB_GUEST_DIR/VMEM_PENDING" ]; then
	echo "SKIP: guests not built: guests not built (see guest/CMakeLists.txt)"
	exit 0
fi
for g in hello calc test_guest; do
	[ -f "$NUB_GUEST_DIR/$g.elf" ] || { echo "FAIL: $NUB_GUEST_DIR/$g.elf missing"; fail=1; }
done
shopt -s nullglob
for f in "$NUB_GUEST_DIR"/*.elf; do expect_ok "$f"; done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
expect_refused "the nub CLI (dynamic executable)" "$nub" "PT_INTERP"
if [ -f "$NUB_GUEST_DIR/hello.elf" ]; then
	objcopy --remove-section .note.nub "$NUB_GUEST_DIR/hello.elf" "$tmp/nonote.elf"
	expect_refused "hello without its note" "$tmp/nonote.elf" ".note.nub"
	objcopy --dump-section .note.nub="$tmp/note.bin" "$NUB_GUEST_DIR/hello.elf"
	printf '\x63\x00\x00\x00' | dd of="$tmp/note.bin" bs=1 seek=16 conv=notrunc status=none
	objcopy --update-section .note.nub="$tmp/note.bin" "$NUB_GUEST_DIR/hello.elf" \
		"$tmp/v99.elf"
	expect_refused "hello with ABI version 99" "$tmp/v99.elf" "ABI version 99 in note"
fi
exit $fail
