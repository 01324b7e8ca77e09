/* SPDX-License-Identifier: MIT */
/* The KVM backend on the raw /dev/kvm API. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <nub/backend.h>

#define KVM_DEV "/dev/kvm"

struct cap_need {
	int cap;
	const char *name;
};

static const struct cap_need needed_caps[] = {
        {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
        {KVM_CAP_READONLY_MEM, "KVM_CAP_READONLY_MEM"},
        {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
        {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
};

static int kvm_probe(char *err, size_t err_cap)
{
	int fd = open(KVM_DEV, O_RDWR | O_CLOEXEC);
	int rc = NUB_EPROBE;

	if (fd < 0) {
		snprintf(err, err_cap, "%s: %s", KVM_DEV, strerror(errno));
		return NUB_EPROBE;
	}
	int api = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (api != KVM_API_VERSION) {
		snprintf(err, err_cap, "%s: KVM_GET_API_VERSION is %d, need %d", KVM_DEV, api,
		         KVM_API_VERSION);
		goto close_fd;
	}
	for (size_t i = 0; i < sizeof(needed_caps) / sizeof(needed_caps[0]); i++) {
		if (ioctl(fd, KVM_CHECK_EXTENSION, needed_caps[i].cap) <= 0) {
			snprintf(err, err_cap, "%s: missing %s", KVM_DEV, needed_caps[i].name);
			goto close_fd;
		}
	}
	rc = 0;
close_fd:
	close(fd);
	return rc;
}

/* Placeholder slots until the VM implementation lands: every one refuses
 * with NUB_EUNSUPPORTED, so probe decides everything that works today. */
static int kvm_unsupported(char *err, size_t err_cap)
{
	snprintf(err, err_cap, "kvm: not implemented");
	return NUB_EUNSUPPORTED;
}

static int kvm_vm_create(const struct nub_vm_config *cfg, struct nub_vm **out, char *err,
                         size_t err_cap)
{
	(void)cfg;
	(void)out;
	return kvm_unsupported(err, err_cap);
}

static void kvm_vm_destroy(struct nub_vm *vm)
{
	(void)vm;
}

static int kvm_map_region(struct nub_vm *vm, const struct nub_region *r, char *err, size_t err_cap)
{
	(void)vm;
	(void)r;
	return kvm_unsupported(err, err_cap);
}

static int kvm_unmap_region(struct nub_vm *vm, uint32_t slot, char *err, size_t err_cap)
{
	(void)vm;
	(void)slot;
	return kvm_unsupported(err, err_cap);
}

static int kvm_regs(struct nub_vm *vm, struct nub_regs *r, char *err, size_t err_cap)
{
	(void)vm;
	(void)r;
	return kvm_unsupported(err, err_cap);
}

static int kvm_sregs(struct nub_vm *vm, struct nub_sregs *r, char *err, size_t err_cap)
{
	(void)vm;
	(void)r;
	return kvm_unsupported(err, err_cap);
}

static int kvm_run_vcpu(struct nub_vm *vm, struct nub_exit *exit, char *err, size_t err_cap)
{
	(void)vm;
	(void)exit;
	return kvm_unsupported(err, err_cap);
}

static int kvm_interrupt(struct nub_vm *vm)
{
	(void)vm;
	return 0;
}

static void kvm_clear_interrupt(struct nub_vm *vm)
{
	(void)vm;
}

static const struct nub_backend_ops kvm_ops = {
        .abi_major = NUB_BACKEND_ABI_MAJOR,
        .abi_minor = NUB_BACKEND_ABI_MINOR,
        .struct_size = sizeof(struct nub_backend_ops),
        .caps = NUB_CAP_READONLY_MEM | NUB_CAP_HW_ISOLATION,
        .name = "kvm",
        .probe = kvm_probe,
        .vm_create = kvm_vm_create,
        .vm_destroy = kvm_vm_destroy,
        .map_region = kvm_map_region,
        .unmap_region = kvm_unmap_region,
        .set_regs = (int (*)(struct nub_vm *, const struct nub_regs *, char *, size_t))kvm_regs,
        .get_regs = kvm_regs,
        .set_sregs = (int (*)(struct nub_vm *, const struct nub_sregs *, char *, size_t))kvm_sregs,
        .get_sregs = kvm_sregs,
        .run_vcpu = kvm_run_vcpu,
        .interrupt = kvm_interrupt,
        .clear_interrupt = kvm_clear_interrupt,
};

NUB_BACKEND_EXPORT const struct nub_backend_ops *nub_backend_entry(void)
{
	return &kvm_ops;
}
