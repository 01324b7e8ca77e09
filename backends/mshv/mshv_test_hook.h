/* SPDX-License-Identifier: MIT */
/*
 * TEST-ONLY interface of the mshv backend. Production code never uses it.
 *
 * Every system call the backend makes on /dev/mshv and on the partition and
 * VP file descriptors derived from it goes through one table of function
 * pointers, which defaults to the real open/ioctl/close. Tests replace the
 * table with a fake implementation of the kernel interface (see
 * tests/common/fake_mshv.h) to run the backend on machines without the
 * Microsoft Hypervisor.
 *
 * The libnub-backend-mshv.so exports exactly one symbol besides
 * nub_backend_entry: NUB_MSHV_TEST_SET_SYS_SYMBOL. A test dlopens the backend
 * by path (the same path core's loader will use, so both get the same
 * handle), looks the symbol up, installs its table, and only then creates
 * VMs. Signals for interrupting runs (tgkill) are real: they are not file
 * descriptor calls, and a faithful fake blocks in a real interruptible
 * system call.
 */
#ifndef NUB_MSHV_TEST_HOOK_H
#define NUB_MSHV_TEST_HOOK_H

/** The replaceable system calls. All three are required. */
struct nub_mshv_sys {
	/** open(2): returns an fd or -1 with errno. */
	int (*open)(const char *path, int flags);
	/** ioctl(2) with a pointer argument (or NULL): returns >= 0 or -1 with errno. */
	int (*ioctl)(int fd, unsigned long request, void *arg);
	/** close(2). */
	int (*close)(int fd);
};

/** Name of the exported test hook. */
#define NUB_MSHV_TEST_SET_SYS_SYMBOL "nub_mshv_test_set_sys"

/**
 * Install `sys` (copied) as the table used by probes and by VMs created
 * afterwards; NULL restores the real system calls. A VM keeps the table it
 * was created with. Not thread-safe against concurrent probe/vm_create.
 */
typedef void (*nub_mshv_test_set_sys_fn)(const struct nub_mshv_sys *sys);

#endif
