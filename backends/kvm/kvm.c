/* SPDX-License-Identifier: MIT */
/* The KVM backend on the raw /dev/kvm API: probe, VM lifetime, memory slots
 * and the ops table. Registers are in kvm_regs.c, running and interrupting
 * in kvm_run.c. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <nub/guest_abi.h>

#include "kvm_internal.h"
#include "options.h"

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

int kvm_fail(char *err, size_t err_cap, int code, const char *fmt, ...)
{
	va_list ap;

	if (err && err_cap) {
		va_start(ap, fmt);
		vsnprintf(err, err_cap, fmt, ap);
		va_end(ap);
	}
	return code;
}

/* A system call that makes a file descriptor failed with errno `e`. Out of
 * descriptors (EMFILE) is the process's open-file limit, which a host with
 * many sandboxes meets first (two per sandbox): name it, its values and
 * how to raise it. */
int kvm_fail_fd(char *err, size_t err_cap, const char *what, int e)
{
	struct rlimit rl;

	if (e == EMFILE && getrlimit(RLIMIT_NOFILE, &rl) == 0)
		return kvm_fail(err, err_cap, NUB_ESYS,
		                "%s: out of file descriptors: the open-file limit (RLIMIT_NOFILE) "
		                "is %llu, hard limit %llu; each KVM sandbox holds 2 (1 with "
		                "share=N) -- raise the soft limit (ulimit -n, setrlimit)",
		                what, (unsigned long long)rl.rlim_cur,
		                (unsigned long long)rl.rlim_max);
	return kvm_fail(err, err_cap, NUB_ESYS, "%s: %s", what, strerror(e));
}

int kvm_ioctl(int fd, unsigned long req, void *arg)
{
	int r;

	do
		r = ioctl(fd, req, arg);
	while (r < 0 && errno == EINTR);
	return r;
}

/* Opens /dev/kvm and checks the API version and every capability the
 * backend relies on. Returns the fd or a negative nub error. */
static int kvm_open_checked(char *err, size_t err_cap)
{
	int fd = open(KVM_DEV, O_RDWR | O_CLOEXEC);
	int rc = NUB_EPROBE;

	if (fd < 0 && errno == EMFILE)
		return kvm_fail_fd(err, err_cap, KVM_DEV, errno); /* usable, but not now */
	if (fd < 0)
		return kvm_fail(err, err_cap, NUB_EPROBE, "%s: %s", KVM_DEV, strerror(errno));
	int api = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (api != KVM_API_VERSION) {
		kvm_fail(err, err_cap, rc, "%s: KVM_GET_API_VERSION is %d, need %d", KVM_DEV, api,
		         KVM_API_VERSION);
		goto close_fd;
	}
	for (size_t i = 0; i < sizeof(needed_caps) / sizeof(needed_caps[0]); i++) {
		if (ioctl(fd, KVM_CHECK_EXTENSION, needed_caps[i].cap) <= 0) {
			kvm_fail(err, err_cap, rc, "%s: missing %s", KVM_DEV, needed_caps[i].name);
			goto close_fd;
		}
	}
	return fd;
close_fd:
	close(fd);
	return rc;
}

/* KVM_GET_SUPPORTED_CPUID into *out (calloc'd). On the software KVM it
 * costs hundreds of CPUID instructions, each an exit of the host's own VM
 * (an eighth of a VM's creation there), hence asked once per process
 * (kvm_system_fd). KVM reports E2BIG until the buffer is large enough. */
static int kvm_fetch_cpuid(int kvm_fd, struct kvm_cpuid2 **out, char *err, size_t err_cap)
{
	for (uint32_t n = 64; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
		if (!c)
			return kvm_fail(err, err_cap, NUB_ENOMEM, "out of memory for CPUID");
		c->nent = n;
		if (kvm_ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
			*out = c;
			return 0;
		}
		int e = errno;
		free(c);
		if (e != E2BIG)
			return kvm_fail(err, err_cap, NUB_ESYS, "KVM_GET_SUPPORTED_CPUID: %s",
			                strerror(e));
	}
	return kvm_fail(err, err_cap, NUB_ESYS, "KVM_GET_SUPPORTED_CPUID: more than 4096 entries");
}

