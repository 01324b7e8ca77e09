/* SPDX-License-Identifier: MIT */
/* The mock's process vCPU as the rest of the mock calls it (its host side,
 * mock_proc_host.c): guest code at CPL3, natively, in a child process with
 * the guest's pages at their guest-virtual addresses. */
#ifndef NUB_MOCK_PROC_H
#define NUB_MOCK_PROC_H

#include <nub/backend.h>

struct nub_vm;

/* run_vcpu for a vCPU at CPL3, or in the host's exception stub after an
 * exception exit (starts the child on first use). */
int mock_proc_run(struct nub_vm *vm, struct nub_exit *exit, char *err, size_t err_cap);
int mock_proc_interrupt(struct nub_vm *vm);
void mock_proc_clear_interrupt(struct nub_vm *vm);
/* set_sregs is about to load `s`: unless CR3 and the tables are as the
 * child last mapped them, re-map all before the next run. */
void mock_proc_sregs_set(struct nub_vm *vm, const struct nub_sregs *s);

/* The tables the child last mapped from (mock_proc_tables.c). */
struct mock_tables;
struct mock_tables *mock_tables_new(void);
void mock_tables_free(struct mock_tables *t);
/* Copy the tables vm->sregs.cr3 points at, as the child is told to map. */
void mock_tables_record(struct mock_tables *t, struct nub_vm *vm);
/* The child re-maps part of them alone: the record no longer says it all. */
void mock_tables_forget(struct mock_tables *t);
/* 1 when `s` and the tables it points at are what was recorded. */
int mock_tables_unchanged(struct mock_tables *t, struct nub_vm *vm, const struct nub_sregs *s);
/* Regions were mapped or unmapped: the child is restarted. */
void mock_proc_memory_changed(struct nub_vm *vm);
void mock_proc_destroy(struct nub_vm *vm);

#endif
