/* SPDX-License-Identifier: MIT */
/*
 * Fake /dev/mshv; see fake_mshv.h. The checks mirror Linux
 * drivers/hv/mshv_root_main.c (ioctl argument validation) and the
 * hypervisor's behaviour for the hypercalls the backend passes through
 * MSHV_ROOT_HVCALL, as far as the TLFS and the hv headers describe it.
 */
#include "fake_mshv.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FAKE_FD_BASE     1000
#define FAKE_MAX_FDS     64
#define FAKE_MAX_PTS     8
#define FAKE_MAX_REGIONS 64
#define FAKE_MAX_REGS    128
#define FAKE_MAX_SCRIPT  64
#define FAKE_MAX_VPS     256 /* drivers/hv/mshv_root.h MSHV_MAX_VPS */
#define FAKE_SPIN_MS     10000
/* hvgdk_mini.h HV_STATUS_UNKNOWN_PROPERTY */
#define FAKE_HV_STATUS_UNKNOWN_PROPERTY 0x9

enum fake_fd_kind { FD_FREE, FD_DEV, FD_PARTITION, FD_VP };

struct fake_reg {
	uint32_t name;
	struct nub_hv_u128 value;
};

struct fake_vp {
	int exists;
	pthread_mutex_t run_lock; /* the kernel's vp_mutex */
	struct fake_reg regs[FAKE_MAX_REGS];
	int nregs;
	/* The last port I/O or store intercept, re-delivered while RIP stays
	 * on it. */
	int io_pending;
	uint64_t io_rip;
	struct nub_hv_message io_msg;
};

struct fake_partition {
	int alive;
	int fd_refs; /* partition fd + VP fds */
	int initialized;
	uint64_t pt_flags;
	uint32_t prop_code[8];
	uint64_t prop_value[8];
	int nprops;
	struct nub_mshv_user_mem_region regions[FAKE_MAX_REGIONS];
	int nregions;
	struct fake_vp vp0; /* only VP index 0 can run here */
	int vp0_fd_open;
};

enum script_kind { S_IO, S_HALT, S_ACCESS, S_STORE, S_MESSAGE };

struct script_entry {
	enum script_kind kind;
	uint16_t port;
	uint8_t size, is_write, instr_len, access;
	uint64_t value, gpa;
	uint8_t insn[16]; /* S_STORE: the instruction bytes the hypervisor reports */
	uint8_t insn_count;
	struct nub_hv_message msg;
};

struct fake_fd {
	enum fake_fd_kind kind;
	int pt; /* index into partitions */
};

static struct {
	pthread_mutex_t lock;
	struct fake_fd fds[FAKE_MAX_FDS];
	struct fake_partition pts[FAKE_MAX_PTS];
	int last_pt;
	int created;
	int device_missing;
	unsigned long fail_request;
	int fail_errno;
	struct script_entry script[FAKE_MAX_SCRIPT];
	int script_len, script_pos;
	atomic_uint run_calls;
	atomic_uint redeliveries;
	atomic_int blocked;
	atomic_int entry_delay_us;
	atomic_int in_entry_window;
} g = {.lock = PTHREAD_MUTEX_INITIALIZER, .last_pt = -1};

/* ---- helpers ---- */

static int fail(int err)
{
	errno = err;
	return -1;
}

static int all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return 0;
	return 1;
}

static int fd_alloc(enum fake_fd_kind kind, int pt)
{
	for (int i = 0; i < FAKE_MAX_FDS; i++) {
		if (g.fds[i].kind == FD_FREE) {
			g.fds[i].kind = kind;
			g.fds[i].pt = pt;
			return FAKE_FD_BASE + i;
		}
	}
	return fail(EMFILE);
}

static struct fake_fd *fd_get(int fd)
{
	if (fd < FAKE_FD_BASE || fd >= FAKE_FD_BASE + FAKE_MAX_FDS)
		return NULL;
	struct fake_fd *f = &g.fds[fd - FAKE_FD_BASE];
	return f->kind == FD_FREE ? NULL : f;
}

static void pt_put(struct fake_partition *p)
{
	if (--p->fd_refs == 0) {
		/* Deleting the partition unmaps every region (destroy_partition). */
		pthread_mutex_destroy(&p->vp0.run_lock);
		memset(p, 0, sizeof(*p));
	}
}

/* Whether [addr, addr+size) is mapped writable in this process: the kernel
 * pins guest memory with FOLL_WRITE even for regions the guest may only
 * read, so the host mapping must be writable. */
