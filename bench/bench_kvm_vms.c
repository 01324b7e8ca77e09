/* SPDX-License-Identifier: MIT */
/* The kernel's floor under the scale row of bench_peers ("create + evolve +
 * call, last 100 of 5,000 alive vs first 100"): the same accumulation with
 * raw KVM and no nub, in the two shapes a VMM can give a sandbox.
 *
 *   own VM:    KVM_CREATE_VM per sandbox (what nub does): the kernel's
 *              KVM_CREATE_VM registers an MMU notifier with
 *              mm_take_all_locks(), which walks and locks every VMA of the
 *              process, and every munmap or madvise in the process calls
 *              every live VM's notifier, so both creating and freeing grow
 *              with the number alive;
 *   shared VM: sandboxes as vCPUs of VMs holding up to 1,000 each, each
 *              with its own memslot at its own guest-physical window and
 *              its own page tables over that window (TinyKVM's shape).
 *
 * A sandbox here is 2 MiB of guest memory with identity page tables (GVA 0
 * at the window's GPA), a vCPU at CPL3 and its first run to one MMIO store,
 * as small as nub's echo sandbox. Timed: creation through the first exit,
 * and freeing; the medians of the last 100 created (most alive) against the
 * first 100, and of the first 100 freed against the last. Rounds alternate
 * the two shapes. Skipped (a comment line) where /dev/kvm cannot be opened. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "bench.h"

#define WIN      (2ull << 20)    /* guest memory per sandbox */
#define MMIO_GPA 0x7f00000000ull /* backed by no memslot: the exit */
#define MMIO_GVA WIN             /* where the guest stores to it */
#define SHARE    1000            /* sandboxes per VM in the shared shape */
#define GDT      0x1000u
#define TSS      0x2000u
#define PML4     0x4000u
#define CODE     0x10000u

struct vm {
	int fd, next, alive; /* next: the next slot and vCPU id */
};

struct box {
	struct vm *vm;
	int vcpu, slot;
	struct kvm_run *run;
	uint8_t *mem;
};

struct world {
	int kvm, share;
	size_t run_size;
	struct kvm_cpuid2 *cpuid;
	struct vm *open; /* the VM new sandboxes join (shared shape) */
};

static void die(const char *what)
{
	fprintf(stderr, "bench_kvm_vms: %s: %s\n", what, strerror(errno));
	exit(1);
}

static uint64_t gdt_code64(unsigned dpl)
{
	return 0x00af9b000000ffffull | ((uint64_t)dpl << 45);
}

static uint64_t gdt_data(unsigned dpl)
{
	return 0x00cf93000000ffffull | ((uint64_t)dpl << 45);
}

/* GDT, TSS, four levels of tables mapping GVA [0, WIN) to the window and
 * one page to the MMIO address, and `movl $1, MMIO_GVA; jmp .`. */
static void box_build_memory(uint8_t *m, uint64_t base)
{
	static const uint8_t code[] = {0xc7, 0x04, 0x25, 0x00, 0x00, 0x20, 0x00,
	                               0x01, 0x00, 0x00, 0x00, 0xeb, 0xfe};
	uint64_t *gdt = (uint64_t *)(m + GDT), *pt = (uint64_t *)(m + PML4 + 0x3000);

	gdt[1] = gdt_code64(0);
	gdt[2] = gdt_data(3);
	gdt[3] = gdt_code64(3);
	gdt[4] = 0x67 | ((uint64_t)TSS << 16) | (0x89ull << 40);
	*(uint64_t *)(m + PML4) = (base + PML4 + 0x1000) | 7;
	*(uint64_t *)(m + PML4 + 0x1000) = (base + PML4 + 0x2000) | 7;
	((uint64_t *)(m + PML4 + 0x2000))[0] = (base + PML4 + 0x3000) | 7;
	((uint64_t *)(m + PML4 + 0x2000))[1] = (base + PML4 + 0x4000) | 7;
	for (uint64_t i = 0; i < 512; i++)
		pt[i] = (base + i * 4096) | 7;
	*(uint64_t *)(m + PML4 + 0x4000) = MMIO_GPA | 7;
	memcpy(m + CODE, code, sizeof(code));
}

