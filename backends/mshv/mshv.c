/* SPDX-License-Identifier: MIT */
/*
 * The Microsoft Hypervisor backend for Linux root partitions (/dev/mshv):
 * probe, VM lifetime and guest memory. Registers are in mshv_regs.c, running
 * and interrupting in mshv_run.c. Every open/ioctl/close on the device and
 * its partition/VP fds goes through one replaceable table (mshv_test_hook.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "mshv_internal.h"
#include "options.h"

static int real_open(const char *path, int flags)
{
	return open(path, flags);
}

static int real_ioctl(int fd, unsigned long request, void *arg)
{
	return ioctl(fd, request, arg);
}

static int real_close(int fd)
{
	return close(fd);
}

static const struct nub_mshv_sys real_sys = {real_open, real_ioctl, real_close};
static struct nub_mshv_sys test_sys;
static const struct nub_mshv_sys *current_sys = &real_sys;

const struct nub_mshv_sys *mshv_sys_current(void)
{
	return current_sys;
}

/* Test-only hook, see mshv_test_hook.h. */
NUB_BACKEND_EXPORT void nub_mshv_test_set_sys(const struct nub_mshv_sys *sys);
void nub_mshv_test_set_sys(const struct nub_mshv_sys *sys)
{
	if (!sys) {
		current_sys = &real_sys;
		return;
	}
	test_sys = *sys;
	current_sys = &test_sys;
}

int mshv_fail(char *err, size_t err_cap, int code, const char *fmt, ...)
{
	va_list ap;

	if (err && err_cap) {
		va_start(ap, fmt);
		vsnprintf(err, err_cap, fmt, ap);
		va_end(ap);
	}
	return code;
}

/* No LAPIC-less mode is offered: the hypervisor's APIC_BASE register (part of
 * struct nub_sregs) belongs to the LAPIC. No X2APIC, no isolation. */
static const struct nub_mshv_create_partition partition_args = {
        .pt_flags = 1u << NUB_MSHV_PT_BIT_LAPIC,
        .pt_isolation = NUB_MSHV_PT_ISOLATION_NONE,
};

/* Open /dev/mshv and create an uninitialised partition; the device fd is
 * closed again (a partition does not need it). */
static int mshv_partition_open(const struct nub_mshv_sys *sys, int *pt_fd, char *err,
                               size_t err_cap)
{
	struct nub_mshv_create_partition args = partition_args;
	int dev = sys->open(MSHV_DEV, O_RDWR | O_CLOEXEC);

	if (dev < 0)
		return mshv_fail(err, err_cap, NUB_EPROBE, "%s: %s", MSHV_DEV, strerror(errno));
	int fd = sys->ioctl(dev, NUB_MSHV_CREATE_PARTITION, &args);
	int saved = errno;
	sys->close(dev);
	if (fd < 0)
		return mshv_fail(err, err_cap, NUB_EPROBE, "%s: MSHV_CREATE_PARTITION: %s",
		                 MSHV_DEV, strerror(saved));
	*pt_fd = fd;
	return 0;
}

static int mshv_probe(char *err, size_t err_cap)
{
	const struct nub_mshv_sys *sys = mshv_sys_current();
	int pt_fd = -1;
	int rc = mshv_partition_open(sys, &pt_fd, err, err_cap);

	if (rc)
		return rc;
	sys->close(pt_fd);
	return 0;
}

/* Options: NULL, "" or "signal=N" (the real-time signal used to interrupt
 * runs; default SIGRTMIN+1), comma-separated. */
static int mshv_parse_options(const char *options, int *signo, char *err, size_t err_cap)
{
	struct nub_option o;
	uint64_t v;

	*signo = SIGRTMIN + 1;
	for (const char *at = options; nub_option_next(&at, &o);) {
		if (!nub_option_is(&o, "signal") ||
		    nub_option_u64(&o, (uint64_t)SIGRTMIN, (uint64_t)SIGRTMAX, &v))
			return mshv_fail(
			        err, err_cap, NUB_EINVAL,
			        "options '%s' not understood (want 'signal=N', %d <= N <= %d)",
			        options, SIGRTMIN, SIGRTMAX);
		*signo = (int)v;
	}
	return 0;
}

static int mshv_vm_setup(struct nub_vm *vm, char *err, size_t err_cap)
{
	struct nub_mshv_create_vp vp = {.vp_index = 0};
	int rc;

	/* An early property: no Hyper-V enlightenments (no SynIC, synthetic
	 * timers, hypercall page) are offered to the guest. */
	rc = mshv_set_partition_property(vm, NUB_HV_PARTITION_PROPERTY_SYNTHETIC_PROC_FEATURES, 0,
	                                 err, err_cap);
	if (rc)
		return rc;
	if (vm->sys.ioctl(vm->pt_fd, NUB_MSHV_INITIALIZE_PARTITION, NULL) < 0)
		return mshv_fail(err, err_cap, NUB_ESYS, "MSHV_INITIALIZE_PARTITION: %s",
		                 strerror(errno));
	vm->vp_fd = vm->sys.ioctl(vm->pt_fd, NUB_MSHV_CREATE_VP, &vp);
	if (vm->vp_fd < 0)
		return mshv_fail(err, err_cap, NUB_ESYS, "MSHV_CREATE_VP (vp_index 0): %s",
		                 strerror(errno));
	return 0;
}

