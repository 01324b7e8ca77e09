#!/usr/bin/env bash
# libnub.so exports exactly the functions include/nub/ declares with NUB_API,
# each under the soname's version node, and nothing else (no internal
# helper, no libc or libelf symbol re-exported).
set -u
build=${NUB_BUILD_DIR:?run through ctest}
src=${NUB_SOURCE_DIR:?run through ctest}
lib=$(ls "$build"/core/libnub.so.* 2>/dev/null | head -1)
[ -n "$lib" ] || { echo "FAIL: no libnub.so.* in $build/core"; exit 1; }
want=$(cat "$src"/include/nub/*.h | tr '\n' ' ' |
	grep -oE 'NUB_API[^;{]*\bnub_[a-z0-9_]+ *\(' | grep -oE 'nub_[a-z0-9_]+ *\($' |
	tr -d ' (' | sort -u)
have=$(nm -D --defined-only "$lib" | awk '$2 != "A" { print $3 }' | sort -u)
unversioned=$(grep -v '@@NUB_0$' <<<"$have" || true)
have=$(sed 's/@@NUB_0$//' <<<"$have" | sort -u)
fail=0
if [ -n "$unversioned" ]; then
	echo "FAIL: exported without the NUB_0 version node:"; echo "$unversioned"; fail=1
fi
extra=$(comm -13 <(echo "$want") <(echo "$have"))
missing=$(comm -23 <(echo "$want") <(echo "$have"))
[ -z "$extra" ] || { echo "FAIL: exported but not public API:"; echo "$extra"; fail=1; }
[ -z "$missing" ] || { echo "FAIL: public API not exported:"; echo "$missing"; fail=1; }
n=$(wc -l <<<"$want")
[ "$n" -ge 30 ] || { echo "FAIL: only $n NUB_API functions found in the headers"; fail=1; }
soname=$(objdump -p "$lib" | awk '$1 == "SONAME" { print $2 }')
[ "$soname" = libnub.so.0 ] || { echo "FAIL: SONAME '$soname', want libnub.so.0"; fail=1; }
[ $fail -eq 0 ] && echo "ok: $n functions exported, exactly the public API, version NUB_0, SONAME $soname"
exit $fail
