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
/* CR3 or the tables may have changed (set_sregs): re-map all before the
 * next run. */
void mock_proc_tables_changed(struct nub_vm *vm);
/* Regions were mapped or unmapped: the child is restarted. */
void mock_proc_memory_changed(struct nub_vm *vm);
void mock_proc_destroy(struct nub_vm *vm);

#endif