static void mshv_vm_destroy(struct nub_vm *vm)
{
	if (!vm)
		return;
	/* Closing the partition fd (after the VP's) makes the kernel delete the
	 * partition, which unmaps and unpins every region. */
	if (vm->vp_fd >= 0)
		vm->sys.close(vm->vp_fd);
	if (vm->pt_fd >= 0)
		vm->sys.close(vm->pt_fd);
	free(vm);
}

static int mshv_vm_create(const struct nub_vm_config *cfg, struct nub_vm **out, char *err,
                          size_t err_cap)
{
	struct nub_vm *vm;
	int signo;
	int rc;

	*out = NULL;
	rc = mshv_parse_options(cfg->options, &signo, err, err_cap);
	if (rc)
		return rc;
	rc = mshv_signal_prepare(signo, err, err_cap);
	if (rc)
		return rc;
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return mshv_fail(err, err_cap, NUB_ENOMEM, "out of memory creating a VM");
	vm->sys = *mshv_sys_current();
	vm->vp_fd = -1;
	vm->signo = signo;
	atomic_init(&vm->cancel, 0);
	atomic_init(&vm->run_tid, 0);
	rc = mshv_partition_open(&vm->sys, &vm->pt_fd, err, err_cap);
	if (rc) {
		rc = NUB_ESYS; /* probe accepted, so this is a failure, not a refusal */
		vm->pt_fd = -1;
		goto destroy_vm;
	}
	rc = mshv_vm_setup(vm, err, err_cap);
	if (rc)
		goto destroy_vm;
	*out = vm;
	return 0;
destroy_vm:
	mshv_vm_destroy(vm);
	return rc;
}

static int mshv_map_region(struct nub_vm *vm, const struct nub_region *r, char *err, size_t err_cap)
{
	struct mshv_slot *s;

	if (r->slot >= MSHV_MAX_SLOTS || vm->slots[r->slot].used)
		return mshv_fail(err, err_cap, NUB_EINVAL, "slot %u invalid or in use", r->slot);
	if (!(r->flags & NUB_MEM_READ))
		return mshv_fail(err, err_cap, NUB_EUNSUPPORTED,
		                 "slot %u: the hypervisor maps every region readable; "
		                 "flags 0x%x lack NUB_MEM_READ",
		                 r->slot, r->flags);
	s = &vm->slots[r->slot];
	memset(&s->region, 0, sizeof(s->region));
	s->region.size = r->size;
	s->region.guest_pfn = r->gpa / NUB_MSHV_HV_PAGE_SIZE;
	s->region.userspace_addr = (uint64_t)(uintptr_t)r->host;
	if (r->flags & NUB_MEM_WRITE)
		s->region.flags |= 1u << NUB_MSHV_SET_MEM_BIT_WRITABLE;
	if (r->flags & NUB_MEM_EXEC)
		s->region.flags |= 1u << NUB_MSHV_SET_MEM_BIT_EXECUTABLE;
	if (vm->sys.ioctl(vm->pt_fd, NUB_MSHV_SET_GUEST_MEMORY, &s->region) < 0)
		return mshv_fail(err, err_cap, NUB_ESYS,
		                 "MSHV_SET_GUEST_MEMORY slot %u gpa 0x%llx size 0x%llx: %s",
		                 r->slot, (unsigned long long)r->gpa, (unsigned long long)r->size,
		                 strerror(errno));
	s->used = 1;
	s->nub_flags = r->flags;
	return 0;
}

static int mshv_unmap_region(struct nub_vm *vm, uint32_t slot, char *err, size_t err_cap)
{
	struct nub_mshv_user_mem_region region;

	if (slot >= MSHV_MAX_SLOTS || !vm->slots[slot].used)
		return mshv_fail(err, err_cap, NUB_EINVAL, "slot %u not mapped", slot);
	/* The kernel finds the region by gfn and wants size and address to
	 * match; with the unmap bit set the other flag bits are ignored. */
	region = vm->slots[slot].region;
	region.flags = 1u << NUB_MSHV_SET_MEM_BIT_UNMAP;
	if (vm->sys.ioctl(vm->pt_fd, NUB_MSHV_SET_GUEST_MEMORY, &region) < 0)
		return mshv_fail(err, err_cap, NUB_ESYS,
		                 "MSHV_SET_GUEST_MEMORY (unmap) slot %u: %s", slot,
		                 strerror(errno));
	vm->slots[slot].used = 0;
	return 0;
}

static const struct nub_backend_ops mshv_ops = {
        .abi_major = NUB_BACKEND_ABI_MAJOR,
        .abi_minor = NUB_BACKEND_ABI_MINOR,
        .struct_size = sizeof(struct nub_backend_ops),
        .caps = NUB_CAP_READONLY_MEM | NUB_CAP_HW_ISOLATION,
        .name = "mshv",
        .probe = mshv_probe,
        .vm_create = mshv_vm_create,
        .vm_destroy = mshv_vm_destroy,
        .map_region = mshv_map_region,
        .unmap_region = mshv_unmap_region,
        .set_regs = mshv_set_regs,
        .get_regs = mshv_get_regs,
        .set_sregs = mshv_set_sregs,
        .get_sregs = mshv_get_sregs,
        .run_vcpu = mshv_run_vcpu,
        .interrupt = mshv_interrupt,
        .clear_interrupt = mshv_clear_interrupt,
        .set_fpu = mshv_set_fpu,
        .get_fpu = mshv_get_fpu,
};

NUB_BACKEND_EXPORT const struct nub_backend_ops *nub_backend_entry(void)
{
	return &mshv_ops;
}