static int host_range_writable(uint64_t addr, uint64_t size)
{
	FILE *f = fopen("/proc/self/maps", "r");
	uint64_t want = addr, end = addr + size;
	char line[512];

	if (!f)
		return 0;
	while (want < end && fgets(line, sizeof(line), f)) {
		unsigned long long lo, hi;
		char perms[8];
		if (sscanf(line, "%llx-%llx %7s", &lo, &hi, perms) != 3)
			continue;
		if (lo <= want && want < hi) {
			if (perms[1] != 'w')
				break;
			want = hi;
		}
	}
	fclose(f);
	return want >= end;
}

/* ---- registers ---- */

static int reg_known(uint32_t n)
{
	return (n >= NUB_HV_X64_REGISTER_RAX && n <= NUB_HV_X64_REGISTER_RFLAGS) ||
	       (n >= NUB_HV_X64_REGISTER_XMM0 && n <= NUB_HV_X64_REGISTER_XMM_CONTROL_STATUS) ||
	       (n >= NUB_HV_X64_REGISTER_CR0 && n <= NUB_HV_X64_REGISTER_CR8) ||
	       (n >= NUB_HV_X64_REGISTER_ES && n <= NUB_HV_X64_REGISTER_TR) ||
	       n == NUB_HV_X64_REGISTER_IDTR || n == NUB_HV_X64_REGISTER_GDTR ||
	       n == NUB_HV_X64_REGISTER_EFER || n == NUB_HV_X64_REGISTER_APIC_BASE;
}

static struct fake_reg *reg_slot(struct fake_vp *vp, uint32_t name, int create)
{
	for (int i = 0; i < vp->nregs; i++)
		if (vp->regs[i].name == name)
			return &vp->regs[i];
	if (!create || vp->nregs == FAKE_MAX_REGS)
		return NULL;
	vp->regs[vp->nregs].name = name;
	memset(&vp->regs[vp->nregs].value, 0, sizeof(struct nub_hv_u128));
	return &vp->regs[vp->nregs++];
}

static uint64_t reg64(struct fake_vp *vp, uint32_t name)
{
	struct fake_reg *r = reg_slot(vp, name, 0);
	return r ? r->value.low_part : 0;
}

/* ---- MSHV_ROOT_HVCALL ---- */

static int hv_status(struct nub_mshv_root_hvcall *args, uint16_t status, uint16_t reps, int err)
{
	args->status = status;
	args->reps = reps;
	return err ? fail(err) : 0;
}

static int hvcall_vp_registers(struct fake_partition *p, struct nub_mshv_root_hvcall *args,
                               const uint8_t *in)
{
	int set = args->code == NUB_HVCALL_SET_VP_REGISTERS;
	size_t elem = set ? sizeof(struct nub_hv_register_assoc) : sizeof(uint32_t);
	struct nub_hv_input_vp_registers_hdr hdr;
	uint16_t n = args->reps;

	/* Rep hypercalls need a rep count; the input must hold every element
	 * (stricter than the kernel, which would pass stale bytes). */
	if (n == 0 || args->in_sz < sizeof(hdr) + n * elem)
		return hv_status(args, NUB_HV_STATUS_INVALID_HYPERCALL_INPUT, 0, EINVAL);
	if (!set && (!args->out_ptr || args->out_sz < n * sizeof(union nub_hv_register_value)))
		return hv_status(args, NUB_HV_STATUS_INVALID_HYPERCALL_INPUT, 0, EINVAL);
	memcpy(&hdr, in, sizeof(hdr));
	if (hdr.input_vtl || hdr.rsvd_z8 || hdr.rsvd_z16)
		return hv_status(args, NUB_HV_STATUS_INVALID_HYPERCALL_INPUT, 0, EINVAL);
	if (hdr.vp_index != 0 || !p->vp0.exists)
		return hv_status(args, NUB_HV_STATUS_INVALID_VP_INDEX, 0, EINVAL);
	for (uint16_t i = 0; i < n; i++) {
		const uint8_t *e = in + sizeof(hdr) + i * elem;
		struct nub_hv_register_assoc a;
		uint32_t name;
		if (set) {
			memcpy(&a, e, sizeof(a));
			name = a.name;
			if (a.reserved1 || a.reserved2 || !reg_known(name))
				return hv_status(args, NUB_HV_STATUS_INVALID_PARAMETER, i, EINVAL);
			reg_slot(&p->vp0, name, 1)->value = a.value.reg128;
		} else {
			memcpy(&name, e, sizeof(name));
			if (!reg_known(name))
				return hv_status(args, NUB_HV_STATUS_INVALID_PARAMETER, i, EINVAL);
			struct fake_reg *r = reg_slot(&p->vp0, name, 0);
			struct nub_hv_u128 v = {0, 0};
			if (r)
				v = r->value;
			memcpy((uint8_t *)(uintptr_t)args->out_ptr + i * sizeof(v), &v, sizeof(v));
		}
	}
	return hv_status(args, NUB_HV_STATUS_SUCCESS, n, 0);
}

