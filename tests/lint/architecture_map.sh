#!/bin/bash
# SPDX-License-Identifier: MIT
# docs/architecture.md's map (the ```text map block) is the source tree:
# every file under a folder the map opens (lists files of) is in it,
# build files aside, and every path it names exists. Every doc also names
# only paths that exist (backquoted paths under the tree's own folders).
#
# Map lines: two spaces of indent a level, then names separated by single
# spaces, then two or more spaces and a description. A name ending in /
# is a folder; the names under it are relative to it.
#
# usage: architecture_map.sh SOURCE_DIR
set -euo pipefail
cd "${1:?usage: $0 SOURCE_DIR}"
doc=docs/architecture.md

# The map's paths, one a line, folders with their trailing slash.
mapped=$(awk '
	/^```text map$/ { inmap = 1; next }
	inmap && /^```/ { exit }
	inmap && NF {
		match($0, /^ */); depth = RLENGTH / 2
		names = substr($0, RLENGTH + 1); sub(/  .*/, "", names)
		n = split(names, part, " ")
		for (i = 1; i <= n; i++) {
			path = ""
			for (d = 0; d < depth; d++) path = path dir[d]
			print path part[i]
			if (part[i] ~ /\/$/) dir[depth] = part[i]
		}
	}' "$doc")
[ -n "$mapped" ] || { echo "$doc: no \`\`\`text map block" >&2; exit 1; }

bad=0
while IFS= read -r p; do
	[ -e "$p" ] || { echo "$doc: the map names $p, which does not exist" >&2; bad=1; }
done <<<"$mapped"

# Folders whose files the map lists: those with a file directly under them.
opened=$(grep -v '/$' <<<"$mapped" | sed -n 's#/[^/]*$#/#p' | sort -u)
for d in $opened; do
	for f in "$d"*; do
		[ -f "$f" ] || continue
		case "${f##*/}" in CMakeLists.txt) continue ;; esac
		grep -qxF "$f" <<<"$mapped" ||
			{ echo "$doc: $f is not in the map" >&2; bad=1; }
	done
	for sub in "$d"*/; do
		[ -d "$sub" ] || continue
		grep -qxF "$sub" <<<"$mapped" ||
			{ echo "$doc: folder $sub is not in the map" >&2; bad=1; }
	done
done

# Paths any doc names: `dir/...` with an extension or a trailing slash,
# under the tree's own top-level folders. A * is a glob.
top='(include/nub|vmem|core|backends|guest|tools|tests|bench|examples|cmake|scripts|docs)'
while IFS=: read -r file line p; do
	# shellcheck disable=SC2086 # a glob in the doc is meant to expand
	compgen -G "$p" >/dev/null ||
		{ echo "$file:$line: names $p, which does not exist" >&2; bad=1; }
done < <(grep -onE "\`$top/[A-Za-z0-9_./*-]*(\.[A-Za-z0-9]+|/)\`" README.md docs/*.md |
	tr -d '`')

[ "$bad" = 0 ] || exit 1
echo "docs/architecture.md's map is the tree ($(wc -l <<<"$mapped") paths); docs name only existing paths"
