/* SPDX-License-Identifier: MIT */
/* The Microsoft Hypervisor backend for Linux root partitions (/dev/mshv). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <nub/backend.h>

#define MSHV_DEV "/dev/mshv"

static int mshv_probe(char *err, size_t err_cap)
{
	int fd = open(MSHV_DEV, O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		snprintf(err, err_cap, "%s: %s", MSHV_DEV, strerror(errno));
		return NUB_EPROBE;
	}
	close(fd);
	return 0;
}

/* Placeholder slots until the VM implementation lands: every one refuses
 * with NUB_EUNSUPPORTED, so probe decides everything that works today. */
static int mshv_unsupported(char *err, size_t err_cap)
{
	snprintf(err, err_cap, "mshv: not implemented");
	return NUB_EUNSUPPORTED;
}

static int mshv_vm_create(const struct nub_vm_config *cfg, struct nub_vm **out, char *err,
                          size_t err_cap)
{
	(void)cfg;
	(void)out;
	return mshv_unsupported(err, err_cap);
}

static void mshv_vm_destroy(struct nub_vm *vm)
{
	(void)vm;
}

static int mshv_map_region(struct nub_vm *vm, const struct nub_region *r, char *err, size_t err_cap)
{
	(void)vm;
	(void)r;
	return mshv_unsupported(err, err_cap);
}

static int mshv_unmap_region(struct nub_vm *vm, uint32_t slot, char *err, size_t err_cap)
{
	(void)vm;
	(void)slot;
	return mshv_unsupported(err, err_cap);
}

static int mshv_regs(struct nub_vm *vm, struct nub_regs *r, char *err, size_t err_cap)
{
	(void)vm;
	(void)r;
	return mshv_unsupported(err, err_cap);
}

static int mshv_sregs(struct nub_vm *vm, struct nub_sregs *r, char *err, size_t err_cap)
{
	(void)vm;
	(void)r;
	return mshv_unsupported(err, err_cap);
}

static int mshv_run_vcpu(struct nub_vm *vm, struct nub_exit *exit, char *err, size_t err_cap)
{
	(void)vm;
	(void)exit;
	return mshv_unsupported(err, err_cap);
}

static int mshv_interrupt(struct nub_vm *vm)
{
	(void)vm;
	return 0;
}

static void mshv_clear_interrupt(struct nub_vm *vm)
{
	(void)vm;
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
        .set_regs = (int (*)(struct nub_vm *, const struct nub_regs *, char *, size_t))mshv_regs,
        .get_regs = mshv_regs,
        .set_sregs = (int (*)(struct nub_vm *, const struct nub_sregs *, char *, size_t))mshv_sregs,
        .get_sregs = mshv_sregs,
        .run_vcpu = mshv_run_vcpu,
        .interrupt = mshv_interrupt,
        .clear_interrupt = mshv_clear_interrupt,
};

NUB_BACKEND_EXPORT const struct nub_backend_ops *nub_backend_entry(void)
{
	return &mshv_ops;
}
