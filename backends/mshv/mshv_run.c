/* SPDX-License-Identifier: MIT */
/*
 * Running the vCPU and stopping it from another thread.
 *
 * MSHV_RUN_VP returns one intercept message (struct hv_message). Unlike KVM,
 * the hypervisor does not complete port I/O for us: after an IN or OUT
 * intercept RIP still points at the instruction, so this file advances RIP
 * by the instruction length the message reports (and, for IN, merges the
 * value core supplies into RAX) before the guest runs again. A store to
 * memory no region backs (the doorbell) arrives as a memory intercept with
 * the GPA and the instruction bytes; for a plain `mov` store (88/89, C6/C7,
 * A2/A3, decoded in backends/common/x86_store.c) the exit carries size and value and the next run
 * resumes after the instruction. Other MMIO accesses cannot be completed.
 *
 * Interrupt protocol (never loses a request):
 *   run_vcpu, on the vCPU thread, for every entry into MSHV_RUN_VP:
 *     R1  run_tid := my tid                       (seq_cst)
 *     R2  if exchange(cancel, 0): run_tid := 0; return CANCELLED
 *     R3  ioctl(MSHV_RUN_VP)
 *     R4  run_tid := 0
 *     R5  on EINTR: if exchange(cancel, 0) return CANCELLED, else re-enter
 *         (a signal that was not ours)
 *   interrupt, on any thread:
 *     I1  cancel := 1                             (seq_cst)
 *     I2  loop: t := run_tid; stop if t == 0 or cancel == 0;
 *         tgkill(t, signo); sleep (20 us doubling to 2 ms); repeat
 *   Because R1/R2 and I1/I2 are sequentially consistent, either R2 sees the
 *   request, or I2 sees the thread in its window and signals it. A signal
 *   that lands between R2 and the kernel's own signal check is swallowed by
 *   the (no-op) handler before the ioctl starts; the ioctl then blocks, so
 *   I2 signals again until the run reports EINTR (the kernel checks for
 *   pending signals before dispatching the VP and while waiting for it) or
 *   returns with a real exit (R4 clears run_tid). In the latter case the
 *   request stays in `cancel` and stops the next run at R2. clear_interrupt
 *   drops an unconsumed request.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "mshv_internal.h"

/* ---- the kick signal ---- */

static void mshv_kick_handler(int signo)
{
	(void)signo; /* its only job is to make MSHV_RUN_VP return EINTR */
}

static pthread_mutex_t signal_lock = PTHREAD_MUTEX_INITIALIZER;

/* Install a no-op handler when the signal still has its default action
 * (which would kill the process). A handler the host installed itself is
 * left alone: any handler makes the ioctl return EINTR. An ignored signal
 * is never delivered, so it cannot be used. */
