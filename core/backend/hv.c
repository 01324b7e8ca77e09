/* SPDX-License-Identifier: MIT */
#include "backend/hv.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nub/guest_abi.h>

#include "error_internal.h"

struct nub_hv {
	struct nub_backend *backend;
	const struct nub_backend_ops *ops;
	struct nub_vm *vm;
	uint64_t mem_limit;
	nub_gpa_t gpa_base;  /* get_gpa_base; 0 without it */
	uint32_t slots_used; /* bitmap, mirrors what the backend has mapped */
	struct nub_fault faults[NUB_HV_SLOT_COUNT_]; /* the VM's slots' (tests) */
	char msg[NUB_ERROR_MSG_MAX];
};

/* Each slot's name (for messages), place and kind, from the slot list. */
enum hv_kind { HV_REQUIRED, HV_OPTIONAL, HV_RESERVED };
#define HV_SLOT_INFO(slot, ENUM, kind, offset, shape, type)                                        \
	[NUB_HV_SLOT_##ENUM] = {#slot, offsetof(struct nub_backend_ops, slot), HV_##kind},
static const struct hv_slot {
	const char *name;
	size_t offset;
	enum hv_kind kind;
} hv_slots[NUB_HV_SLOT_COUNT_] = {NUB_HV_SLOTS(HV_SLOT_INFO)};
#undef HV_SLOT_INFO

/* Whether a table has `slot` set (read through its offset, so that one
 * loop checks every slot). */
static int slot_set(const struct nub_backend_ops *t, enum nub_hv_slot slot)
{
	void (*fn)(void);

	memcpy(&fn, (const char *)t + hv_slots[slot].offset, sizeof(fn));
	return fn != NULL;
}

/* Whether an armed fault fires on this call: its code, once, after
 * `after` calls that pass; else 0. */
static int fault_fires(struct nub_fault *f)
{
	int code = f->code;

	if (!code)
		return 0;
	if (f->after) {
		f->after--;
		return 0;
	}
	f->code = 0;
	return code;
}

static int check_copy(const struct nub_backend_ops *t, const char *path, struct nub_error *err)
{
	if (!t->name || !t->name[0])
		return nub_error_set(err, NUB_ESLOT, "%s: backend table has no name", path);
	for (int i = 0; i < NUB_HV_SLOT_COUNT_; i++)
		if (hv_slots[i].kind == HV_REQUIRED && !slot_set(t, (enum nub_hv_slot)i))
			return nub_error_set(err, NUB_ESLOT,
			                     "%s: required backend slot '%s' is NULL", path,
			                     hv_slots[i].name);
	return 0;
}

int nub_hv_adopt_table(struct nub_backend_ops *copy, const struct nub_backend_ops *t,
                       const char *path, struct nub_error *err)
{
	/* Read the fixed header first: a table from another major may be any
	 * size, so copy no more than it says it has. */
	if (t->abi_major != NUB_BACKEND_ABI_MAJOR)
		return nub_error_set(err, NUB_EABI,
		                     "%s: backend ABI %u.%u, this libnub speaks ABI %u.%u "
		                     "(major versions differ)",
		                     path, t->abi_major, t->abi_minor, NUB_BACKEND_ABI_MAJOR,
		                     NUB_BACKEND_ABI_MINOR);
	if (t->struct_size < NUB_BACKEND_OPS_MIN_SIZE)
		return nub_error_set(err, NUB_ESHORT,
		                     "%s: backend ops table is %u bytes, at least %zu required",
		                     path, t->struct_size, (size_t)NUB_BACKEND_OPS_MIN_SIZE);
	memset(copy, 0, sizeof(*copy));
	memcpy(copy, t, t->struct_size < sizeof(*copy) ? t->struct_size : sizeof(*copy));
	return check_copy(copy, path, err);
}

int nub_hv_probe(struct nub_backend *b, char *note, size_t cap, struct nub_error *err)
{
	const struct nub_backend_ops *ops = nub_backend_ops(b);
	int rc = fault_fires(&nub_backend_faults(b)[NUB_HV_SLOT_PROBE]);

	note[0] = '\0';
	if (rc)
		snprintf(note, cap, "injected fault");
	else
		rc = ops->probe(note, cap);
	note[cap - 1] = '\0'; /* a note on success, the reason on failure */
	if (rc == 0)
		return 0;
	if (!note[0])
		snprintf(note, cap, "probe failed without a reason");
	if (!nub_error_valid_code(rc))
		return nub_error_set(err, NUB_EBACKEND, "%s: probe: returned invalid code %d",
		                     ops->name, rc);
	return nub_error_set(err, rc, "%s: probe: %s", ops->name, note);
}

const char *nub_hv_backend_name(const struct nub_backend *b)
{
	return nub_backend_ops(b)->name;
}

uint32_t nub_hv_backend_caps(const struct nub_backend *b)
{
	return nub_backend_ops(b)->caps;
}

void nub_hv_backend_abi(const struct nub_backend *b, uint32_t *major, uint32_t *minor)
{
	*major = nub_backend_ops(b)->abi_major;
	*minor = nub_backend_ops(b)->abi_minor;
}

/* Every message of a nub_hv_* call starts "<backend>: <slot>: ", whether
 * the backend wrote it or core's own checks did: callers never add the
 * slot again, and backends never write their name or the slot (the rule
 * docs/writing-a-backend.md gives them). */
static int hv_fail(const struct nub_hv *hv, struct nub_error *err, int code, const char *slot,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int hv_fail(const struct nub_hv *hv, struct nub_error *err, int code, const char *slot,
                   const char *fmt, ...)
{
	char what[NUB_ERROR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return nub_error_set(err, code, "%s: %s: %s", hv->ops->name, slot, what);
}

/* Turn a backend's return value into a nub error naming backend and slot.
 * A backend that returns a positive or unknown value is a broken backend,
 * reported as NUB_EBACKEND rather than passed on. */
static int hv_result(struct nub_hv *hv, const char *slot, int rc, struct nub_error *err)
{
	if (rc == 0)
		return 0;
	if (!nub_error_valid_code(rc))
		return hv_fail(hv, err, NUB_EBACKEND, slot, "returned invalid code %d", rc);
	hv->msg[sizeof(hv->msg) - 1] = '\0';
	return hv_fail(hv, err, rc, slot, "%s", hv->msg[0] ? hv->msg : nub_strerror(rc));
}

static int hv_injected(struct nub_hv *hv, enum nub_hv_slot slot, struct nub_error *err)
{
	int code = fault_fires(&hv->faults[slot]);

	return code ? hv_fail(hv, err, code, hv_slots[slot].name, "injected fault") : 0;
}

#define HV_ENTER(hv, slot, err)                                                                    \
	do {                                                                                       \
		int inj_ = hv_injected(hv, slot, err);                                             \
		if (inj_)                                                                          \
			return inj_;                                                               \
		(hv)->msg[0] = '\0';                                                               \
	} while (0)

/* The window the backend placed the VM at: a whole number of the
 * guest-physical spaces core lays out (NUB_GPA_LIMIT), so that the 2 MiB
 * and 1 GiB leaves of the tables stay aligned, and below the 52 bits a
 * page-table entry can hold. */
static int hv_learn_gpa_base(struct nub_hv *hv, struct nub_error *err)
{
	uint64_t base = 0;

	if (!nub_hv_has(hv, NUB_HV_SLOT_GET_GPA_BASE))
		return 0;
	int rc = nub_hv_get_gpa_base(hv, &base, err);
	if (rc)
		return rc;
	if (base % NUB_GPA_LIMIT || base / NUB_GPA_LIMIT > NUB_GPA_WINDOW_MAX)
		return hv_fail(hv, err, NUB_EBACKEND, "get_gpa_base",
		               "window at GPA 0x%llx is not a multiple of 0x%llx below 2^52",
		               (unsigned long long)base, (unsigned long long)NUB_GPA_LIMIT);
	hv->gpa_base = base;
	return 0;
}

int nub_hv_create(struct nub_backend *b, uint64_t mem_limit, const char *options,
                  struct nub_hv **out, struct nub_error *err)
{
	struct nub_vm_config cfg = {
	        .struct_size = sizeof(cfg), .mem_limit = mem_limit, .options = options};
	struct nub_hv *hv;
	int rc;

	if (!b || !out)
		return nub_error_set(err, NUB_EINVAL, "nub_hv_create: NULL argument");
	/* Every guest address space core builds maps its doorbells, the only
	 * pages no region backs, this way (guest_abi.h, ABI 3). */
	if (nub_backend_ops(b)->abi_minor >= 3)
		cfg.flags |= NUB_VM_MMIO_ENDS_AT_PAGE_END;
	/* Core adds a window's base wherever a GPA leaves it (below, and the
	 * resolver's window for the tables it writes). */
	if (nub_backend_ops(b)->abi_minor >= 4)
		cfg.flags |= NUB_VM_GPA_WINDOW;
	hv = calloc(1, sizeof(*hv));
	if (!hv)
		return nub_error_set(err, NUB_ENOMEM, "out of memory creating a VM");
	hv->backend = nub_backend_ref(b);
	hv->ops = nub_backend_ops(b);
	hv->mem_limit = mem_limit;
	rc = fault_fires(&nub_backend_faults(b)[NUB_HV_SLOT_VM_CREATE]);
	if (rc) {
		rc = hv_fail(hv, err, rc, "vm_create", "injected fault");
		goto unref_backend;
	}
	rc = hv->ops->vm_create(&cfg, &hv->vm, hv->msg, sizeof(hv->msg));
	if (rc == 0 && !hv->vm)
		rc = NUB_EBACKEND;
	if (rc) {
		rc = hv_result(hv, "vm_create", rc, err);
		goto unref_backend;
	}
	rc = hv_learn_gpa_base(hv, err);
	if (rc)
		goto destroy_vm;
	*out = hv;
	return 0;
destroy_vm:
	hv->ops->vm_destroy(hv->vm);
unref_backend:
	nub_backend_unref(hv->backend);
	free(hv);
	return rc;
}

void nub_hv_destroy(struct nub_hv *hv)
{
	if (!hv)
		return;
	hv->ops->vm_destroy(hv->vm);
	nub_backend_unref(hv->backend);
	free(hv);
}

const char *nub_hv_name(const struct nub_hv *hv)
{
	return hv->ops->name;
}

uint32_t nub_hv_caps(const struct nub_hv *hv)
{
	return hv->ops->caps;
}

int nub_hv_has(const struct nub_hv *hv, enum nub_hv_slot slot)
{
	return (unsigned)slot < NUB_HV_SLOT_COUNT_ && slot_set(hv->ops, slot);
}

nub_gpa_t nub_hv_gpa_base(const struct nub_hv *hv)
{
	return hv->gpa_base;
}

int nub_hv_map_region(struct nub_hv *hv, const struct nub_region *r, struct nub_error *err)
{
	struct nub_region at;

	const uint64_t mask = NUB_PAGE_SIZE - 1;

	if (!r || !r->host)
		return hv_fail(hv, err, NUB_EINVAL, "map_region", "NULL region or host memory");
	if (r->slot >= NUB_HV_MAX_SLOTS || (hv->slots_used & (1u << r->slot)))
		return hv_fail(hv, err, NUB_EINVAL, "map_region", "slot %u invalid or in use",
		               r->slot);
	if ((r->gpa & mask) || (r->size & mask) || r->size == 0 || ((uintptr_t)r->host & mask))
		return hv_fail(hv, err, NUB_EINVAL, "map_region",
		               "gpa 0x%llx size 0x%llx host %p not page-aligned",
		               (unsigned long long)r->gpa, (unsigned long long)r->size, r->host);
	if (r->gpa + r->size < r->gpa || r->gpa + r->size > hv->mem_limit)
		return hv_fail(hv, err, NUB_ERANGE, "map_region",
		               "[0x%llx, +0x%llx) beyond GPA limit 0x%llx",
		               (unsigned long long)r->gpa, (unsigned long long)r->size,
		               (unsigned long long)hv->mem_limit);
	if (!(r->flags & NUB_MEM_WRITE) && !(hv->ops->caps & NUB_CAP_READONLY_MEM))
		return hv_fail(hv, err, NUB_EUNSUPPORTED, "map_region",
		               "read-only memory not supported by this backend");
	HV_ENTER(hv, NUB_HV_SLOT_MAP_REGION, err);
	at = *r;
	at.gpa += hv->gpa_base;
	int rc = hv->ops->map_region(hv->vm, &at, hv->msg, sizeof(hv->msg));
	if (rc == 0)
		hv->slots_used |= 1u << r->slot;
	return hv_result(hv, "map_region", rc, err);
}

int nub_hv_unmap_region(struct nub_hv *hv, uint32_t slot, struct nub_error *err)
{
	if (slot >= NUB_HV_MAX_SLOTS || !(hv->slots_used & (1u << slot)))
		return hv_fail(hv, err, NUB_EINVAL, "unmap_region", "slot %u not mapped", slot);
	HV_ENTER(hv, NUB_HV_SLOT_UNMAP_REGION, err);
	int rc = hv->ops->unmap_region(hv->vm, slot, hv->msg, sizeof(hv->msg));
	if (rc == 0)
		hv->slots_used &= ~(1u << slot);
	return hv_result(hv, "unmap_region", rc, err);
}

#define HV_CALL(hv, slot_enum, slot, err, ...)                                                     \
	do {                                                                                       \
		HV_ENTER(hv, slot_enum, err);                                                      \
		return hv_result(hv, #slot,                                                        \
		                 hv->ops->slot(hv->vm, __VA_ARGS__, hv->msg, sizeof(hv->msg)),     \
		                 err);                                                             \
	} while (0)

#define HV_CHECK_PTR(hv, p, slot, err)                                                             \
	do {                                                                                       \
		if (!(p))                                                                          \
			return hv_fail(hv, err, NUB_EINVAL, #slot, "NULL argument");               \
	} while (0)

#define HV_CHECK_OPTIONAL(hv, slot, err)                                                           \
	do {                                                                                       \
		if (!(hv)->ops->slot)                                                              \
			return hv_fail(hv, err, NUB_EUNSUPPORTED, #slot,                           \
			               "not supported by this backend");                           \
	} while (0)

/* The wrappers of the generic shapes (backend/hv_slots.h), one template
 * each: the pointer checked, then the slot (a required one is never NULL,
 * so only an optional one can fail NUB_EUNSUPPORTED), then the call. */
#define HV_WRAP_SET(slot, ENUM, type)                                                              \
	int nub_hv_##slot(struct nub_hv *hv, const type *v, struct nub_error *err)                 \
	{                                                                                          \
		HV_CHECK_PTR(hv, v, slot, err);                                                    \
		HV_CHECK_OPTIONAL(hv, slot, err);                                                  \
		HV_CALL(hv, NUB_HV_SLOT_##ENUM, slot, err, v);                                     \
	}
#define HV_WRAP_GET(slot, ENUM, type)                                                              \
	int nub_hv_##slot(struct nub_hv *hv, type *v, struct nub_error *err)                       \
	{                                                                                          \
		HV_CHECK_PTR(hv, v, slot, err);                                                    \
		HV_CHECK_OPTIONAL(hv, slot, err);                                                  \
		HV_CALL(hv, NUB_HV_SLOT_##ENUM, slot, err, v);                                     \
	}
#define HV_WRAP_SETV(slot, ENUM, type)                                                             \
	int nub_hv_##slot(struct nub_hv *hv, type v, struct nub_error *err)                        \
	{                                                                                          \
		HV_CHECK_OPTIONAL(hv, slot, err);                                                  \
		HV_CALL(hv, NUB_HV_SLOT_##ENUM, slot, err, v);                                     \
	}
#define HV_WRAP_SETN(slot, ENUM, type)                                                             \
	int nub_hv_##slot(struct nub_hv *hv, const type *v, uint32_t count, struct nub_error *err) \
	{                                                                                          \
		HV_CHECK_PTR(hv, v, slot, err);                                                    \
		HV_CHECK_OPTIONAL(hv, slot, err);                                                  \
		HV_CALL(hv, NUB_HV_SLOT_##ENUM, slot, err, v, count);                              \
	}
#define HV_WRAP_GETN(slot, ENUM, type)                                                             \
	int nub_hv_##slot(struct nub_hv *hv, type *v, uint32_t count, struct nub_error *err)       \
	{                                                                                          \
		HV_CHECK_PTR(hv, v, slot, err);                                                    \
		HV_CHECK_OPTIONAL(hv, slot, err);                                                  \
		HV_CALL(hv, NUB_HV_SLOT_##ENUM, slot, err, v, count);                              \
	}
#define HV_WRAP_OWN(slot, ENUM, type)
#define HV_WRAP_VOID(slot, ENUM, type)
#define HV_WRAP_NONE(slot, ENUM, type)
#define HV_WRAP(slot, ENUM, kind, offset, shape, type) HV_WRAP_##shape(slot, ENUM, type)
NUB_HV_SLOTS(HV_WRAP)

int nub_hv_set_sregs(struct nub_hv *hv, const struct nub_sregs *s, struct nub_error *err)
{
	struct nub_sregs at;

	HV_CHECK_PTR(hv, s, set_sregs, err);
	at = *s;
	at.cr3 += hv->gpa_base;
	HV_CALL(hv, NUB_HV_SLOT_SET_SREGS, set_sregs, err, &at);
}

int nub_hv_get_sregs(struct nub_hv *hv, struct nub_sregs *s, struct nub_error *err)
{
	HV_CHECK_PTR(hv, s, get_sregs, err);
	HV_ENTER(hv, NUB_HV_SLOT_GET_SREGS, err);
	int rc = hv_result(hv, "get_sregs", hv->ops->get_sregs(hv->vm, s, hv->msg, sizeof(hv->msg)),
	                   err);
	if (rc == 0)
		s->cr3 -= hv->gpa_base;
	return rc;
}

int nub_hv_run(struct nub_hv *hv, struct nub_exit *exit, struct nub_error *err)
{
	int rc;

	HV_CHECK_PTR(hv, exit, run_vcpu, err);
	HV_ENTER(hv, NUB_HV_SLOT_RUN, err);
	rc = hv_result(hv, "run_vcpu", hv->ops->run_vcpu(hv->vm, exit, hv->msg, sizeof(hv->msg)),
	               err);
	if (rc)
		return rc;
	/* A reason the ABI does not define is a broken backend, not a guest. */
	if (exit->reason < NUB_EXIT_IO_OUT || exit->reason > NUB_EXIT_INTERNAL)
		return hv_fail(hv, err, NUB_EBACKEND, "run_vcpu",
		               "returned exit reason %u, which is not a valid enum nub_exit_reason",
		               exit->reason);
	exit->detail[sizeof(exit->detail) - 1] = '\0';
	if (exit->reason == NUB_EXIT_MMIO_READ || exit->reason == NUB_EXIT_MMIO_WRITE)
		exit->gpa -= hv->gpa_base;
	return 0;
}

/* No message buffer: interrupt may run on any thread, concurrently with a
 * slot that uses hv->msg. An injected fault here is the code alone. */
int nub_hv_interrupt(struct nub_hv *hv)
{
	int rc = fault_fires(&hv->faults[NUB_HV_SLOT_INTERRUPT]);

	if (rc)
		return rc;
	rc = hv->ops->interrupt(hv->vm);
	return nub_error_valid_code(rc) ? rc : NUB_EBACKEND;
}

void nub_hv_clear_interrupt(struct nub_hv *hv)
{
	hv->ops->clear_interrupt(hv->vm);
}

/* The slots that run before a VM exists keep their faults on the backend. */
static int slot_needs_vm(enum nub_hv_slot slot)
{
	return slot != NUB_HV_SLOT_PROBE && slot != NUB_HV_SLOT_VM_CREATE;
}

void nub_hv_inject_fault(struct nub_hv *hv, enum nub_hv_slot slot, int code, unsigned after)
{
	if ((unsigned)slot >= NUB_HV_SLOT_COUNT_ || !slot_needs_vm(slot))
		return;
	hv->faults[slot] = (struct nub_fault){code, after};
}

void nub_hv_inject_backend_fault(struct nub_backend *b, enum nub_hv_slot slot, int code,
                                 unsigned after)
{
	if ((unsigned)slot >= NUB_HV_SLOT_COUNT_ || slot_needs_vm(slot))
		return;
	nub_backend_faults(b)[slot] = (struct nub_fault){code, after};
}
