/* SPDX-License-Identifier: MIT */
/* Register slots: GPRs, sregs, FPU/MXCSR, XCR0, MSRs. Every one first
 * completes an OUT the last exit left pending, so what is read or written is
 * the state after the instruction (see enum kvm_pending). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kvm_internal.h"

/* Upper bound on MSRs per call: keeps the heap request small and bounded. */
#define KVM_NUB_MAX_MSRS 256u

/* EINVAL from a setter means KVM refused the values (an invalid CR/EFER
 * combination, reserved bits); anything else is a system failure. */
static int kvm_state_error(const char *what, char *err, size_t err_cap)
{
	int e = errno;

	return kvm_fail(err, err_cap, e == EINVAL ? NUB_EINVAL : NUB_ESYS, "%s: %s", what,
	                strerror(e));
}

#define KVM_STATE_PRELUDE(vm, err, err_cap)                                                        \
	do {                                                                                       \
		int pre_ = kvm_complete_pending(vm, err, err_cap);                                 \
		if (pre_)                                                                          \
			return pre_;                                                               \
	} while (0)

/* With KVM_CAP_SYNC_REGS the registers go through the shared kvm_run page:
 * KVM loads them at the next KVM_RUN (and clears the dirty bit), so a guest
 * call costs one system call (the run) instead of two. */
int kvm_set_regs(struct nub_vm *vm, const struct nub_regs *regs, char *err, size_t err_cap)
{
	struct kvm_regs k;

	KVM_STATE_PRELUDE(vm, err, err_cap);
	kvm_convert_regs_from_nub(&k, regs);
	if (vm->has_sync_regs) {
		vm->run->s.regs.regs = k;
		vm->run->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
		return 0;
	}
	if (kvm_ioctl(vm->vcpu_fd, KVM_SET_REGS, &k) < 0)
		return kvm_state_error("KVM_SET_REGS", err, err_cap);
	return 0;
}

int kvm_get_regs(struct nub_vm *vm, struct nub_regs *regs, char *err, size_t err_cap)
{
	struct kvm_regs k;

	KVM_STATE_PRELUDE(vm, err, err_cap);
	/* KVM writes the registers there at every exit (kvm_valid_regs) and
	 * loads them from there at the next run when core set them. */
	if (vm->has_sync_regs) {
		kvm_convert_regs_to_nub(regs, &vm->run->s.regs.regs);
		return 0;
	}
	if (kvm_ioctl(vm->vcpu_fd, KVM_GET_REGS, &k) < 0)
		return kvm_state_error("KVM_GET_REGS", err, err_cap);
	kvm_convert_regs_to_nub(regs, &k);
	return 0;
}

/* Whether `k` differs from the sregs last set only where a CPL3 guest can
 * make it differ (segments, their bases; CR2 by a page fault): the control
 * registers, descriptor tables and EFER KVM validated last time. */
static int kvm_sregs_segments_only(const struct nub_vm *vm, const struct kvm_sregs *k)
{
	struct kvm_sregs a = *k;

	if (!vm->sregs_known)
		return 0;
	a.cs = vm->sregs_set.cs;
	a.ds = vm->sregs_set.ds;
	a.es = vm->sregs_set.es;
	a.fs = vm->sregs_set.fs;
	a.gs = vm->sregs_set.gs;
	a.ss = vm->sregs_set.ss;
	a.cr2 = vm->sregs_set.cr2;
	return !memcmp(&a, &vm->sregs_set, sizeof(a));
}

/* A restore writes the same clean sregs every time; each vCPU ioctl costs
 * a vcpu_load/put, which on the software KVM reads a dozen MSRs (a third of
 * a restore's time there). Through the sync page KVM applies them at the
 * next KVM_RUN with the same __set_sregs, no extra entry. Only when the
 * control part is what KVM already accepted: an invalid CR/EFER combination
 * is then refused here, by the ioctl, not by a later run. */
