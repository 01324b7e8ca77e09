#!/usr/bin/env bash
# Fetch the Debian source packages nub's guests are built from (Lua 5.4 and
# SQLite for the file-tree tests; more as guests need them) into a cache,
# once:
#   ${NUB_SOURCE_CACHE:-$HOME/.cache/nub/src}/<package>-<version>/
# Nothing is vendored into the tree: the sources come from the machine's own
# Debian suite, through a deb-src entry this script adds beside the
# system's deb one (same URIs, suites and components). The build finds them
# there (CMake: NUB_SOURCE_CACHE). Re-running with everything cached does
# nothing.
set -euo pipefail
cache=${NUB_SOURCE_CACHE:-$HOME/.cache/nub/src}
pkgs=(lua5.4 sqlite3)
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
			tail -20 "$d/config.out" "$d/make.out" >&2 || true
			echo "fetch-sources: generating $d/sqlite3.c failed" >&2
			exit 1
		}
	done
}

missing=()
for p in "${pkgs[@]}"; do have "$p" || missing+=("$p"); done
if [ ${#missing[@]} -eq 0 ]; then
	prepare_sqlite
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
	if ! (cd "$tmp" && apt-get source -qq "$p" >/dev/null 2>"$tmp/err"); then
		# A stale package list (deb-src added by someone else): refresh once.
		$SUDO apt-get update -qq
		(cd "$tmp" && apt-get source -qq "$p" >/dev/null 2>"$tmp/err") || {
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