/* What every VM's creation needs from /dev/kvm, learned by the first
 * vm_create and kept for the process (the backend is never unloaded,
 * docs/writing-a-backend.md): the descriptor, opened and checked; the
 * kvm_run size; the CPUID table KVM supports. A VM's creation then asks
 * KVM nothing it answered before. One descriptor per process; until all
 * three are had, each vm_create tries again and fails as the first did.
 * The probe opens its own (it must tell the state of the machine now).
 * Written once under system_lock, read-only after. */
static pthread_mutex_t system_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	int fd; /* -1 until learned */
	int run_size;
	struct kvm_cpuid2 *cpuid;
	int anchor_vm, anchor_vcpu; /* kvm_anchor_keep; -1 without */
} kvm_system = {-1, 0, NULL, -1, -1};

__attribute__((destructor)) static void kvm_system_forget(void)
{
	/* The process is exiting. */
	if (kvm_system.anchor_vcpu >= 0)
		close(kvm_system.anchor_vcpu);
	if (kvm_system.anchor_vm >= 0)
		close(kvm_system.anchor_vm);
	if (kvm_system.fd >= 0)
		close(kvm_system.fd);
	free(kvm_system.cpuid);
	kvm_system.fd = kvm_system.anchor_vm = kvm_system.anchor_vcpu = -1;
	kvm_system.cpuid = NULL;
}

/* One idle VM with one vCPU (no memory, never run), kept for the process.
 * KVM counts live VMs, and vCPUs without an in-kernel APIC, in static keys
 * (preempt notifiers, the APIC's): when a count goes from 0 to 1 or back,
 * the kernel patches its code and interrupts every CPU to do it. A host
 * that makes one sandbox at a time on a new VM paid that at each creation
 * and each destruction whenever no other VM was alive on the machine:
 * a fifth of a new-VM cycle's CPU time in perf (docs/performance.md, "A VM
 * kept idle for the process"). With this VM alive the counts never reach 0.
 * Best effort: if it cannot be made (descriptors short), only that cost
 * comes back. It costs two descriptors, both close-on-exec. */
static void kvm_anchor_keep(int kvm_fd)
{
	int vm = ioctl(kvm_fd, KVM_CREATE_VM, 0);

	if (vm < 0)
		return;
	int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0) {
		close(vm);
		return;
	}
	kvm_system.anchor_vm = vm;
	kvm_system.anchor_vcpu = vcpu;
}