int kvm_set_sregs(struct nub_vm *vm, const struct nub_sregs *sregs, char *err, size_t err_cap)
{
	struct kvm_sregs k;

	KVM_STATE_PRELUDE(vm, err, err_cap);
	kvm_convert_sregs_from_nub(&k, sregs);
	if (vm->has_sync_sregs && kvm_sregs_segments_only(vm, &k)) {
		vm->run->s.regs.sregs = k;
		vm->run->kvm_dirty_regs |= KVM_SYNC_X86_SREGS;
		vm->sregs_set = k;
		return 0;
	}
	if (vm->has_sync_sregs)
		vm->run->kvm_dirty_regs &= ~(uint64_t)KVM_SYNC_X86_SREGS; /* this set wins */
	if (kvm_ioctl(vm->vcpu_fd, KVM_SET_SREGS, &k) < 0) {
		int e = errno;
		vm->sregs_known = 0;
		return kvm_fail(err, err_cap, e == EINVAL ? NUB_EINVAL : NUB_ESYS,
		                "KVM_SET_SREGS (cr0 0x%llx cr4 0x%llx efer 0x%llx): %s",
		                (unsigned long long)k.cr0, (unsigned long long)k.cr4,
		                (unsigned long long)k.efer, strerror(e));
	}
	vm->sregs_set = k;
	vm->sregs_known = 1;
	return 0;
}

int kvm_get_sregs(struct nub_vm *vm, struct nub_sregs *sregs, char *err, size_t err_cap)
{
	struct kvm_sregs k;

	KVM_STATE_PRELUDE(vm, err, err_cap);
	/* Set through the sync page and not yet run: KVM still has the old. */
	if (vm->has_sync_sregs && (vm->run->kvm_dirty_regs & KVM_SYNC_X86_SREGS)) {
		kvm_convert_sregs_to_nub(sregs, &vm->run->s.regs.sregs);
		return 0;
	}
	if (kvm_ioctl(vm->vcpu_fd, KVM_GET_SREGS, &k) < 0)
		return kvm_state_error("KVM_GET_SREGS", err, err_cap);
	kvm_convert_sregs_to_nub(sregs, &k);
	return 0;
}

/* FPU state moves through KVM_{GET,SET}_XSAVE: KVM_{GET,SET}_FPU ignore
 * MXCSR. Setting writes the x87/SSE legacy area and puts every other user
 * component the vCPU has (AVX, AVX-512, PKRU, AMX, ...) in its initial
 * state, with its bit set in XSTATE_BV: restore must not let one call's
 * vector registers or protection keys reach the next. A component left out
 * of XSTATE_BV is initialised by XRSTOR -- except PKRU, which KVM keeps
 * apart and leaves as it was unless the image carries it. This matters most
 * on the software KVM, where CPL3 code runs with the host's XCR0 (AVX-512,
 * PKRU included). */
static int kvm_need_xsave(struct nub_vm *vm, char *err, size_t err_cap)
{
	if (vm->has_xsave)
		return 0;
	return kvm_fail(err, err_cap, NUB_EUNSUPPORTED,
	                "FPU state with MXCSR needs KVM_CAP_XSAVE, which this host lacks");
}

int kvm_set_fpu(struct nub_vm *vm, const struct nub_fpu *fpu, char *err, size_t err_cap)
{
	uint8_t *x;
	int rc = kvm_need_xsave(vm, err, err_cap);

	if (rc)
		return rc;
	KVM_STATE_PRELUDE(vm, err, err_cap);
	x = calloc(1, vm->xsave_size);
	if (!x)
		return kvm_fail(err, err_cap, NUB_ENOMEM, "out of memory for %zu XSAVE bytes",
		                vm->xsave_size);
	kvm_convert_fpu_to_xsave(x, fpu, vm->xfeatures);
	if (kvm_ioctl(vm->vcpu_fd, KVM_SET_XSAVE, x) < 0) {
		int e = errno;
		rc = kvm_fail(err, err_cap, e == EINVAL ? NUB_EINVAL : NUB_ESYS,
		              "KVM_SET_XSAVE (mxcsr 0x%x, XSTATE_BV 0x%llx): %s", fpu->mxcsr,
		              (unsigned long long)(vm->xfeatures | KVM_XSTATE_X87_SSE),
		              strerror(e));
	}
	free(x);
	return rc;
}