static struct kvm_segment box_segment(uint16_t sel, uint8_t type, int code)
{
	return (struct kvm_segment){.limit = 0xffffffff,
	                            .selector = sel,
	                            .type = type,
	                            .present = 1,
	                            .dpl = 3,
	                            .s = 1,
	                            .l = code,
	                            .db = !code,
	                            .g = 1};
}

static void box_set_state(const struct world *w, struct box *b, uint64_t base)
{
	struct kvm_sregs s;
	struct kvm_regs r = {.rip = CODE, .rsp = WIN, .rflags = 2};

	if (ioctl(b->vcpu, KVM_SET_CPUID2, w->cpuid) < 0 || ioctl(b->vcpu, KVM_GET_SREGS, &s) < 0)
		die("KVM_SET_CPUID2/KVM_GET_SREGS");
	s.cs = box_segment(0x1b, 0xb, 1);
	s.ds = s.es = s.fs = s.gs = s.ss = box_segment(0x13, 0x3, 0);
	s.tr = (struct kvm_segment){
	        .base = TSS, .limit = 0x67, .selector = 0x20, .type = 0xb, .present = 1};
	s.ldt = (struct kvm_segment){.type = 2, .unusable = 1};
	s.gdt.base = GDT;
	s.gdt.limit = 0x2f;
	s.cr0 = 0x80050033;
	s.cr4 = 0x620;
	s.efer = 0xd00;
	s.cr3 = base + PML4;
	if (ioctl(b->vcpu, KVM_SET_SREGS, &s) < 0 || ioctl(b->vcpu, KVM_SET_REGS, &r) < 0)
		die("KVM_SET_SREGS/KVM_SET_REGS");
}

static struct vm *world_vm_for_next(struct world *w)
{
	if (w->open && w->open->next < w->share)
		return w->open;
	w->open = calloc(1, sizeof(*w->open));
	if (!w->open)
		die("calloc");
	w->open->fd = ioctl(w->kvm, KVM_CREATE_VM, 0);
	if (w->open->fd < 0)
		die("KVM_CREATE_VM");
	return w->open;
}