static int kvm_system_learn(char *err, size_t err_cap)
{
	int fd = kvm_open_checked(err, err_cap);
	struct kvm_cpuid2 *cpuid = NULL;
	int n, rc;

	if (fd < 0)
		return fd;
	n = ioctl(fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (n < (int)sizeof(struct kvm_run))
		rc = kvm_fail(err, err_cap, NUB_ESYS, "KVM_GET_VCPU_MMAP_SIZE: %d (%s)", n,
		              strerror(errno));
	else
		rc = kvm_fetch_cpuid(fd, &cpuid, err, err_cap);
	if (rc) {
		close(fd);
		return rc;
	}
	kvm_system.fd = fd;
	kvm_system.run_size = n;
	kvm_system.cpuid = cpuid;
	kvm_anchor_keep(fd);
	return 0;
}

/* The kept fd, or a negative nub error. */
static int kvm_system_fd(char *err, size_t err_cap)
{
	int rc = 0;

	pthread_mutex_lock(&system_lock);
	if (kvm_system.fd < 0)
		rc = kvm_system_learn(err, err_cap);
	if (!rc)
		rc = kvm_system.fd;
	pthread_mutex_unlock(&system_lock);
	return rc;
}

static int kvm_probe(char *err, size_t err_cap)
{
	int fd = kvm_open_checked(err, err_cap);

	if (fd < 0)
		return fd;
	close(fd);
	/* The software KVM of clouds without nested virtualisation: guest CPL0
	 * code is emulated, CPL3 runs natively (nub guests run at CPL3). */
	if (access("/sys/module/kvm_pvm", F_OK) == 0)
		snprintf(err, err_cap, "software KVM: pvm");
	return 0;
}

/* What a VM's option string asks for. */
struct kvm_options {
	int signo;       /* the kick signal */
	uint64_t window; /* the guest-physical window, in NUB_GPA_LIMITs */
	uint64_t share;  /* sandboxes per KVM VM; 0 or 1: a VM of its own */
	int has_window;
};

/* One item; 0, or -1 when it is not one this backend takes. */
static int kvm_parse_option(const struct nub_option *o, uint32_t flags, struct kvm_options *out)
{
	uint64_t v;

	if (nub_option_is(o, "signal")) {
		if (nub_option_u64(o, (uint64_t)SIGRTMIN, (uint64_t)SIGRTMAX, &v))
			return -1;
		out->signo = (int)v;
		return 0;
	}
	/* Windows only for a core that moves its addresses to them. */
	int is_window = nub_option_is(o, "window");
	if (!(flags & NUB_VM_GPA_WINDOW) || (!is_window && !nub_option_is(o, "share")) ||
	    nub_option_u64(o, 0, NUB_GPA_WINDOW_MAX, &v))
		return -1;
	if (is_window) {
		out->window = v;
		out->has_window = 1;
	} else {
		out->share = v;
	}
	return 0;
}

/* Options: empty, or comma-separated "signal=N" with N in
 * SIGRTMIN..SIGRTMAX, the signal that kicks the vCPU thread out of
 * KVM_RUN (default SIGRTMIN+2); "share=N", up to N sandboxes in one KVM
 * VM, each a vCPU on a window of its own (kvm_shared.c; 0 or 1: a VM of
 * its own, the default); "window=N", a VM of its own at guest-physical
 * window N * NUB_GPA_LIMIT (default 0). The last two need
 * NUB_VM_GPA_WINDOW. A VM of its own gains nothing from a window: it is
 * there so that the KVM suites can run core's window arithmetic on a real
 * vCPU alone. */
static int kvm_parse_options(const char *options, uint32_t flags, struct kvm_options *out,
                             char *err, size_t err_cap)
{
	memset(out, 0, sizeof(*out));
	out->signo = SIGRTMIN + 2;
	struct nub_option o;
	for (const char *at = options; nub_option_next(&at, &o);) {
		if (kvm_parse_option(&o, flags, out))
			return kvm_fail(err, err_cap, NUB_EINVAL,
			                "options '%s' not understood (want 'signal=N' with N in "
			                "%d..%d, 'share=N' or 'window=N' with N in 0..%llu, "
			                "comma-separated)",
			                options, SIGRTMIN, SIGRTMAX,
			                (unsigned long long)NUB_GPA_WINDOW_MAX);
	}
	if (out->share > 1 && out->has_window)
		return kvm_fail(err, err_cap, NUB_EINVAL,
		                "options '%s': share=N picks each sandbox's window; leave out "
		                "window=N",
		                options);
	return 0;
}

/* The guest-physical address width of the vCPUs (CPUID 0x80000008
 * EAX[7:0]; 36, the smallest there is, when KVM does not say). */
static unsigned kvm_cpuid_phys_bits(const struct kvm_cpuid2 *c)
{
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == 0x80000008 && (c->entries[i].eax & 0xff))
			return c->entries[i].eax & 0xff;
	return 36;
}