int kvm_get_fpu(struct nub_vm *vm, struct nub_fpu *fpu, char *err, size_t err_cap)
{
	uint8_t *x;
	int rc = kvm_need_xsave(vm, err, err_cap);
	/* KVM_GET_XSAVE refuses a vCPU whose state does not fit its struct. */
	unsigned long req =
	        vm->xsave_size > sizeof(struct kvm_xsave) ? KVM_GET_XSAVE2 : KVM_GET_XSAVE;

	if (rc)
		return rc;
	KVM_STATE_PRELUDE(vm, err, err_cap);
	x = calloc(1, vm->xsave_size);
	if (!x)
		return kvm_fail(err, err_cap, NUB_ENOMEM, "out of memory for %zu XSAVE bytes",
		                vm->xsave_size);
	if (kvm_ioctl(vm->vcpu_fd, req, x) < 0)
		rc = kvm_state_error("KVM_GET_XSAVE", err, err_cap);
	else
		kvm_convert_fpu_from_fxsave(fpu, x);
	free(x);
	return rc;
}

static int kvm_need_xcrs(struct nub_vm *vm, char *err, size_t err_cap)
{
	if (vm->has_xcrs)
		return 0;
	return kvm_fail(err, err_cap, NUB_EUNSUPPORTED,
	                "XCR0 access needs KVM_CAP_XCRS, which this kernel lacks");
}

int kvm_set_xcr0(struct nub_vm *vm, uint64_t xcr0, char *err, size_t err_cap)
{
	struct kvm_xcrs x;
	int rc = kvm_need_xcrs(vm, err, err_cap);

	if (rc)
		return rc;
	KVM_STATE_PRELUDE(vm, err, err_cap);
	memset(&x, 0, sizeof(x));
	x.nr_xcrs = 1;
	x.xcrs[0].xcr = 0;
	x.xcrs[0].value = xcr0;
	if (kvm_ioctl(vm->vcpu_fd, KVM_SET_XCRS, &x) < 0) {
		int e = errno;
		return kvm_fail(err, err_cap, e == EINVAL ? NUB_EINVAL : NUB_ESYS,
		                "KVM_SET_XCRS xcr0 0x%llx: %s", (unsigned long long)xcr0,
		                strerror(e));
	}
	return 0;
}

int kvm_get_xcr0(struct nub_vm *vm, uint64_t *xcr0, char *err, size_t err_cap)
{
	struct kvm_xcrs x;
	int rc = kvm_need_xcrs(vm, err, err_cap);

	if (rc)
		return rc;
	KVM_STATE_PRELUDE(vm, err, err_cap);
	memset(&x, 0, sizeof(x));
	if (kvm_ioctl(vm->vcpu_fd, KVM_GET_XCRS, &x) < 0)
		return kvm_state_error("KVM_GET_XCRS", err, err_cap);
	for (uint32_t i = 0; i < x.nr_xcrs && i < KVM_MAX_XCRS; i++) {
		if (x.xcrs[i].xcr == 0) {
			*xcr0 = x.xcrs[i].value;
			return 0;
		}
	}
	return kvm_fail(err, err_cap, NUB_EBACKEND, "KVM_GET_XCRS returned no XCR0 (%u xcrs)",
	                x.nr_xcrs);
}

static struct kvm_msrs *kvm_msrs_alloc(uint32_t count, char *err, size_t err_cap, int *rc)
{
	struct kvm_msrs *m;

	if (count == 0 || count > KVM_NUB_MAX_MSRS) {
		*rc = kvm_fail(err, err_cap, NUB_EINVAL, "MSR count %u outside 1..%u", count,
		               KVM_NUB_MAX_MSRS);
		return NULL;
	}
	m = calloc(1, sizeof(*m) + (size_t)count * sizeof(m->entries[0]));
	if (!m)
		*rc = kvm_fail(err, err_cap, NUB_ENOMEM, "out of memory for %u MSRs", count);
	return m;
}

