#!/usr/bin/env bash
# Every C library guest in $NUB_GUEST_DIR links the runtime's allocator and
# memcpy/memmove/memset (guest/lib/malloc.c, heap.c, memcopy.c), and none
# of musl's: two allocators would both move the program break, and musl's
# made an interpreter's requests ~1.5x slower. So that this cannot pass
# vacuously, the forbidden names are first found in musl's own libc.a, and
# at least one C library guest must be there.
set -u
fail=0
musl=${NUB_MUSL_LIBC:-/usr/lib/x86_64-linux-musl/libc.a}
# mallocng's metadata, lite_malloc's bump allocator, memmove.s's helper
forbidden='__malloc_alloc_meta|__simple_malloc|__memcpy_fwd'
found=$(nm -A "$musl" 2>/dev/null | grep -E -o " [TtDdBb] ($forbidden)$" | sort -u | wc -l)
if [ "$found" -ne 3 ]; then
	echo "FAIL: musl's libc.a ($musl) does not define the 3 names checked for ($found found)"
	exit 1
fi
n=0
for g in "$NUB_GUEST_DIR"/*.elf; do
	syms=$(nm "$g" 2>/dev/null)
	grep -q ' nub_rt_syscall$' <<<"$syms" || continue # the bare flavour
	n=$((n + 1))
	bad=$(grep -E -o " [TtDdBb] ($forbidden)$" <<<"$syms" | awk '{ print $2 }' | sort -u)
	if [ -n "$bad" ]; then
		echo "FAIL: $(basename "$g") links musl's allocator or memcpy: $(echo $bad)"; fail=1
	elif ! grep -q ' T nub_heap_alloc$' <<<"$syms"; then
		echo "FAIL: $(basename "$g") has no nub_heap_alloc"; fail=1
	else
		echo "ok: $(basename "$g"): the runtime's malloc and memcpy"
	fi
done
if [ "$n" -eq 0 ]; then echo "FAIL: no C library guest in $NUB_GUEST_DIR"; exit 1; fi
exit $fail