/* A window the vCPU can address, or the reason it cannot. */
static int kvm_check_window(uint64_t window, char *err, size_t err_cap)
{
	const unsigned bits = kvm_cpuid_phys_bits(kvm_system.cpuid);
	const uint64_t end = (window + 1) * NUB_GPA_LIMIT;

	if (bits < 64 && end > (1ull << bits))
		return kvm_fail(err, err_cap, NUB_EINVAL,
		                "option window=%llu needs guest-physical addresses up to 0x%llx; "
		                "this KVM's vCPUs have %u bits",
		                (unsigned long long)window, (unsigned long long)(end - 1), bits);
	return 0;
}

/* As many sandboxes per VM as asked, if KVM and the vCPUs' address width
 * allow that many windows. */
static int kvm_check_share(uint64_t share, int kvm_fd, char *err, size_t err_cap)
{
	const unsigned bits = kvm_cpuid_phys_bits(kvm_system.cpuid);
	const unsigned max = kvm_shared_capacity_max(bits, kvm_fd);

	if (share > max)
		return kvm_fail(err, err_cap, NUB_EINVAL,
		                "option share=%llu: this KVM holds at most %u sandboxes per VM "
		                "(vCPUs, memory slots / 32, and windows of 64 GiB in %u address "
		                "bits)",
		                (unsigned long long)share, max, bits);
	return 0;
}

/* After the first EMFILE or ENFILE of a creation: 1 (try again) once the
 * descriptors of freed VMs still queued for closing are closed. */
static int kvm_retry_out_of_fds(int *drained)
{
	int e = errno;

	if (*drained || (e != EMFILE && e != ENFILE))
		return 0;
	kvm_reap_drain();
	*drained = 1;
	errno = e;
	return 1;
}

int kvm_vm_fd_new(int kvm_fd, char *err, size_t err_cap)
{
	int fd;

	for (int drained = 0;;) {
		fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
		if (fd >= 0)
			return fd;
		if (errno != EINTR && !kvm_retry_out_of_fds(&drained))
			return kvm_fail_fd(err, err_cap, "KVM_CREATE_VM", errno);
	}
}

int kvm_vcpu_new(int vm_fd, unsigned id, size_t run_size, int *fd, struct kvm_run **run, char *err,
                 size_t err_cap)
{
	int drained = 0;
	do
		*fd = ioctl(vm_fd, KVM_CREATE_VCPU, id);
	while (*fd < 0 && kvm_retry_out_of_fds(&drained));
	if (*fd < 0)
		return kvm_fail_fd(err, err_cap, "KVM_CREATE_VCPU", errno);
	*run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
	if (*run == MAP_FAILED) {
		int e = errno;
		close(*fd);
		return kvm_fail(err, err_cap, NUB_ESYS, "mmap of kvm_run (%zu bytes): %s", run_size,
		                strerror(e));
	}
	return 0;
}

/* A VM of its own with vCPU 0. */
static int kvm_own_vm(struct nub_vm *vm, int kvm_fd, char *err, size_t err_cap)
{
	vm->vm_fd = kvm_vm_fd_new(kvm_fd, err, err_cap);
	if (vm->vm_fd < 0)
		return vm->vm_fd;
	int rc = kvm_vcpu_new(vm->vm_fd, 0, vm->run_size, &vm->vcpu_fd, &vm->run, err, err_cap);
	if (rc)
		close(vm->vm_fd);
	return rc;
}

/* The VM's vCPU and memory gone, whichever way it was made. */
static void kvm_release(struct nub_vm *vm)
{
	if (vm->host) {
		kvm_shared_detach(vm);
		return;
	}
	/* The mapping holds a reference on the vCPU: unmap before closing. */
	munmap(vm->run, vm->run_size);
	close(vm->vcpu_fd);
	kvm_reap_close(vm->vm_fd);
}

/* The user XSAVE components the vCPU's CPUID (leaf 0xD, subleaf 0)
 * declares: what KVM keeps in the guest's XSAVE state, and what set_fpu
 * resets. */