/* KVM_{GET,SET}_MSRS return how many entries they processed and stop at the
 * first one they refuse; name that one. */
static int kvm_msrs_io(struct nub_vm *vm, unsigned long req, const char *what, struct kvm_msrs *m,
                       char *err, size_t err_cap)
{
	int n = kvm_ioctl(vm->vcpu_fd, req, m);

	if (n < 0)
		return kvm_state_error(what, err, err_cap);
	if ((uint32_t)n < m->nmsrs)
		return kvm_fail(err, err_cap, NUB_EINVAL, "%s: MSR 0x%x (entry %d of %u) refused",
		                what, m->entries[n].index, n, m->nmsrs);
	return 0;
}

int kvm_set_msrs(struct nub_vm *vm, const struct nub_msr *msrs, uint32_t count, char *err,
                 size_t err_cap)
{
	struct kvm_msrs *m;
	int rc = 0;

	KVM_STATE_PRELUDE(vm, err, err_cap);
	m = kvm_msrs_alloc(count, err, err_cap, &rc);
	if (!m)
		return rc;
	m->nmsrs = count;
	for (uint32_t i = 0; i < count; i++) {
		m->entries[i].index = msrs[i].index;
		m->entries[i].data = msrs[i].value;
	}
	rc = kvm_msrs_io(vm, KVM_SET_MSRS, "KVM_SET_MSRS", m, err, err_cap);
	free(m);
	return rc;
}

int kvm_get_msrs(struct nub_vm *vm, struct nub_msr *msrs, uint32_t count, char *err, size_t err_cap)
{
	struct kvm_msrs *m;
	int rc = 0;

	KVM_STATE_PRELUDE(vm, err, err_cap);
	m = kvm_msrs_alloc(count, err, err_cap, &rc);
	if (!m)
		return rc;
	m->nmsrs = count;
	for (uint32_t i = 0; i < count; i++)
		m->entries[i].index = msrs[i].index;
	rc = kvm_msrs_io(vm, KVM_GET_MSRS, "KVM_GET_MSRS", m, err, err_cap);
	if (rc == 0)
		for (uint32_t i = 0; i < count; i++)
			msrs[i].value = m->entries[i].data;
	free(m);
	return rc;
}

int kvm_set_debugregs(struct nub_vm *vm, const struct nub_debugregs *dr, char *err, size_t err_cap)
{
	struct kvm_debugregs k;

	if ((dr->dr6 >> 32) || (dr->dr7 >> 32))
		return kvm_fail(err, err_cap, NUB_EINVAL,
		                "DR6 0x%llx / DR7 0x%llx: upper halves must be zero",
		                (unsigned long long)dr->dr6, (unsigned long long)dr->dr7);
	KVM_STATE_PRELUDE(vm, err, err_cap);
	memset(&k, 0, sizeof(k));
	memcpy(k.db, dr->db, sizeof(k.db));
	k.dr6 = dr->dr6;
	k.dr7 = dr->dr7;
	if (kvm_ioctl(vm->vcpu_fd, KVM_SET_DEBUGREGS, &k) < 0)
		return kvm_state_error("KVM_SET_DEBUGREGS", err, err_cap);
	return 0;
}

int kvm_get_debugregs(struct nub_vm *vm, struct nub_debugregs *dr, char *err, size_t err_cap)
{
	struct kvm_debugregs k;

	KVM_STATE_PRELUDE(vm, err, err_cap);
	if (kvm_ioctl(vm->vcpu_fd, KVM_GET_DEBUGREGS, &k) < 0)
		return kvm_state_error("KVM_GET_DEBUGREGS", err, err_cap);
	memcpy(dr->db, k.db, sizeof(dr->db));
	dr->dr6 = k.dr6;
	dr->dr7 = k.dr7;
	return 0;
}