int mshv_signal_prepare(int signo, char *err, size_t err_cap)
{
	struct sigaction old;
	int rc = 0;

	pthread_mutex_lock(&signal_lock);
	if (sigaction(signo, NULL, &old) < 0) {
		rc = mshv_fail(err, err_cap, NUB_ESYS, "sigaction(%d): %s", signo, strerror(errno));
	} else if (!(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_IGN) {
		rc = mshv_fail(err, err_cap, NUB_ESYS,
		               "signal %d is ignored by this process; runs could not be "
		               "interrupted (choose another with options 'signal=N')",
		               signo);
	} else if (!(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_DFL) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = mshv_kick_handler;
		sa.sa_flags = SA_RESTART;
		sigemptyset(&sa.sa_mask);
		if (sigaction(signo, &sa, NULL) < 0)
			rc = mshv_fail(err, err_cap, NUB_ESYS, "sigaction(%d): %s", signo,
			               strerror(errno));
	}
	pthread_mutex_unlock(&signal_lock);
	return rc;
}

/* ---- interrupt ---- */

int mshv_interrupt(struct nub_vm *vm)
{
	long delay_ns = 20000;

	atomic_store(&vm->cancel, 1);
	for (;;) {
		int tid = atomic_load(&vm->run_tid);
		if (tid == 0 || !atomic_load(&vm->cancel))
			return 0;
		if (syscall(SYS_tgkill, (long)getpid(), (long)tid, (long)vm->signo) < 0 &&
		    errno != ESRCH)
			return NUB_ESYS;
		struct timespec ts = {0, delay_ns};
		nanosleep(&ts, NULL);
		if (delay_ns < 2000000)
			delay_ns *= 2;
	}
}

void mshv_clear_interrupt(struct nub_vm *vm)
{
	atomic_store(&vm->cancel, 0);
}

/* ---- completing accesses and advancing RIP ---- */

static int mshv_set_rip_rax(struct nub_vm *vm, uint64_t rip, const uint64_t *rax, char *err,
                            size_t err_cap)
{
	struct nub_hv_register_assoc a[2];
	uint16_t n = 0;

	memset(a, 0, sizeof(a));
	a[n].name = NUB_HV_X64_REGISTER_RIP;
	a[n++].value.reg64 = rip;
	if (rax) {
		a[n].name = NUB_HV_X64_REGISTER_RAX;
		a[n++].value.reg64 = *rax;
	}
	return mshv_set_registers(vm, a, n, err, err_cap);
}

static uint64_t mshv_size_mask(uint32_t size)
{
	return size >= 8 ? ~0ull : (1ull << (size * 8)) - 1;
}

/* IN writes AL/AX (keeping the rest of RAX) or EAX (zero-extending). */
static uint64_t mshv_in_result(uint64_t rax, uint32_t size, uint64_t data)
{
	if (size == 4)
		return data & 0xFFFFFFFFull;
	return (rax & ~mshv_size_mask(size)) | (data & mshv_size_mask(size));
}

static int mshv_complete_pending(struct nub_vm *vm, const struct nub_exit *exit, char *err,
                                 size_t err_cap)
{
	struct mshv_pending p = vm->pending;

	vm->pending.kind = MSHV_PENDING_NONE;
	switch (p.kind) {
	case MSHV_PENDING_NONE:
		return 0;
	case MSHV_PENDING_IO_IN: {
		uint64_t rax = mshv_in_result(p.rax, p.size, exit->data);
		return mshv_set_rip_rax(vm, p.next_rip, &rax, err, err_cap);
	}
	case MSHV_PENDING_MMIO_WRITE:
		/* The store went to core with the exit; the guest continues
		 * after it. */
		return mshv_set_rip_rax(vm, p.next_rip, NULL, err, err_cap);
	case MSHV_PENDING_MMIO:
		break;
	}
	return mshv_fail(err, err_cap, NUB_EUNSUPPORTED, "cannot resume after an MMIO exit: %s",
	                 p.why);
}

/* ---- decoding intercept messages ---- */

static void mshv_internal_exit(struct nub_exit *exit, uint32_t type, const char *what)
{
	exit->reason = NUB_EXIT_INTERNAL;
	exit->hw_reason = type;
	snprintf(exit->detail, sizeof(exit->detail), "%s (hv message 0x%08x)", what, type);
}

static int mshv_decode_io(struct nub_vm *vm, const struct nub_hv_message *msg,
                          struct nub_exit *exit, char *err, size_t err_cap)
{
	struct nub_hv_x64_io_port_intercept_message io;
	uint32_t size;
	uint64_t len;

	memcpy(&io, msg->payload, sizeof(io));
	size = io.access_info & NUB_HV_IO_ACCESS_SIZE_MASK;
	len = io.header.instr_len_cr8 & NUB_HV_INTERCEPT_INSTR_LEN_MASK;
	exit->rip = io.header.rip;
	exit->port = io.port_number;
	exit->size = size;
	if (io.access_info & (NUB_HV_IO_STRING_OP | NUB_HV_IO_REP_PREFIX)) {
		mshv_internal_exit(exit, msg->header.message_type, "string or rep port I/O");
		return 0;
	}
	if ((size != 1 && size != 2 && size != 4) || len == 0 ||
	    io.header.intercept_access_type > NUB_HV_INTERCEPT_ACCESS_WRITE) {
		mshv_internal_exit(exit, msg->header.message_type, "malformed port I/O intercept");
		return 0;
	}
	if (io.header.intercept_access_type == NUB_HV_INTERCEPT_ACCESS_READ) {
		exit->reason = NUB_EXIT_IO_IN;
		vm->pending.kind = MSHV_PENDING_IO_IN;
		vm->pending.size = size;
		vm->pending.rax = io.rax;
		vm->pending.next_rip = io.header.rip + len;
		return 0;
	}
	exit->reason = NUB_EXIT_IO_OUT;
	exit->data = io.rax & mshv_size_mask(size);
	/* The ABI promises RIP already past the OUT. */
	return mshv_set_rip_rax(vm, io.header.rip + len, NULL, err, err_cap);
}

/* "48 89 03" */
static void mshv_hex(char *buf, size_t cap, const uint8_t *bytes, size_t n)
{
	size_t used = 0;

	buf[0] = 0;
	for (size_t i = 0; i < n && used + 4 <= cap; i++)
		used += (size_t)snprintf(buf + used, cap - used, i ? " %02x" : "%02x", bytes[i]);
}

static int mshv_is_legacy_prefix(uint8_t b)
{
	switch (b) {
	case 0x26: /* segment overrides */
	case 0x2E:
	case 0x36:
	case 0x3E:
	case 0x64:
	case 0x65:
	case 0x67: /* address size */
	case 0xF0: /* lock */
	case 0xF2: /* repne */
	case 0xF3: /* rep */
		return 1;
	}
	return 0;
}

/* Name the byte decoding stopped at: "prefix 65", "opcode 0f 11", "opcode c7". */
static void mshv_name_opcode(char *buf, size_t cap, const uint8_t *bytes, size_t count, size_t at)
{
	if (at >= count)
		snprintf(buf, cap, "no opcode");
	else if (mshv_is_legacy_prefix(bytes[at]))
		snprintf(buf, cap, "prefix %02x", bytes[at]);
	else if (bytes[at] == 0x0F && at + 1 < count)
		snprintf(buf, cap, "opcode 0f %02x", bytes[at + 1]);
	else
		snprintf(buf, cap, "opcode %02x", bytes[at]);
}

/* Why an MMIO write cannot be completed, for the error the next run_vcpu
 * returns. `status` is a mshv_decode_status or: */
#define MSHV_REFUSE_NOT_64BIT 1
static void mshv_refuse_write(struct nub_vm *vm,
                              const struct nub_hv_x64_memory_intercept_message *mem, int status,
                              const struct nub_x86_store *st)
{
	char *why = vm->pending.why;
	size_t cap = sizeof(vm->pending.why);
	const uint8_t *b = mem->instruction_bytes;
	size_t n = mem->instruction_byte_count;
	unsigned long long rip = (unsigned long long)mem->header.rip;
	char hex[3 * sizeof(mem->instruction_bytes)];
	char op[32];

	vm->pending.kind = MSHV_PENDING_MMIO;
	if (n == 0 || n > sizeof(mem->instruction_bytes)) {
		snprintf(why, cap,
		         "the write at RIP 0x%llx came with %zu instruction bytes (want 1-16); "
		         "completing it needs an instruction emulator",
		         rip, n);
		return;
	}
	mshv_hex(hex, sizeof(hex), b, n);
	if (status == MSHV_REFUSE_NOT_64BIT) {
		snprintf(why, cap,
		         "the write at RIP 0x%llx (bytes %s) is not in 64-bit mode; completing it "
		         "needs an instruction emulator",
		         rip, hex);
		return;
	}
	mshv_name_opcode(op, sizeof(op), b, n, st->stop);
	switch (status) {
	case NUB_X86_DECODE_TRUNCATED:
		snprintf(why, cap,
		         "the write at RIP 0x%llx has only %zu instruction byte(s) (%s, %s), fewer "
		         "than the instruction needs",
		         rip, n, hex, op);
		break;
	case NUB_X86_DECODE_TOO_LONG:
		snprintf(why, cap,
		         "the write at RIP 0x%llx (%s, bytes %s) exceeds 15 bytes; completing it "
		         "needs an instruction emulator",
		         rip, op, hex);
		break;
	default:
		snprintf(why, cap,
		         "the write at RIP 0x%llx is %s (bytes %s), not a plain mov store; "
		         "completing it needs an instruction emulator",
		         rip, op, hex);
		break;
	}
}

/* An MMIO write: decode a plain `mov` to memory from the instruction bytes
 * the message carries; the stored value comes from the source register (the
 * message has no GPRs, so they are read with one hypercall) or the
 * immediate. The guest resumes after
 * the instruction on the next run. Anything else is reported with size 0
 * and its resume refused. */
static int mshv_decode_write(struct nub_vm *vm,
                             const struct nub_hv_x64_memory_intercept_message *mem,
                             struct nub_exit *exit, char *err, size_t err_cap)
{
	struct nub_hv_register_assoc a[16];
	uint64_t gprs[16];
	struct nub_x86_store st;
	size_t n = mem->instruction_byte_count;
	int rc;

	memset(&st, 0, sizeof(st));
	if (n == 0 || n > sizeof(mem->instruction_bytes)) {
		mshv_refuse_write(vm, mem, NUB_X86_DECODE_TRUNCATED, &st);
		return 0;
	}
	/* The decoder knows 64-bit mode only (REX, RIP-relative). */
	if (!(mem->header.execution_state & NUB_HV_X64_EXEC_STATE_EFER_LMA) ||
	    !((mem->header.cs_segment.attributes >> NUB_HV_SEG_L_SHIFT) & 1)) {
		mshv_refuse_write(vm, mem, MSHV_REFUSE_NOT_64BIT, &st);
		return 0;
	}
	/* Measure first: an instruction that is refused costs no hypercall. */
	rc = nub_x86_decode_store(mem->instruction_bytes, n, NULL, &st);
	if (rc != NUB_X86_DECODE_OK) {
		mshv_refuse_write(vm, mem, rc, &st);
		return 0;
	}
	memset(a, 0, sizeof(a));
	for (uint32_t i = 0; i < 16; i++)
		a[i].name = NUB_HV_X64_REGISTER_RAX + i; /* RAX..R15 in encoding order */
	rc = mshv_get_registers(vm, a, 16, err, err_cap);
	if (rc)
		return rc;
	for (uint32_t i = 0; i < 16; i++)
		gprs[i] = a[i].value.reg64;
	(void)nub_x86_decode_store(mem->instruction_bytes, n, gprs, &st);
	exit->size = st.size;
	exit->data = st.data;
	vm->pending.kind = MSHV_PENDING_MMIO_WRITE;
	vm->pending.size = st.size;
	vm->pending.next_rip = mem->header.rip + st.len;
	return 0;
}

static int mshv_decode_memory(struct nub_vm *vm, const struct nub_hv_message *msg,
                              struct nub_exit *exit, char *err, size_t err_cap)
{
	struct nub_hv_x64_memory_intercept_message mem;

	memcpy(&mem, msg->payload, sizeof(mem));
	exit->rip = mem.header.rip;
	exit->gpa = mem.guest_physical_address;
	exit->hw_reason = msg->header.message_type;
	/* The access size is only in the instruction bytes: 0 (unknown)
	 * unless the instruction is decoded. */
	exit->size = 0;
	if (mem.header.intercept_access_type == NUB_HV_INTERCEPT_ACCESS_WRITE) {
		exit->reason = NUB_EXIT_MMIO_WRITE;
		return mshv_decode_write(vm, &mem, exit, err, err_cap);
	}
	exit->reason = NUB_EXIT_MMIO_READ;
	if (mem.header.intercept_access_type == NUB_HV_INTERCEPT_ACCESS_EXECUTE)
		snprintf(exit->detail, sizeof(exit->detail), "instruction fetch");
	vm->pending.kind = MSHV_PENDING_MMIO;
	snprintf(vm->pending.why, sizeof(vm->pending.why),
	         "completing the access needs an instruction emulator, which this backend does "
	         "not have");
	return 0;
}

static int mshv_decode(struct nub_vm *vm, const struct nub_hv_message *msg, struct nub_exit *exit,
                       char *err, size_t err_cap)
{
	struct nub_hv_x64_intercept_message_header hdr;
	uint32_t type = msg->header.message_type;

	switch (type) {
	case NUB_HVMSG_X64_IO_PORT_INTERCEPT:
		return mshv_decode_io(vm, msg, exit, err, err_cap);
	case NUB_HVMSG_UNMAPPED_GPA:
	case NUB_HVMSG_GPA_INTERCEPT:
		return mshv_decode_memory(vm, msg, exit, err, err_cap);
	case NUB_HVMSG_X64_HALT:
		memcpy(&hdr, msg->payload, sizeof(hdr));
		exit->reason = NUB_EXIT_HLT;
		exit->rip = hdr.rip;
		return 0;
	case NUB_HVMSG_UNRECOVERABLE_EXCEPTION:
		memcpy(&hdr, msg->payload, sizeof(hdr));
		exit->reason = NUB_EXIT_SHUTDOWN;
		exit->rip = hdr.rip;
		exit->hw_reason = type;
		return 0;
	case NUB_HVMSG_INVALID_VP_REGISTER_VALUE:
		mshv_internal_exit(exit, type, "invalid VP register value");
		return 0;
	case NUB_HVMSG_UNSUPPORTED_FEATURE:
		mshv_internal_exit(exit, type, "unsupported feature");
		return 0;
	case NUB_HVMSG_X64_EXCEPTION_INTERCEPT:
		mshv_internal_exit(exit, type, "exception intercept");
		return 0;
	default:
		mshv_internal_exit(exit, type, "unhandled intercept message");
		return 0;
	}
}

/* ---- run ---- */

/* One entry into MSHV_RUN_VP under the interrupt protocol (R1-R5 above).
 * Returns 1 when cancelled, 0 with *msg filled, or a negative error. */
static int mshv_enter(struct nub_vm *vm, struct nub_mshv_run_vp *buf, char *err, size_t err_cap)
{
	int tid = (int)syscall(SYS_gettid);

	for (;;) {
		atomic_store(&vm->run_tid, tid);
		if (atomic_exchange(&vm->cancel, 0)) {
			atomic_store(&vm->run_tid, 0);
			return 1;
		}
		int rc = vm->sys.ioctl(vm->vp_fd, NUB_MSHV_RUN_VP, buf);
		int saved = errno;
		atomic_store(&vm->run_tid, 0);
		if (rc >= 0)
			return 0;
		if (saved != EINTR)
			return mshv_fail(err, err_cap, NUB_ESYS, "MSHV_RUN_VP: %s",
			                 strerror(saved));
		if (atomic_exchange(&vm->cancel, 0))
			return 1;
	}
}

int mshv_run_vcpu(struct nub_vm *vm, struct nub_exit *exit, char *err, size_t err_cap)
{
	struct nub_mshv_run_vp buf;
	struct nub_hv_message msg;
	int rc;

	rc = mshv_complete_pending(vm, exit, err, err_cap);
	if (rc)
		return rc;
	memset(exit, 0, sizeof(*exit));
	memset(&buf, 0, sizeof(buf));
	rc = mshv_enter(vm, &buf, err, err_cap);
	if (rc < 0)
		return rc;
	if (rc == 1) {
		exit->reason = NUB_EXIT_CANCELLED;
		return 0;
	}
	memcpy(&msg, buf.msg_buf, sizeof(msg));
	return mshv_decode(vm, &msg, exit, err, err_cap);
}