static uint64_t kvm_cpuid_xfeatures(const struct kvm_cpuid2 *c)
{
	for (uint32_t i = 0; i < c->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &c->entries[i];
		if (e->function == 0xd && e->index == 0)
			return e->eax | ((uint64_t)e->edx << 32);
	}
	return KVM_XSTATE_X87_SSE;
}

/* The vCPU needs the host-supported CPUID before long mode (LM, PAE, NX,
 * XSAVE come from there). */
static int kvm_setup_cpuid(struct nub_vm *vm, char *err, size_t err_cap)
{
	if (kvm_ioctl(vm->vcpu_fd, KVM_SET_CPUID2, kvm_system.cpuid) < 0)
		return kvm_fail(err, err_cap, NUB_ESYS, "KVM_SET_CPUID2: %s", strerror(errno));
	return 0;
}

static int kvm_check_config(const struct nub_vm_config *cfg, char *err, size_t err_cap)
{
	if (!cfg || cfg->struct_size < offsetof(struct nub_vm_config, options) + sizeof(char *))
		return kvm_fail(err, err_cap, NUB_EINVAL, "vm_config missing or too short (%u)",
		                cfg ? cfg->struct_size : 0u);
	/* NUB_VM_GPA_WINDOW allows a window; this backend puts each VM at 0. */
	const uint32_t known = NUB_VM_MMIO_ENDS_AT_PAGE_END | NUB_VM_GPA_WINDOW;
	const uint32_t unknown = cfg->flags & ~known;
	if (unknown)
		return kvm_fail(err, err_cap, NUB_EINVAL, "vm_config flags 0x%x are reserved",
		                unknown);
	return 0;
}

/* What the VM's vCPU can do, and the kvm_run fields this backend uses. */
static void kvm_learn_vcpu(struct nub_vm *vm)
{
	vm->xfeatures = kvm_cpuid_xfeatures(kvm_system.cpuid) | KVM_XSTATE_X87_SSE;
	vm->has_xcrs = ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XCRS) > 0;
	vm->has_xsave = ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE) > 0;
	/* The XSAVE buffer KVM reads and writes: larger than struct kvm_xsave
	 * when the vCPU has AMX tile data. */
	int xsave2 = ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
	vm->xsave_size =
	        xsave2 > (int)sizeof(struct kvm_xsave) ? (size_t)xsave2 : sizeof(struct kvm_xsave);
	int sync = ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS);
	vm->has_sync_regs = sync > 0 && (sync & KVM_SYNC_X86_REGS);
	vm->has_sync_sregs = vm->has_sync_regs && (sync & KVM_SYNC_X86_SREGS);
	/* Let KVM copy the GPRs into kvm_run at every exit: exit->rip for free. */
	vm->run->kvm_valid_regs = vm->has_sync_regs ? KVM_SYNC_X86_REGS : 0;
}

static int kvm_vm_create(const struct nub_vm_config *cfg, struct nub_vm **out, char *err,
                         size_t err_cap)
{
	struct kvm_options opt;
	struct nub_vm *vm;
	int kvm_fd, rc, fresh = 1;

	if (!out)
		return kvm_fail(err, err_cap, NUB_EINVAL, "NULL out");
	rc = kvm_check_config(cfg, err, err_cap);
	if (rc == 0)
		rc = kvm_parse_options(cfg->options, cfg->flags, &opt, err, err_cap);
	if (rc)
		return rc;
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return kvm_fail(err, err_cap, NUB_ENOMEM, "out of memory for a VM");
	vm->signo = opt.signo;
	vm->gpa_base = opt.window * NUB_GPA_LIMIT;
	vm->config_flags = cfg->flags;
	kvm_fd = kvm_system_fd(err, err_cap);
	if (kvm_fd < 0) {
		rc = kvm_fd;
		goto free_vm;
	}
	rc = opt.share > 1 ? kvm_check_share(opt.share, kvm_fd, err, err_cap)
	                   : kvm_check_window(opt.window, err, err_cap);
	if (rc)
		goto free_vm;
	vm->run_size = (size_t)kvm_system.run_size;
	if (opt.share > 1)
		rc = kvm_shared_attach(vm, kvm_fd, (unsigned)opt.share, &fresh, err, err_cap);
	else
		rc = kvm_own_vm(vm, kvm_fd, err, err_cap);
	if (rc)
		goto free_vm;
	rc = fresh ? kvm_setup_cpuid(vm, err, err_cap) : 0;
	if (rc)
		goto release_vm;
	vm->vcpu_ready = 1;
	kvm_learn_vcpu(vm);
	*out = vm;
	return 0;
release_vm:
	kvm_release(vm);
free_vm:
	free(vm);
	return rc;
}

