/* SPDX-License-Identifier: MIT */
/* The KVM backend refuses a vm_config it cannot honour before it opens
 * /dev/kvm: flags a later ABI minor may define, a struct too short to hold
 * the options, options it does not understand. Each refusal is a specific
 * error and message; none needs a hypervisor, so those run everywhere
 * (the ones of how VMs are made need /dev/kvm). The
 * backend is dlopened and its table called directly, as core's hv layer
 * would, so the checks are the backend's own and not core's. */
#include <dirent.h>
#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nub/backend.h>

#include "nub_test.h"

static void *backend_dl;
static const struct nub_backend_ops *ops;

static int group_setup(void **state)
{
	const char *path = nub_test_path("NUB_PLUGIN_BUILD_DIR", "libnub-backend-kvm.so");
	nub_backend_entry_fn entry;

	(void)state;
	backend_dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!backend_dl) {
		fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
		return -1;
	}
	entry = (nub_backend_entry_fn)dlsym(backend_dl, NUB_BACKEND_ENTRY_SYMBOL);
	ops = entry ? entry() : NULL;
	return ops ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	if (backend_dl)
		dlclose(backend_dl);
	return 0;
}

/* vm_create(cfg) must fail with `code` and a message containing `want`,
 * and leave *out alone. */
static void expect_refused(const struct nub_vm_config *cfg, int code, const char *want)
{
	struct nub_vm *vm = NULL;
	char msg[256] = "";

	assert_int_equal(ops->vm_create(cfg, &vm, msg, sizeof(msg)), code);
	assert_null(vm);
	if (!strstr(msg, want))
		fail_msg("message '%s' lacks '%s'", msg, want);
}

static void test_unknown_flags_are_refused(void **state)
{
	struct nub_vm_config cfg = {.struct_size = sizeof(cfg), .mem_limit = 1ull << 32};

	(void)state;
	/* Every bit but the two ABI 1.4 defines, alone and beside them. */
	cfg.flags = 0x80000000u;
	expect_refused(&cfg, NUB_EINVAL, "vm_config flags 0x80000000 are reserved");
	cfg.flags = NUB_VM_MMIO_ENDS_AT_PAGE_END | NUB_VM_GPA_WINDOW | 0x4u;
	expect_refused(&cfg, NUB_EINVAL, "vm_config flags 0x4 are reserved");
	cfg.flags = ~(uint32_t)(NUB_VM_MMIO_ENDS_AT_PAGE_END | NUB_VM_GPA_WINDOW);
	char want[64];
	snprintf(want, sizeof(want), "vm_config flags 0x%x are reserved", cfg.flags);
	expect_refused(&cfg, NUB_EINVAL, want);
}

static void test_short_or_missing_config_is_refused(void **state)
{
	struct nub_vm_config cfg = {.struct_size = offsetof(struct nub_vm_config, options)};

	(void)state;
	expect_refused(NULL, NUB_EINVAL, "vm_config missing or too short (0)");
	char want[64];
	snprintf(want, sizeof(want), "vm_config missing or too short (%u)", cfg.struct_size);
	expect_refused(&cfg, NUB_EINVAL, want);
}

static void test_unknown_options_are_refused(void **state)
{
	struct nub_vm_config cfg = {
	        .struct_size = sizeof(cfg), .mem_limit = 1ull << 32, .options = "colour=blue"};

	(void)state;
	expect_refused(&cfg, NUB_EINVAL, "options 'colour=blue' not understood");
	/* A list is read to its end; each item must be one of the two. */
	cfg.options = "signal=40,colour=blue";
	expect_refused(&cfg, NUB_EINVAL, "options 'signal=40,colour=blue' not understood");
	cfg.options = "window=x";
	expect_refused(&cfg, NUB_EINVAL,
	               "options 'window=x' not understood (want 'signal=N' with N in");
	cfg.options = "window=65536";
	expect_refused(&cfg, NUB_EINVAL, "'window=N' with N in 0..65535, comma-separated)");
	/* A window only for a core that moves its addresses to it. */
	cfg.options = "window=1";
	expect_refused(&cfg, NUB_EINVAL, "options 'window=1' not understood");
}

/* A window the vCPUs cannot address is refused naming their width (and
 * one they can is used). Needs a usable /dev/kvm, whose CPUID says. */
