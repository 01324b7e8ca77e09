#!/usr/bin/env bash
# Fetch the Debian source packages nub's guests are built from (Lua 5.4 and
# SQLite for the file-tree tests, CPython 3.11 for the Python guest) into a
# cache, once:
#   ${NUB_SOURCE_CACHE:-$HOME/.cache/nub/src}/<package>-<version>/
# Nothing is vendored into the tree: the sources come from the machine's own
# Debian suite, through a deb-src entry this script adds beside the
# system's deb one (same URIs, suites and components). The build finds them
# there (CMake: NUB_SOURCE_CACHE). Re-running with everything cached does
# nothing.
set -euo pipefail
cache=${NUB_SOURCE_CACHE:-$HOME/.cache/nub/src}
pkgs=(lua5.4 sqlite3 zlib python3.11)
SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo

have() { compgen -G "$cache/$1-[0-9]*/" >/dev/null; }

# SQLite's source package is its source tree: the one-file amalgamation a
# guest compiles (sqlite3.c) is generated from it, once, with its own
# configure and tclsh.
prepare_sqlite() {
	local d
	for d in "$cache"/sqlite3-[0-9]*/; do
		[ -f "$d/sqlite3.c" ] && continue
		(cd "$d" && ./configure --disable-tcl --enable-shared=no >config.out 2>&1 &&
			make sqlite3.c >make.out 2>&1) || {
			tail -n 20 "$d/config.out" "$d/make.out" >&2 || true
			echo "fetch-sources: generating $d/sqlite3.c failed" >&2
			exit 1
		}
	done
}

# zlib: a static libz.a against musl, for the Python guest's zlib module
# (Debian's libz.a is built against glibc).
prepare_zlib() {
	local d
	for d in "$cache"/zlib-[0-9]*/; do
		[ -f "$d/libz.a" ] && continue
		(cd "$d" && CC=musl-gcc CFLAGS="-fPIE -O2 -fno-stack-protector" ./configure --static \
			>config.out 2>&1 && make -j"$(nproc)" libz.a >make.out 2>&1) || {
			tail -n 20 "$d/config.out" "$d/make.out" >&2 || true
			echo "fetch-sources: building $d/libz.a failed" >&2
			exit 1
		}
	done
}

# CPython: its static library (libpython3.11.a) built once against musl
# (Debian's musl-gcc), position-independent, for examples/python, with the
# C extension modules examples/python/Setup.local lists built in (and the
# two libraries two of them need: libmpdec for _decimal, expat for
# pyexpat). A changed Setup.local rebuilds what it changes. The wrapper
# answers nothing to --print-multiarch: gcc's (x86_64-linux-gnu) would
# contradict musl's triplet, which configure refuses.
setup_local=$(cd "$(dirname "$0")/.." && pwd)/examples/python/Setup.local
prepare_python() {
	local d setup zlib
	zlib=$(compgen -G "$cache/zlib-[0-9]*/" | head -1)
	setup=$(mktemp)
	sed "s|@ZLIB@|${zlib%/}|g" "$setup_local" >"$setup"
	for d in "$cache"/python3.11-[0-9]*/; do
		[ -f "$d/bld/libpython3.11.a" ] && cmp -s "$setup" "$d/bld/Modules/Setup.local" &&
			continue
		mkdir -p "$d/bld"
		printf '#!/bin/sh\n[ "$1" = --print-multiarch ] && exit 0\nexec musl-gcc "$@"\n' \
			>"$d/bld/musl-cc"
		chmod +x "$d/bld/musl-cc"
		(cd "$d/bld" && { [ -f Makefile ] || ../configure CC="$d/bld/musl-cc" --disable-shared \
			--without-ensurepip CFLAGS="-fPIE -fno-stack-protector -O2" >config.out 2>&1; } &&
			cp "$setup" Modules/Setup.local &&
			make -j"$(nproc)" libpython3.11.a Modules/_decimal/libmpdec/libmpdec.a \
				Modules/expat/libexpat.a >make.out 2>&1) || {
			tail -n 20 "$d/bld/config.out" "$d/bld/make.out" >&2 || true
			rm -f "$d/bld/Modules/Setup.local"
			echo "fetch-sources: building $d/bld/libpython3.11.a failed" >&2
			exit 1
		}
	done
}

# apt-get source of the newest version whose files the mirror has (it may
# list a security update it does not serve: then the one before).
fetch_one() {
	local p=$1 v
	(cd "$tmp" && apt-get source -qq "$p" >/dev/null 2>"$tmp/err") && return 0
	for v in $(apt-cache showsrc "$p" 2>/dev/null | sed -n 's/^Version: //p' | sort -rV); do
		(cd "$tmp" && apt-get source -qq "$p=$v" >/dev/null 2>"$tmp/err") && return 0
	done
	return 1
}

missing=()
for p in "${pkgs[@]}"; do have "$p" || missing+=("$p"); done
if [ ${#missing[@]} -eq 0 ]; then
	prepare_sqlite
	prepare_zlib
	prepare_python
	exit 0
fi

# deb-src beside the system's deb entries (deb822 or one-line format).
src=/etc/apt/sources.list.d/nub-deb-src.sources
if ! grep -rqs '^Types:.*deb-src\|^deb-src ' /etc/apt/sources.list /etc/apt/sources.list.d/; then
	if [ -f /etc/apt/sources.list.d/debian.sources ]; then
		sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources |
			$SUDO tee "$src" >/dev/null
	elif [ -f /etc/apt/sources.list ]; then
		sed -n 's/^deb /deb-src /p' /etc/apt/sources.list |
			$SUDO tee /etc/apt/sources.list.d/nub-deb-src.list >/dev/null
	else
		echo "fetch-sources: no Debian apt source found to add deb-src beside" >&2
		exit 1
	fi
	$SUDO apt-get update -qq
fi
mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
for p in "${missing[@]}"; do
	if ! fetch_one "$p"; then
		# A stale package list (deb-src added by someone else): refresh once.
		$SUDO apt-get update -qq
		fetch_one "$p" || {
			cat "$tmp/err" >&2
			echo "fetch-sources: apt-get source $p failed" >&2
			exit 1
		}
	fi
	for d in "$tmp/$p"-[0-9]*/; do
		mv "$d" "$cache/"
	done
	rm -rf "${tmp:?}"/*
done
prepare_sqlite
prepare_zlib
prepare_python