static int hvcall_set_property(struct fake_partition *p, struct nub_mshv_root_hvcall *args,
                               const uint8_t *in, int from_partition_fd)
{
	struct nub_hv_input_set_partition_property prop;

	/* An async hypercall: only allowed on the partition fd. */
	if (!from_partition_fd)
		return fail(EINVAL);
	if (args->reps || args->in_sz < sizeof(prop))
		return hv_status(args, NUB_HV_STATUS_INVALID_HYPERCALL_INPUT, 0, EINVAL);
	memcpy(&prop, in, sizeof(prop));
	if (prop.padding)
		return hv_status(args, NUB_HV_STATUS_INVALID_HYPERCALL_INPUT, 0, EINVAL);
	if (prop.property_code != NUB_HV_PARTITION_PROPERTY_SYNTHETIC_PROC_FEATURES)
		return hv_status(args, FAKE_HV_STATUS_UNKNOWN_PROPERTY, 0, EIO);
	/* Synthetic processor features are an "early" property. */
	if (p->initialized)
		return hv_status(args, NUB_HV_STATUS_INVALID_PARTITION_STATE, 0, EIO);
	for (int i = 0; i < p->nprops; i++) {
		if (p->prop_code[i] == prop.property_code) {
			p->prop_value[i] = prop.property_value;
			return hv_status(args, NUB_HV_STATUS_SUCCESS, 0, 0);
		}
	}
	p->prop_code[p->nprops] = prop.property_code;
	p->prop_value[p->nprops++] = prop.property_value;
	return hv_status(args, NUB_HV_STATUS_SUCCESS, 0, 0);
}

static int fake_root_hvcall(struct fake_partition *p, void *arg, int from_partition_fd)
{
	struct nub_mshv_root_hvcall *args = arg;
	uint8_t in[NUB_MSHV_HV_PAGE_SIZE];

	/* mshv_ioctl_passthru_hvcall's checks, in its order. */
	if (args->status || !args->in_ptr || args->in_sz < sizeof(uint64_t) ||
	    !all_zero(args->rsvd, sizeof(args->rsvd)) || args->in_sz > NUB_MSHV_HV_PAGE_SIZE)
		return fail(EINVAL);
	if (args->out_ptr && (!args->out_sz || args->out_sz > NUB_MSHV_HV_PAGE_SIZE))
		return fail(EINVAL);
	memset(in, 0, sizeof(in));
	memcpy(in, (const void *)(uintptr_t)args->in_ptr, args->in_sz);
	switch (args->code) {
	case NUB_HVCALL_GET_VP_REGISTERS:
	case NUB_HVCALL_SET_VP_REGISTERS:
		return hvcall_vp_registers(p, args, in);
	case NUB_HVCALL_SET_PARTITION_PROPERTY:
		return hvcall_set_property(p, args, in, from_partition_fd);
	default:
		/* Not on the kernel's pass-through list, or not modelled. */
		return fail(EINVAL);
	}
}

/* ---- partition ioctls ---- */

static int regions_overlap(const struct nub_mshv_user_mem_region *a,
                           const struct nub_mshv_user_mem_region *b)
{
	uint64_t an = a->size / NUB_MSHV_HV_PAGE_SIZE, bn = b->size / NUB_MSHV_HV_PAGE_SIZE;

	return (a->guest_pfn < b->guest_pfn + bn && b->guest_pfn < a->guest_pfn + an) ||
	       (a->userspace_addr < b->userspace_addr + b->size &&
	        b->userspace_addr < a->userspace_addr + a->size);
}