static void test_window_beyond_the_vcpus_reach_is_refused(void **state)
{
	struct nub_vm_config cfg = {.struct_size = sizeof(cfg),
	                            .flags = NUB_VM_GPA_WINDOW,
	                            .mem_limit = 1ull << 36,
	                            .options = "window=65535"};
	struct nub_vm *vm = NULL;
	uint64_t base = 0;
	char msg[256] = "";

	(void)state;
	if (access("/dev/kvm", R_OK | W_OK))
		skip();
	expect_refused(&cfg, NUB_EINVAL,
	               "option window=65535 needs guest-physical addresses up to "
	               "0xfffffffffffff; this KVM's vCPUs have");
	cfg.options = "window=1";
	if (ops->vm_create(&cfg, &vm, msg, sizeof(msg)))
		fail_msg("vm_create: %s", msg);
	assert_int_equal(ops->get_gpa_base(vm, &base, msg, sizeof(msg)), 0);
	assert_int_equal(base, 1ull << 36);
	ops->vm_destroy(vm);
}

/* Descriptors of this process whose target starts with `prefix`
 * ("/dev/kvm" exactly when `whole`). */
static int fds_on(const char *prefix, int whole)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d))) {
		char link[300], target[64];
		snprintf(link, sizeof(link), "/proc/self/fd/%s", e->d_name);
		ssize_t len = readlink(link, target, sizeof(target) - 1);
		if (len > 0) {
			target[len] = '\0';
			n += whole ? !strcmp(target, prefix)
			           : !strncmp(target, prefix, strlen(prefix));
		}
	}
	closedir(d);
	return n;
}

/* The count of VM descriptors once it is `want`, or what it still is
 * after 20 s: a destroyed VM's descriptor is closed by the backend's
 * thread, which waits for the kernel (an SRCU grace period; ~0.3 ms). */
static int kvm_vm_fds_settle(int want)
{
	int n = fds_on("anon_inode:kvm-vm", 1);

	for (int i = 0; i < 2000 && n != want; i++) {
		usleep(10000);
		n = fds_on("anon_inode:kvm-vm", 1);
	}
	return n;
}

static int dev_kvm_fds(void)
{
	return fds_on("/dev/kvm", 1);
}

/* VMs are made through one /dev/kvm descriptor the backend opened and
 * checked once and keeps: not one per VM (an open, the version and
 * capability checks and a close each time), and none left per VM. Needs a
 * usable /dev/kvm. */
static void test_dev_kvm_is_opened_once(void **state)
{
	struct nub_vm_config cfg = {.struct_size = sizeof(cfg), .mem_limit = 1ull << 32};
	struct nub_vm *vm[3] = {0};
	char msg[256] = "";

	(void)state;
	if (access("/dev/kvm", R_OK | W_OK))
		skip();
	int before = dev_kvm_fds();
	for (int i = 0; i < 3; i++)
		if (ops->vm_create(&cfg, &vm[i], msg, sizeof(msg)))
			fail_msg("vm_create: %s", msg);
	assert_int_equal(dev_kvm_fds(), before ? before : 1);
	for (int i = 0; i < 3; i++)
		ops->vm_destroy(vm[i]);
	assert_int_equal(dev_kvm_fds(), before ? before : 1);
}

/* A VM of a plain config: 0, or -1 with the reason on stderr. */
static int vm_new(struct nub_vm **vm)
{
	struct nub_vm_config cfg = {.struct_size = sizeof(cfg), .mem_limit = 1ull << 32};
	char msg[256] = "";

	if (ops->vm_create(&cfg, vm, msg, sizeof(msg)) == 0)
		return 0;
	fprintf(stderr, "vm_create: %s\n", msg);
	return -1;
}

/* Once the backend has made a VM it keeps one idle VM with one vCPU for
 * the process, whatever else is made and destroyed: KVM patches its code
 * whenever the machine's count of VMs (or of such vCPUs) leaves or reaches
 * 0 (kvm_anchor_keep). Counted as the descriptors KVM names; exactly one
 * of each is left after every VM made here is destroyed, however many
 * were. Needs a usable /dev/kvm. */
static void test_one_idle_vm_is_kept(void **state)
{
	struct nub_vm *vm = NULL;

	(void)state;
	if (access("/dev/kvm", R_OK | W_OK))
		skip();
	if (fds_on("anon_inode:kvm-vm", 1) > 1)
		kvm_vm_fds_settle(1); /* the VMs earlier tests destroyed */
	for (int round = 0; round < 3; round++) {
		assert_int_equal(vm_new(&vm), 0);
		assert_int_equal(fds_on("anon_inode:kvm-vm", 1), 2);
		assert_int_equal(fds_on("anon_inode:kvm-vcpu", 0), 2);
		ops->vm_destroy(vm);
		/* The vCPU goes at once; the VM's descriptor is closed by the
		 * backend's thread (kvm_reap.c), so its count is waited for. */
		assert_int_equal(fds_on("anon_inode:kvm-vcpu", 0), 1);
		assert_int_equal(kvm_vm_fds_settle(1), 1);
	}
}

