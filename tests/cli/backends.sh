#!/usr/bin/env bash
# `nub backends`: mock usable when chosen, kvm refused with its probe reason
# (or usable where /dev/kvm works), bad specs refused by name, never a crash.
set -u
nub=$1
fail=0
. "$(dirname "$0")/lib/check.sh"
check "mock selected and usable" 0 "selected: mock (mock)" env NUB_BACKEND=mock "$nub" backends
check "mock listed as usable" 0 "mock     usable" env NUB_BACKEND=mock "$nub" backends
if [ -c /dev/kvm ] && [ -r /dev/kvm ]; then
	check "kvm usable here" 0 "selected: kvm" env NUB_BACKEND=kvm "$nub" backends
else
	check "kvm refused with probe reason" 1 "/dev/kvm: " env NUB_BACKEND=kvm "$nub" backends
	check "kvm refusal names the backend" 1 "backend 'kvm' is not usable here" \
		env NUB_BACKEND=kvm "$nub" backends
fi
check "mshv probe reason shown" 0 "/dev/mshv: " env NUB_BACKEND=mock "$nub" backends
check "missing path refused" 1 "/nonexistent/x.so: backend not found" \
	env NUB_BACKEND=/nonexistent/x.so "$nub" backends
check "a path whose probe declines is listed" 1 \
	"declines unusable ABI 1.4  $NUB_TEST_BACKEND_DIR/libnub-backend-declines.so" \
	env NUB_BACKEND="$NUB_TEST_BACKEND_DIR/libnub-backend-declines.so" "$nub" backends
check "... with its probe's reason" 1 "         reason: no hypervisor in this test" \
	env NUB_BACKEND="$NUB_TEST_BACKEND_DIR/libnub-backend-declines.so" "$nub" backends
check "wrong ABI refused" 1 "(major versions differ)" \
	env NUB_BACKEND="$NUB_TEST_BACKEND_DIR/libnub-backend-oldmajor.so" "$nub" backends
check "a backend calling libnub's nub_strerror loads in nub" 0 "calls libnub: NUB_EPROBE" \
	env NUB_BACKEND="$NUB_TEST_BACKEND_DIR/libnub-backend-callslibnub.so" "$nub" backends
check "every backend in NUB_BACKEND_PATH is listed" 0 "declines unusable" \
	env NUB_BACKEND=mock NUB_BACKEND_PATH="$NUB_TEST_BACKEND_DIR" "$nub" backends
check "a non-backend .so in the path is listed with its error" 0 "not a nub backend" \
	env NUB_BACKEND=mock NUB_BACKEND_PATH="$NUB_TEST_BACKEND_DIR" "$nub" backends
check "an invalid exit reason names the backend" 1 \
	"callslibnub: run_vcpu: returned exit reason 119, which is not a valid" \
	"$nub" run "$NUB_GUEST_DIR/hello.elf" \
	--backend "$NUB_TEST_BACKEND_DIR/libnub-backend-callslibnub.so"
check "unknown command" 2 "unknown command" "$nub" frobnicate
check "version" 0 "backend ABI 1." "$nub" version
exit $fail