static int fake_set_memory(struct fake_partition *p, const struct nub_mshv_user_mem_region *m)
{
	const uint8_t unmap = 1u << NUB_MSHV_SET_MEM_BIT_UNMAP;

	/* mshv_partition_ioctl_set_memory */
	if (!m->size || m->size % NUB_MSHV_HV_PAGE_SIZE ||
	    m->userspace_addr % NUB_MSHV_HV_PAGE_SIZE ||
	    (m->flags & ~NUB_MSHV_SET_MEM_FLAGS_MASK) || !all_zero(m->rsvd, sizeof(m->rsvd)))
		return fail(EINVAL);
	if (m->flags & unmap) {
		/* mshv_unmap_user_memory: found by gfn, everything must match */
		for (int i = 0; i < p->nregions; i++) {
			struct nub_mshv_user_mem_region *r = &p->regions[i];
			if (r->guest_pfn != m->guest_pfn)
				continue;
			if (r->userspace_addr != m->userspace_addr || r->size != m->size)
				return fail(EINVAL);
			p->regions[i] = p->regions[--p->nregions];
			return 0;
		}
		return fail(EINVAL);
	}
	for (int i = 0; i < p->nregions; i++)
		if (regions_overlap(&p->regions[i], m))
			return fail(EEXIST);
	if (!host_range_writable(m->userspace_addr, m->size))
		return fail(EFAULT); /* pin_user_pages(FOLL_WRITE) fails */
	/* Mapping GPA pages needs an initialised partition (assumed: the
	 * hypervisor refuses with HV_STATUS_INVALID_PARTITION_STATE). */
	if (!p->initialized)
		return fail(EIO);
	if (p->nregions == FAKE_MAX_REGIONS)
		return fail(ENOMEM);
	p->regions[p->nregions++] = *m;
	return 0;
}

static int fake_create_vp(struct fake_partition *p, int pt_index,
                          const struct nub_mshv_create_vp *a)
{
	if (a->vp_index >= FAKE_MAX_VPS)
		return fail(EINVAL);
	if (a->vp_index == 0 && p->vp0.exists)
		return fail(EEXIST);
	if (!p->initialized) /* hv_call_create_vp: INVALID_PARTITION_STATE */
		return fail(EIO);
	if (a->vp_index != 0)
		return fail(ENOSYS); /* the fake runs one VP */
	int fd = fd_alloc(FD_VP, pt_index);
	if (fd < 0)
		return fd;
	p->vp0.exists = 1;
	p->vp0_fd_open = 1;
	p->fd_refs++;
	return fd;
}

static int fake_partition_ioctl(int pt_index, unsigned long req, void *arg)
{
	struct fake_partition *p = &g.pts[pt_index];

	switch (req) {
	case NUB_MSHV_INITIALIZE_PARTITION:
		p->initialized = 1; /* idempotent, like the kernel */
		return 0;
	case NUB_MSHV_CREATE_VP:
		return fake_create_vp(p, pt_index, arg);
	case NUB_MSHV_SET_GUEST_MEMORY:
		return fake_set_memory(p, arg);
	case NUB_MSHV_ROOT_HVCALL:
		return fake_root_hvcall(p, arg, 1);
	default:
		return fail(ENOTTY);
	}
}

static int fake_create_partition(const struct nub_mshv_create_partition *a)
{
	int pt = -1;

	if ((a->pt_flags & ~(uint64_t)NUB_MSHV_PT_FLAGS_MASK) ||
	    a->pt_isolation >= NUB_MSHV_PT_ISOLATION_COUNT)
		return fail(EINVAL);
	for (int i = 0; i < FAKE_MAX_PTS && pt < 0; i++)
		if (!g.pts[i].alive)
			pt = i;
	if (pt < 0)
		return fail(ENOMEM);
	int fd = fd_alloc(FD_PARTITION, pt);
	if (fd < 0)
		return fd;
	memset(&g.pts[pt], 0, sizeof(g.pts[pt]));
	g.pts[pt].alive = 1;
	g.pts[pt].fd_refs = 1;
	g.pts[pt].pt_flags = a->pt_flags;
	pthread_mutex_init(&g.pts[pt].vp0.run_lock, NULL);
	g.last_pt = pt;
	g.created++;
	return fd;
}

/* ---- MSHV_RUN_VP ---- */