static int kvm_set_slot(struct nub_vm *vm, uint32_t slot, uint32_t flags, uint64_t gpa,
                        uint64_t size, void *host)
{
	/* The sandboxes of a shared VM number their slots from their window's. */
	struct kvm_userspace_memory_region m = {
	        .slot = vm->window * KVM_NUB_MAX_SLOTS + slot,
	        .flags = flags,
	        .guest_phys_addr = gpa,
	        .memory_size = size,
	        .userspace_addr = (uint64_t)(uintptr_t)host,
	};

	return kvm_ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &m);
}

static int kvm_check_region(const struct nub_vm *vm, const struct nub_region *r, char *err,
                            size_t err_cap)
{
	const uint64_t mask = NUB_PAGE_SIZE - 1;

	if (r->slot >= KVM_NUB_MAX_SLOTS || vm->slots[r->slot].used)
		return kvm_fail(err, err_cap, NUB_EINVAL, "slot %u invalid or in use", r->slot);
	if ((r->gpa & mask) || (r->size & mask) || r->size == 0 || ((uintptr_t)r->host & mask) ||
	    r->gpa + r->size < r->gpa)
		return kvm_fail(err, err_cap, NUB_EINVAL,
		                "region gpa 0x%llx size 0x%llx host %p not page-aligned",
		                (unsigned long long)r->gpa, (unsigned long long)r->size, r->host);
	if (r->flags & ~(uint32_t)(NUB_MEM_READ | NUB_MEM_WRITE | NUB_MEM_EXEC))
		return kvm_fail(err, err_cap, NUB_EINVAL, "region flags 0x%x unknown", r->flags);
	for (uint32_t i = 0; i < KVM_NUB_MAX_SLOTS; i++) {
		const struct kvm_slot *s = &vm->slots[i];
		if (s->used && r->gpa < s->gpa + s->size && s->gpa < r->gpa + r->size)
			return kvm_fail(err, err_cap, NUB_EINVAL,
			                "region [0x%llx, +0x%llx) overlaps slot %u "
			                "[0x%llx, +0x%llx)",
			                (unsigned long long)r->gpa, (unsigned long long)r->size, i,
			                (unsigned long long)s->gpa, (unsigned long long)s->size);
	}
	return 0;
}

static int kvm_map_region(struct nub_vm *vm, const struct nub_region *r, char *err, size_t err_cap)
{
	uint32_t kflags;
	int rc;

	if (!r || !r->host)
		return kvm_fail(err, err_cap, NUB_EINVAL, "NULL region or host");
	rc = kvm_check_region(vm, r, err, err_cap);
	if (rc)
		return rc;
	/* Without NUB_MEM_WRITE the hypervisor itself refuses writes: the guest
	 * cannot change shared snapshot memory even through its own tables. */
	kflags = (r->flags & NUB_MEM_WRITE) ? 0 : KVM_MEM_READONLY;
	if (kvm_set_slot(vm, r->slot, kflags, r->gpa, r->size, r->host) < 0) {
		int e = errno;
		return kvm_fail(err, err_cap, (e == EINVAL || e == EEXIST) ? NUB_EINVAL : NUB_ESYS,
		                "KVM_SET_USER_MEMORY_REGION slot %u gpa 0x%llx size 0x%llx: %s",
		                r->slot, (unsigned long long)r->gpa, (unsigned long long)r->size,
		                strerror(e));
	}
	vm->slots[r->slot] = (struct kvm_slot){1, r->flags, r->gpa, r->size, r->host};
	return 0;
}