static void box_create(struct world *w, struct box *b)
{
	b->vm = world_vm_for_next(w);
	b->slot = b->vm->next++;
	b->vm->alive++;
	uint64_t base = (uint64_t)(b->slot + 1) * WIN;
	b->mem = mmap(NULL, WIN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b->mem == MAP_FAILED)
		die("mmap");
	box_build_memory(b->mem, base);
	struct kvm_userspace_memory_region r = {.slot = (uint32_t)b->slot,
	                                        .guest_phys_addr = base,
	                                        .memory_size = WIN,
	                                        .userspace_addr = (uintptr_t)b->mem};
	if (ioctl(b->vm->fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		die("KVM_SET_USER_MEMORY_REGION");
	b->vcpu = ioctl(b->vm->fd, KVM_CREATE_VCPU, b->slot);
	if (b->vcpu < 0)
		die("KVM_CREATE_VCPU");
	b->run = mmap(NULL, w->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, b->vcpu, 0);
	if (b->run == MAP_FAILED)
		die("mmap kvm_run");
	box_set_state(w, b, base);
	if (ioctl(b->vcpu, KVM_RUN, 0) < 0)
		die("KVM_RUN");
	if (b->run->exit_reason != KVM_EXIT_MMIO || b->run->mmio.phys_addr != MMIO_GPA) {
		fprintf(stderr, "bench_kvm_vms: exit %u, not the MMIO store\n",
		        b->run->exit_reason);
		exit(1);
	}
}

/* KVM cannot destroy one vCPU: in the shared shape its VM goes when the
 * last sandbox in it does (a VMM would recycle the vCPU instead). */
static void box_free(struct world *w, struct box *b)
{
	struct kvm_userspace_memory_region r = {.slot = (uint32_t)b->slot};

	munmap(b->run, w->run_size);
	close(b->vcpu);
	if (w->share > 1 && ioctl(b->vm->fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		die("KVM_SET_USER_MEMORY_REGION (delete)");
	munmap(b->mem, WIN);
	if (--b->vm->alive == 0) {
		close(b->vm->fd);
		if (w->open == b->vm)
			w->open = NULL;
		free(b->vm);
	}
}

/* One round: n created, all alive, then freed in creation order. */
static void world_round(struct world *w, int n, double *create, double *destroy)
{
	struct box *b = calloc((size_t)n, sizeof(*b));

	if (!b)
		die("calloc");
	for (int i = 0; i < n; i++) {
		double t = bench_now_ns();
		box_create(w, &b[i]);
		create[i] = bench_now_ns() - t;
	}
	for (int i = 0; i < n; i++) {
		double t = bench_now_ns();
		box_free(w, &b[i]);
		destroy[i] = bench_now_ns() - t;
	}
	free(b);
}

/* As many sandboxes as the open-file limit allows (two files each with a
 * VM per sandbox), up to `want`. */
static int sandboxes_allowed(int want)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)(2 * want + 64);

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return want;
	if (rl.rlim_cur < need) {
		rl.rlim_cur = rl.rlim_max < need ? rl.rlim_max : need;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur < need ? (int)(rl.rlim_cur - 64) / 2 : want;
}

/* create/destroy: rounds * n times, position-major. */
static void report(const char *shape, int n, int window, int rounds, double *create,
                   double *destroy)
{
	char label[96];
	int all = n * rounds, w = window * rounds;

	snprintf(label, sizeof(label), "raw KVM, %s: create+exit, last %d of %d alive", shape,
	         window, n);
	bench_row(label, bench_median(create + all - w, w) / 1e3, "us", "first",
	          bench_median(create, w) / 1e3, "time");
	snprintf(label, sizeof(label), "raw KVM, %s: free, first %d of %d alive", shape, window, n);
	bench_row(label, bench_median(destroy, w) / 1e3, "us", "last",
	          bench_median(destroy + all - w, w) / 1e3, "time");
}

int main(int argc, char **argv)
{
	const int short_mode = argc > 1 && !strcmp(argv[1], "--short");
	struct world w = {.kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC)};
	int n = sandboxes_allowed(short_mode ? 200 : 5000), rounds = short_mode ? 1 : 2;
	int window = n / 4 < 100 ? n / 4 : 100, shapes[2] = {1, SHARE};

	if (w.kvm < 0) {
		printf("# bench_kvm_vms: no usable /dev/kvm (%s): skipped\n", strerror(errno));
		return 0;
	}
	int max_vcpus = ioctl(w.kvm, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (max_vcpus > 0 && max_vcpus < SHARE)
		shapes[1] = max_vcpus;
	w.run_size = (size_t)ioctl(w.kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	w.cpuid = calloc(1, sizeof(*w.cpuid) + 256 * sizeof(w.cpuid->entries[0]));
	double *t = calloc((size_t)(4 * n * rounds), sizeof(*t));
	if (!w.cpuid || !t)
		die("calloc");
	w.cpuid->nent = 256;
	if (ioctl(w.kvm, KVM_GET_SUPPORTED_CPUID, w.cpuid) < 0)
		die("KVM_GET_SUPPORTED_CPUID");
	/* t: per shape, per round, n creations then n frees. */
	for (int r = 0; r < rounds; r++)
		for (int s = 0; s < 2; s++) {
			int shape = (r & 1) ? 1 - s : s;
			double *at = t + (size_t)(shape * rounds + r) * 2 * n;
			w.share = shapes[shape];
			world_round(&w, n, at, at + n);
		}
	/* Each figure: the median over every round's positions. */
	for (int s = 0; s < 2; s++) {
		double *c = calloc((size_t)(n * rounds), sizeof(*c));
		double *d = calloc((size_t)(n * rounds), sizeof(*d));
		if (!c || !d)
			die("calloc");
		for (int r = 0; r < rounds; r++)
			for (int i = 0; i < n; i++) {
				/* Position-major so that a window spans rounds. */
				c[i * rounds + r] = t[(size_t)(s * rounds + r) * 2 * n + i];
				d[i * rounds + r] = t[(size_t)(s * rounds + r) * 2 * n + n + i];
			}
		report(s ? "shared VM" : "own VM each", n, window, rounds, c, d);
		free(c);
		free(d);
	}
	free(t);
	free(w.cpuid);
	close(w.kvm);
	return 0;
}