/* A destroyed VM's descriptor is closed by the backend's thread, and a
 * forked child gets a thread of its own for its VMs: here the parent's
 * was waiting for work when the child was forked, which once left the
 * child's copy of its condition variable counting a waiter that does not
 * exist there, and the child's thread never woke. Needs a usable /dev/kvm. */
static void test_a_forked_child_closes_its_vms(void **state)
{
	struct nub_vm *vm = NULL;

	(void)state;
	if (access("/dev/kvm", R_OK | W_OK))
		skip();
	int before = fds_on("anon_inode:kvm-vm", 1);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(vm_new(&vm), 0);
		before = fds_on("anon_inode:kvm-vm", 1) - 1;
		ops->vm_destroy(vm); /* the thread closes it, then waits */
		assert_int_equal(kvm_vm_fds_settle(before), before);
	}
	pid_t pid = fork();
	if (pid == 0) {
		int rc = 0;
		for (int i = 0; i < 4 && !rc; i++) {
			rc = vm_new(&vm) ? 2 : 0;
			if (rc == 0) {
				int made = fds_on("anon_inode:kvm-vm", 1);
				ops->vm_destroy(vm);
				rc = kvm_vm_fds_settle(made - 1) == made - 1 ? 0 : 3;
			}
		}
		_exit(rc);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* The backend is never unloaded (linked -z nodelete): its thread that
 * closes freed VMs' descriptors runs its code for the process's life, so
 * a host's dlclose must not unmap it. Looked at in a child, whose dlclose
 * of the one handle drops the last reference. */
static void test_backend_stays_mapped_after_dlclose(void **state)
{
	const char *path = nub_test_path("NUB_PLUGIN_BUILD_DIR", "libnub-backend-kvm.so");

	(void)state;
	pid_t pid = fork();
	if (pid == 0) {
		if (dlclose(backend_dl))
			_exit(2);
		_exit(dlopen(path, RTLD_NOW | RTLD_NOLOAD) ? 0 : 3);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* The --exit mode of this program (a process of its own, so that its
 * check is registered before the backend's exit handler and runs after
 * it): VMs destroyed right before exit() are closed by then. */
static void exit_check(void)
{
	if (fds_on("anon_inode:kvm-vm", 1) != 1) /* the idle VM alone */
		_exit(3);
}

static int exit_mode(void)
{
	struct nub_vm *vm[4];

	if (atexit(exit_check) || group_setup(NULL))
		return 2;
	for (int i = 0; i < 4; i++)
		if (vm_new(&vm[i]))
			return 2;
	for (int i = 0; i < 4; i++)
		ops->vm_destroy(vm[i]);
	exit(0);
}

/* A destroyed VM's descriptor is still being closed by the backend's
 * thread when a host exits right after, and that close waits for the VM's
 * recovery thread: LeakSanitizer's check at exit stopped that thread and
 * then waited for ours forever (a `nub run` of the ASan build hung). So
 * exit() first waits for the queue. Needs a usable /dev/kvm. */
static void test_exit_waits_for_the_closes(void **state)
{
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	(void)state;
	if (access("/dev/kvm", R_OK | W_OK))
		skip();
	assert_true(n > 0);
	self[n] = 0;
	pid_t pid = fork();
	if (pid == 0) {
		execl(self, self, "--exit", (char *)NULL);
		_exit(127);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--exit"))
		return exit_mode();
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_unknown_flags_are_refused),
	        cmocka_unit_test(test_short_or_missing_config_is_refused),
	        cmocka_unit_test(test_unknown_options_are_refused),
	        cmocka_unit_test(test_dev_kvm_is_opened_once),
	        cmocka_unit_test(test_one_idle_vm_is_kept),
	        cmocka_unit_test(test_a_forked_child_closes_its_vms),
	        cmocka_unit_test(test_backend_stays_mapped_after_dlclose),
	        cmocka_unit_test(test_exit_waits_for_the_closes),
	        cmocka_unit_test(test_window_beyond_the_vcpus_reach_is_refused),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