static int kvm_get_gpa_base(struct nub_vm *vm, uint64_t *base, char *err, size_t err_cap)
{
	(void)err;
	(void)err_cap;
	*base = vm->gpa_base;
	return 0;
}

static int kvm_unmap_region(struct nub_vm *vm, uint32_t slot, char *err, size_t err_cap)
{
	struct kvm_slot *s;

	if (slot >= KVM_NUB_MAX_SLOTS || !vm->slots[slot].used)
		return kvm_fail(err, err_cap, NUB_EINVAL, "slot %u not mapped", slot);
	s = &vm->slots[slot];
	/* KVM deletes a slot when it is set again with size 0; the flags and
	 * address must still be those of the slot. */
	if (kvm_set_slot(vm, slot, (s->flags & NUB_MEM_WRITE) ? 0 : KVM_MEM_READONLY, s->gpa, 0,
	                 s->host) < 0)
		return kvm_fail(err, err_cap, NUB_ESYS, "deleting slot %u: %s", slot,
		                strerror(errno));
	memset(s, 0, sizeof(*s));
	return 0;
}

static void kvm_vm_destroy(struct nub_vm *vm)
{
	if (!vm)
		return;
	/* A shared VM outlives this sandbox: its window's slots go now. */
	for (uint32_t i = 0; vm->host && i < KVM_NUB_MAX_SLOTS; i++)
		if (vm->slots[i].used)
			(void)kvm_unmap_region(vm, i, NULL, 0);
	kvm_release(vm);
	free(vm);
}

static struct nub_backend_ops kvm_ops = {
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
        .set_regs = kvm_set_regs,
        .get_regs = kvm_get_regs,
        .set_sregs = kvm_set_sregs,
        .get_sregs = kvm_get_sregs,
        .run_vcpu = kvm_run_vcpu,
        .interrupt = kvm_interrupt,
        .clear_interrupt = kvm_clear_interrupt,
        .set_fpu = kvm_set_fpu,
        .get_fpu = kvm_get_fpu,
        .set_xcr0 = kvm_set_xcr0,
        .get_xcr0 = kvm_get_xcr0,
        .get_gpa_base = kvm_get_gpa_base,
        .set_msrs = kvm_set_msrs,
        .get_msrs = kvm_get_msrs,
        .set_debugregs = kvm_set_debugregs,
        .get_debugregs = kvm_get_debugregs,
};

/* The software KVM of clouds without nested virtualisation runs guest CPL3
 * code on the host CPU, with the host's XCR0, and its `syscall` jumps to
 * LSTAR without leaving CPL3: what the table says of the machine is decided
 * once, before the table is first handed out. kvm_pvm is a vendor module
 * like kvm_intel and kvm_amd, and KVM takes one vendor at a time, so when
 * it is loaded it is what /dev/kvm runs on. */
static pthread_once_t kvm_caps_once = PTHREAD_ONCE_INIT;

static void kvm_caps_detect(void)
{
	if (access("/sys/module/kvm_pvm", F_OK) == 0)
		kvm_ops.caps |= NUB_CAP_HOST_XSTATE | NUB_CAP_SYSCALL_AT_CPL3;
}

NUB_BACKEND_EXPORT const struct nub_backend_ops *nub_backend_entry(void)
{
	pthread_once(&kvm_caps_once, kvm_caps_detect);
	return &kvm_ops;
}
