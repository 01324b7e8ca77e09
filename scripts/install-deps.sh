#!/usr/bin/env bash
# Install everything nub needs to build and test, from Debian's repositories.
set -euo pipefail
pkgs=(build-essential cmake pkg-config clang clang-format valgrind libelf-dev libcmocka-dev
      libxxhash-dev libsodium-dev qemu-system-x86 busybox-static cpio xz-utils zstd python3
      libclang-rt-14-dev musl-dev duktape-dev dpkg-dev tcl musl-tools skopeo gdb)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Debian source packages the guests are built from (cached).
"$(dirname "$0")/fetch-sources.sh"