static void msg_header(struct nub_hv_message *m, uint32_t type, size_t payload,
                       struct nub_hv_x64_intercept_message_header *h, struct fake_vp *vp,
                       uint8_t instr_len, uint8_t access)
{
	memset(m, 0, sizeof(*m));
	m->header.message_type = type;
	m->header.payload_size = (uint8_t)payload;
	memset(h, 0, sizeof(*h));
	h->vp_index = 0;
	h->instr_len_cr8 = instr_len & NUB_HV_INTERCEPT_INSTR_LEN_MASK;
	h->intercept_access_type = access;
	/* The processor state the hypervisor describes with every intercept:
	 * CS as loaded, CPL, CR0.PE and EFER.LMA. */
	struct fake_reg *cs = reg_slot(vp, NUB_HV_X64_REGISTER_CS, 0);
	if (cs)
		memcpy(&h->cs_segment, &cs->value, sizeof(h->cs_segment));
	uint16_t state = h->cs_segment.selector & 3;
	if (reg64(vp, NUB_HV_X64_REGISTER_CR0) & 1)
		state |= NUB_HV_X64_EXEC_STATE_CR0_PE;
	if (reg64(vp, NUB_HV_X64_REGISTER_EFER) & (1u << 10))
		state |= NUB_HV_X64_EXEC_STATE_EFER_LMA;
	h->execution_state = state;
	h->rip = reg64(vp, NUB_HV_X64_REGISTER_RIP);
	h->rflags = reg64(vp, NUB_HV_X64_REGISTER_RFLAGS);
}

static void build_io(struct fake_vp *vp, const struct script_entry *e, struct nub_hv_message *m)
{
	struct nub_hv_x64_io_port_intercept_message io;

	if (e->is_write) {
		struct fake_reg *rax = reg_slot(vp, NUB_HV_X64_REGISTER_RAX, 1);
		rax->value.low_part = e->value;
	}
	msg_header(m, NUB_HVMSG_X64_IO_PORT_INTERCEPT, sizeof(io), &io.header, vp, e->instr_len,
	           e->is_write ? NUB_HV_INTERCEPT_ACCESS_WRITE : NUB_HV_INTERCEPT_ACCESS_READ);
	memset((uint8_t *)&io + sizeof(io.header), 0, sizeof(io) - sizeof(io.header));
	io.port_number = e->port;
	io.access_info = e->size & NUB_HV_IO_ACCESS_SIZE_MASK;
	io.instruction_byte_count = e->instr_len;
	io.rax = reg64(vp, NUB_HV_X64_REGISTER_RAX);
	memcpy(m->payload, &io, sizeof(io));
}

/* 1: an intercept was built; 0: the access was permitted (no exit). */
static int build_access(struct fake_partition *p, const struct script_entry *e,
                        struct nub_hv_message *m)
{
	struct nub_hv_x64_memory_intercept_message mem;
	const struct nub_mshv_user_mem_region *r = NULL;
	uint32_t type = NUB_HVMSG_UNMAPPED_GPA;

	for (int i = 0; i < p->nregions && !r; i++) {
		uint64_t start = p->regions[i].guest_pfn * NUB_MSHV_HV_PAGE_SIZE;
		if (e->gpa >= start && e->gpa - start < p->regions[i].size)
			r = &p->regions[i];
	}
	if (r) {
		int w = r->flags & (1u << NUB_MSHV_SET_MEM_BIT_WRITABLE);
		int x = r->flags & (1u << NUB_MSHV_SET_MEM_BIT_EXECUTABLE);
		if ((e->access == NUB_HV_INTERCEPT_ACCESS_WRITE && !w) ||
		    (e->access == NUB_HV_INTERCEPT_ACCESS_EXECUTE && !x))
			type = NUB_HVMSG_GPA_INTERCEPT;
		else
			return 0;
	}
	if (e->kind == S_STORE) {
		/* An EPT/NPT violation has no valid instruction length: the
		 * header says 0 and only the bytes describe the instruction. */
		msg_header(m, type, sizeof(mem), &mem.header, &p->vp0, 0, e->access);
		memset((uint8_t *)&mem + sizeof(mem.header), 0, sizeof(mem) - sizeof(mem.header));
		mem.instruction_byte_count = e->insn_count;
		memcpy(mem.instruction_bytes, e->insn, sizeof(mem.instruction_bytes));
	} else {
		msg_header(m, type, sizeof(mem), &mem.header, &p->vp0, 3, e->access);
		memset((uint8_t *)&mem + sizeof(mem.header), 0, sizeof(mem) - sizeof(mem.header));
		mem.instruction_byte_count = 3;
	}
	mem.guest_physical_address = e->gpa;
	memcpy(m->payload, &mem, sizeof(mem));
	return 1;
}

