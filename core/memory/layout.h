/* SPDX-License-Identifier: MIT */
/*
 * The sandbox memory layout: where every area lives in the snapshot region
 * (GPA == GVA from NUB_BASE_GPA) and in scratch (top of the GPA space and of
 * the lower canonical half), computed from a config and the ELF's size with
 * overflow-checked arithmetic.
 */
#ifndef NUB_CORE_LAYOUT_H
#define NUB_CORE_LAYOUT_H

#include <stdint.h>
#include <stdio.h>

#include <nub/error.h>
#include <nub/guest_abi.h>
#include <nub/types.h>

struct nub_layout_config {
	uint64_t heap_size;       /* default 1 MiB */
	uint64_t scratch_size;    /* 0: computed (room to CoW every snapshot page once) */
	uint64_t input_size;      /* default 64 KiB */
	uint64_t output_size;     /* default 64 KiB */
	uint64_t stack_size;      /* default 64 KiB */
	uint64_t exn_stack_size;  /* default 16 KiB */
	uint64_t init_data_size;  /* default 0 */
	uint32_t init_data_perms; /* NUB_VMEM_R/W/X; default R */
	uint64_t args_size;       /* struct nub_args_header block; default 0 */
	uint64_t files_size;      /* struct nub_fs_header image; default 0 */
	uint64_t pt_reserve;      /* bytes of scratch for live page tables; 0: computed */
};

void nub_layout_config_default(struct nub_layout_config *cfg);

struct nub_layout {
	/* snapshot region (guest-visible part), identity-mapped */
	uint64_t peb_gpa;
	uint64_t sys_tables_gpa; /* GDT, TSS, IDT (supervisor, read-only) */
	uint64_t sys_stubs_gpa;  /* the host's CPL0 exception stubs */
	uint64_t image_gpa, image_size;
	uint64_t init_data_gpa, init_data_size; /* size as given (unrounded) */
	uint64_t args_gpa, args_size;           /* read-only; sizes as given */
	uint64_t files_gpa, files_size;         /* read-only, never copied on write */
	uint64_t heap_gpa, heap_size;
	uint64_t snapshot_size; /* from NUB_BASE_GPA to the end of the heap */
	/* scratch region */
	uint64_t scratch_gpa, scratch_gva, scratch_size;
	/* offsets from the scratch base */
	uint64_t pt_offset, pt_reserve;
	uint64_t pt_gpa; /* scratch_gpa + pt_offset: root of the live tables */
	uint64_t input_offset, input_size;
	uint64_t output_offset, output_size;
	uint64_t alloc_offset, alloc_limit_offset;
	uint64_t stack_guard_offset, stack_size, stack_top_offset;
	uint64_t exn_stack_guard_offset, exn_stack_size, exn_stack_top_offset;
	uint64_t bookkeeping_offset;
};

/* Compute the layout. NUB_EINVAL naming the field for sizes that are zero
 * where they must not be or too small; NUB_EOVERFLOW when the areas do not
 * fit the address space or overflow. */
int nub_layout_compute(const struct nub_layout_config *cfg, uint64_t image_size,
                       struct nub_layout *out, struct nub_error *err);

/* Page tables (bytes) needed to map the snapshot's visible range and
 * scratch with 4 KiB leaves. */
uint64_t nub_layout_pt_bytes(uint64_t snapshot_size, uint64_t scratch_size);

/* The PEB the guest receives. */
void nub_layout_fill_peb(const struct nub_layout *l, struct nub_peb *peb);

/* The doorbells (guest_abi.h): doorbell k is GPA page k and GVA page 2k
 * from NUB_DOORBELL_GVA; the GVA pages between them are never mapped. */

/* The kind of the doorbell whose GPA page holds `gpa`, or -1. */
int nub_layout_doorbell_at(nub_gpa_t gpa);
/* The kind of the doorbell whose unmapped successor GVA page holds `gva`
 * (where an access that runs past the doorbell faults), or -1. */
int nub_layout_doorbell_before(nub_gva_t gva);
/* Whether `gva` is on a doorbell's own GVA page. */
int nub_layout_is_doorbell_page(nub_gva_t gva);
/* The doorbell's name ("call done"); "unknown doorbell" past the last. */
const char *nub_layout_doorbell_name(unsigned kind);
/* A doorbell address's offset from NUB_DOORBELL_GVA, for messages: the
 * offset a guest would have stored to for GPA `gpa` on a doorbell page. */
uint64_t nub_layout_doorbell_offset(nub_gpa_t gpa);

/* Print the map (for `nub layout`). */
void nub_layout_print(const struct nub_layout *l, FILE *f);

#endif