/* Next message from the script; 0 when the guest just spins. */
static int script_next(struct fake_partition *p, struct nub_hv_message *m)
{
	struct fake_vp *vp = &p->vp0;

	if (vp->io_pending && reg64(vp, NUB_HV_X64_REGISTER_RIP) == vp->io_rip) {
		atomic_fetch_add(&g.redeliveries, 1);
		*m = vp->io_msg;
		return 1;
	}
	vp->io_pending = 0;
	while (g.script_pos < g.script_len) {
		const struct script_entry *e = &g.script[g.script_pos++];
		switch (e->kind) {
		case S_IO:
			build_io(vp, e, m);
			vp->io_pending = 1;
			vp->io_rip = reg64(vp, NUB_HV_X64_REGISTER_RIP);
			vp->io_msg = *m;
			return 1;
		case S_HALT: {
			struct nub_hv_x64_intercept_message_header h;
			msg_header(m, NUB_HVMSG_X64_HALT, sizeof(h), &h, vp, 1, 0);
			memcpy(m->payload, &h, sizeof(h));
			return 1;
		}
		case S_ACCESS:
			if (build_access(p, e, m))
				return 1;
			break;
		case S_STORE:
			if (!build_access(p, e, m))
				break;
			vp->io_pending = 1;
			vp->io_rip = reg64(vp, NUB_HV_X64_REGISTER_RIP);
			vp->io_msg = *m;
			return 1;
		case S_MESSAGE:
			*m = e->msg;
			return 1;
		}
	}
	return 0;
}

/* The guest spins: wait in a system call that a signal handler interrupts,
 * as wait_event_interruptible does in the kernel. */
static int spin_until_signal(const sigset_t *unblocked)
{
	struct timespec ts = {FAKE_SPIN_MS / 1000, 0};

	atomic_store(&g.blocked, 1);
	int rc = ppoll(NULL, 0, &ts, unblocked);
	int saved = errno;
	atomic_store(&g.blocked, 0);
	if (rc < 0 && saved == EINTR)
		return fail(EINTR);
	return fail(ETIMEDOUT);
}

static int fake_run_vp(int pt_index, void *arg, const sigset_t *unblocked)
{
	struct fake_partition *p = &g.pts[pt_index];
	struct nub_hv_message m;
	int have;

	atomic_fetch_add(&g.run_calls, 1);
	have = script_next(p, &m);
	if (have) {
		memcpy(((struct nub_mshv_run_vp *)arg)->msg_buf, &m, sizeof(m));
		return 0;
	}
	pthread_mutex_unlock(&g.lock);
	int rc = spin_until_signal(unblocked);
	int saved = errno;
	pthread_mutex_lock(&g.lock);
	errno = saved;
	return rc;
}

static int fake_vp_ioctl(int pt_index, unsigned long req, void *arg, const sigset_t *unblocked)
{
	struct fake_partition *p = &g.pts[pt_index];
	int rc;

	switch (req) {
	case NUB_MSHV_RUN_VP:
		/* The VP mutex is held across the run, as in mshv_vp_ioctl. */
		pthread_mutex_unlock(&g.lock);
		pthread_mutex_lock(&p->vp0.run_lock);
		pthread_mutex_lock(&g.lock);
		rc = fake_run_vp(pt_index, arg, unblocked);
		pthread_mutex_unlock(&p->vp0.run_lock);
		return rc;
	case NUB_MSHV_ROOT_HVCALL:
		return fake_root_hvcall(p, arg, 0);
	default:
		return fail(ENOTTY);
	}
}

/* ---- the system-call table ---- */

static int fake_open(const char *path, int flags)
{
	int rc;

	(void)flags;
	pthread_mutex_lock(&g.lock);
	if (strcmp(path, "/dev/mshv") != 0 || g.device_missing)
		rc = fail(ENOENT);
	else
		rc = fd_alloc(FD_DEV, -1);
	pthread_mutex_unlock(&g.lock);
	return rc;
}

/* The user-space stretch between the backend's last check and the system
 * call: a signal handled here is consumed before the "kernel" runs. */
static void entry_window(void)
{
	int us = atomic_load(&g.entry_delay_us);
	struct timespec end, now;

	if (!us)
		return;
	atomic_store(&g.in_entry_window, 1);
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_nsec += (long)us * 1000;
	end.tv_sec += end.tv_nsec / 1000000000;
	end.tv_nsec %= 1000000000;
	do {
		struct timespec ts = {0, 100000};
		nanosleep(&ts, NULL); /* EINTR here is swallowed, like a real gap */
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (now.tv_sec < end.tv_sec ||
	         (now.tv_sec == end.tv_sec && now.tv_nsec < end.tv_nsec));
	atomic_store(&g.in_entry_window, 0);
}

static int fake_ioctl(int fd, unsigned long req, void *arg)
{
	struct fake_fd *f;
	sigset_t all, unblocked;
	int rc, saved;

	if (req == NUB_MSHV_RUN_VP)
		entry_window();
	/* "Kernel mode": a signal arriving from here on stays pending and is
	 * seen by the interruptible wait (TIF_SIGPENDING), never lost. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &unblocked);
	pthread_mutex_lock(&g.lock);
	f = fd_get(fd);
	if (!f) {
		rc = fail(EBADF);
	} else if (g.fail_request && g.fail_request == req) {
		g.fail_request = 0;
		rc = fail(g.fail_errno);
	} else if (f->kind == FD_DEV) {
		rc = req == NUB_MSHV_CREATE_PARTITION ? fake_create_partition(arg) : fail(ENOTTY);
	} else if (f->kind == FD_PARTITION) {
		rc = fake_partition_ioctl(f->pt, req, arg);
	} else {
		rc = fake_vp_ioctl(f->pt, req, arg, &unblocked);
	}
	saved = errno;
	pthread_mutex_unlock(&g.lock);
	pthread_sigmask(SIG_SETMASK, &unblocked, NULL);
	errno = saved;
	return rc;
}

static int fake_close(int fd)
{
	struct fake_fd *f;
	int rc = 0;

	pthread_mutex_lock(&g.lock);
	f = fd_get(fd);
	if (!f) {
		rc = fail(EBADF);
	} else {
		if (f->kind == FD_PARTITION || f->kind == FD_VP) {
			if (f->kind == FD_VP)
				g.pts[f->pt].vp0_fd_open = 0;
			pt_put(&g.pts[f->pt]);
		}
		f->kind = FD_FREE;
	}
	pthread_mutex_unlock(&g.lock);
	return rc;
}

static const struct nub_mshv_sys fake_sys = {fake_open, fake_ioctl, fake_close};

const struct nub_mshv_sys *fake_mshv_sys(void)
{
	return &fake_sys;
}

/* ---- test controls ---- */

void fake_mshv_reset(void)
{
	pthread_mutex_lock(&g.lock);
	for (int i = 0; i < FAKE_MAX_PTS; i++)
		if (g.pts[i].alive)
			pthread_mutex_destroy(&g.pts[i].vp0.run_lock);
	memset(g.fds, 0, sizeof(g.fds));
	memset(g.pts, 0, sizeof(g.pts));
	g.last_pt = -1;
	g.created = 0;
	g.device_missing = 0;
	g.fail_request = 0;
	g.script_len = g.script_pos = 0;
	atomic_store(&g.entry_delay_us, 0);
	atomic_store(&g.run_calls, 0);
	atomic_store(&g.redeliveries, 0);
	pthread_mutex_unlock(&g.lock);
}

void fake_mshv_set_device_missing(int missing)
{
	pthread_mutex_lock(&g.lock);
	g.device_missing = missing;
	pthread_mutex_unlock(&g.lock);
}

void fake_mshv_fail_next(unsigned long request, int err)
{
	pthread_mutex_lock(&g.lock);
	g.fail_request = request;
	g.fail_errno = err;
	pthread_mutex_unlock(&g.lock);
}

int fake_mshv_open_fds(void)
{
	int n = 0;

	pthread_mutex_lock(&g.lock);
	for (int i = 0; i < FAKE_MAX_FDS; i++)
		n += g.fds[i].kind != FD_FREE;
	pthread_mutex_unlock(&g.lock);
	return n;
}

int fake_mshv_partitions_created(void)
{
	pthread_mutex_lock(&g.lock);
	int n = g.created;
	pthread_mutex_unlock(&g.lock);
	return n;
}

int fake_mshv_partitions_alive(void)
{
	int n = 0;

	pthread_mutex_lock(&g.lock);
	for (int i = 0; i < FAKE_MAX_PTS; i++)
		n += g.pts[i].alive;
	pthread_mutex_unlock(&g.lock);
	return n;
}

/* The most recent partition, alive or not (zeroed once deleted). */
static struct fake_partition *last_pt(void)
{
	return g.last_pt >= 0 ? &g.pts[g.last_pt] : NULL;
}

int fake_mshv_initialized(void)
{
	pthread_mutex_lock(&g.lock);
	int v = last_pt() ? last_pt()->initialized : 0;
	pthread_mutex_unlock(&g.lock);
	return v;
}

uint64_t fake_mshv_pt_flags(void)
{
	pthread_mutex_lock(&g.lock);
	uint64_t v = last_pt() ? last_pt()->pt_flags : 0;
	pthread_mutex_unlock(&g.lock);
	return v;
}

uint64_t fake_mshv_property(uint32_t code, int *was_set)
{
	uint64_t v = 0;

	*was_set = 0;
	pthread_mutex_lock(&g.lock);
	struct fake_partition *p = last_pt();
	for (int i = 0; p && i < p->nprops; i++) {
		if (p->prop_code[i] == code) {
			v = p->prop_value[i];
			*was_set = 1;
		}
	}
	pthread_mutex_unlock(&g.lock);
	return v;
}

int fake_mshv_region_at(uint64_t gpa, struct nub_mshv_user_mem_region *out)
{
	int rc = -1;

	pthread_mutex_lock(&g.lock);
	struct fake_partition *p = last_pt();
	for (int i = 0; p && i < p->nregions && rc; i++) {
		uint64_t start = p->regions[i].guest_pfn * NUB_MSHV_HV_PAGE_SIZE;
		if (gpa >= start && gpa - start < p->regions[i].size) {
			*out = p->regions[i];
			rc = 0;
		}
	}
	pthread_mutex_unlock(&g.lock);
	return rc;
}

int fake_mshv_region_count(void)
{
	pthread_mutex_lock(&g.lock);
	int n = last_pt() ? last_pt()->nregions : 0;
	pthread_mutex_unlock(&g.lock);
	return n;
}

int fake_mshv_reg(uint32_t name, struct nub_hv_u128 *out)
{
	int rc = -1;

	pthread_mutex_lock(&g.lock);
	struct fake_partition *p = last_pt();
	struct fake_reg *r = p ? reg_slot(&p->vp0, name, 0) : NULL;
	if (r) {
		*out = r->value;
		rc = 0;
	}
	pthread_mutex_unlock(&g.lock);
	return rc;
}

void fake_mshv_set_reg(uint32_t name, uint64_t low, uint64_t high)
{
	pthread_mutex_lock(&g.lock);
	struct fake_partition *p = last_pt();
	struct fake_reg *r = p ? reg_slot(&p->vp0, name, 1) : NULL;
	if (r) {
		r->value.low_part = low;
		r->value.high_part = high;
	}
	pthread_mutex_unlock(&g.lock);
}

unsigned fake_mshv_run_calls(void)
{
	return atomic_load(&g.run_calls);
}

unsigned fake_mshv_redeliveries(void)
{
	return atomic_load(&g.redeliveries);
}

int fake_mshv_run_blocked(void)
{
	return atomic_load(&g.blocked);
}

void fake_mshv_set_entry_delay_us(int us)
{
	atomic_store(&g.entry_delay_us, us);
}

int fake_mshv_in_entry_window(void)
{
	return atomic_load(&g.in_entry_window);
}

static void script_push(const struct script_entry *e)
{
	pthread_mutex_lock(&g.lock);
	if (g.script_len < FAKE_MAX_SCRIPT)
		g.script[g.script_len++] = *e;
	pthread_mutex_unlock(&g.lock);
}

void fake_mshv_script_io(uint16_t port, uint8_t size, int is_write, uint64_t value,
                         uint8_t instr_len)
{
	struct script_entry e = {.kind = S_IO,
	                         .port = port,
	                         .size = size,
	                         .is_write = (uint8_t) !!is_write,
	                         .value = value,
	                         .instr_len = instr_len};
	script_push(&e);
}

void fake_mshv_script_halt(void)
{
	struct script_entry e = {.kind = S_HALT};
	script_push(&e);
}

void fake_mshv_script_access(uint64_t gpa, uint8_t access)
{
	struct script_entry e = {.kind = S_ACCESS, .gpa = gpa, .access = access};
	script_push(&e);
}

void fake_mshv_script_store(uint64_t gpa, const uint8_t *bytes, uint8_t byte_count)
{
	struct script_entry e = {.kind = S_STORE,
	                         .gpa = gpa,
	                         .access = NUB_HV_INTERCEPT_ACCESS_WRITE,
	                         .insn_count = byte_count};
	if (bytes)
		memcpy(e.insn, bytes, byte_count < sizeof(e.insn) ? byte_count : sizeof(e.insn));
	script_push(&e);
}

void fake_mshv_script_message(const struct nub_hv_message *msg)
{
	struct script_entry e = {.kind = S_MESSAGE, .msg = *msg};
	script_push(&e);
}
