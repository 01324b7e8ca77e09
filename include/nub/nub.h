/* SPDX-License-Identifier: MIT */
/**
 * @file nub.h
 * The sandbox API a host program uses.
 *
 * Life of a sandbox:
 *   1. nub_config_init(&cfg), adjust sizes/backend/log callback;
 *   2. create it from a guest ELF (path or buffer), a snapshot, or a saved
 *      snapshot file: nub_sandbox_create_*;
 *   3. register host functions the guest may call: nub_sandbox_register;
 *   4. nub_sandbox_evolve: choose the backend, create the VM, run the
 *      guest's initialisation until it halts, and capture the result as the
 *      sandbox's base snapshot;
 *   5. nub_sandbox_call any number of times; nub_sandbox_snapshot and
 *      nub_sandbox_restore at will;
 *   6. nub_sandbox_free (valid in every state).
 *
 * Errors: every function returns 0 or a negative enum nub_err. Functions
 * taking a sandbox also store the code and a message naming what happened on
 * the handle (nub_sandbox_last_error). After a guest abort, fault, triple
 * fault, bad memory access, unknown port, corrupt buffer, cancellation or
 * timeout the sandbox is poisoned: calls fail with NUB_EPOISONED until
 * nub_sandbox_restore succeeds.
 *
 * Threading: a sandbox is used by one thread at a time, except
 * nub_sandbox_interrupt, which any thread may call at any time. Distinct
 * sandboxes are independent (no global state); snapshots are immutable and
 * may be shared by sandboxes on any threads.
 *
 * fork(): an evolved sandbox's VM belongs to the process that made it. In a
 * forked child, a call, restore, snapshot, counter change, mapping, heap
 * usage, backtrace or core dump on the child's copy of such a sandbox
 * fails with NUB_ESTATE ("...: the sandbox's VM belongs to process N,
 * which made it ...") before anything reaches the VM or its memory, which
 * on some backends is shared with the parent and on KVM is not in the
 * child at all (a sandbox's private memory is not inherited, so that
 * fork() costs the parent's sandboxes nothing); the child may free its
 * copy (that leaves the parent's VM as it is) and make sandboxes of its
 * own, from the same snapshots, whose memory it shares.
 */
#ifndef NUB_NUB_H
#define NUB_NUB_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "export.h"
#include "log.h"
#include "typed.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

struct nub_sandbox;
struct nub_snapshot;
struct nub_dir;

/**
 * A host function the guest can call with nub_call_host(). `in`/`in_len`
 * are the request bytes (copied out of guest memory, valid during the
 * call). Write up to `out_cap` response bytes to `out` and their count to
 * *out_len. Return 0, or a negative status that the guest receives (the
 * sandbox is not poisoned by it).
 */
typedef int32_t (*nub_host_fn)(void *user, const uint8_t *in, size_t in_len, uint8_t *out,
                               size_t out_cap, size_t *out_len);

/** Receives guest log lines at or below cfg.log_level. `msg` is not
 * NUL-terminated guest text of `len` bytes (already length-checked). */
typedef void (*nub_log_fn)(void *user, int level, const char *msg, size_t len);

/** A guest log line with where it came from (nub_config.log_line_fn). */
struct nub_log_line {
	int level;       /**< enum nub_log_level */
	const char *msg; /**< guest text, `len` bytes, not NUL-terminated */
	size_t len;
	/** The guest function the host called that wrote it (its registered
	 * name), "init" during the guest's initialisation, or NULL when the
	 * guest did not name it. Valid during the callback only. */
	const char *function;
	uint32_t fn_id; /**< that function's id; 0 during init */
};
/** Receives guest log lines with their function; see nub_config.log_line_fn. */
typedef void (*nub_log_line_fn)(void *user, const struct nub_log_line *line);

/** What a trace event marks (nub_config.trace_fn). */
enum nub_trace_kind {
	NUB_TRACE_CALL_BEGIN = 1,      /**< a guest call starts: id, name */
	NUB_TRACE_CALL_END = 2,        /**< ... and ends: rc */
	NUB_TRACE_HOST_CALL_BEGIN = 3, /**< the guest calls host function `id` */
	NUB_TRACE_HOST_CALL_END = 4,   /**< ... which returned: rc is its status */
	NUB_TRACE_RESTORE_BEGIN = 5,   /**< a restore (or evolve's reset) starts */
	NUB_TRACE_RESTORE_END = 6,     /**< ... and ends: rc */
	NUB_TRACE_EXIT = 7,            /**< the vCPU exited to the host: name says why */
};

/** One trace event. Pointers are valid during the callback only. */
struct nub_trace_event {
	uint32_t kind;    /**< enum nub_trace_kind */
	uint32_t id;      /**< the guest function (CALL_*) or host function (HOST_CALL_*) */
	uint64_t time_ns; /**< CLOCK_MONOTONIC, nanoseconds */
	/** CALL_*: the guest function's name (NULL when unnamed); EXIT: the
	 * exit ("host call", "log", "exception", "copy-on-write", "cancelled",
	 * ...); otherwise NULL. */
	const char *name;
	int32_t rc; /**< *_END: 0 or the negative nub error (HOST_CALL_END: the status) */
};
/** Receives trace events on the thread that runs the sandbox. It must not
 * call into the same sandbox (such calls are refused with NUB_ESTATE) and
 * should be quick: an EXIT event comes with every VM exit. */
typedef void (*nub_trace_fn)(void *user, const struct nub_trace_event *ev);

/** How the guest may use the init data (nub_config.init_data_perms). */
enum nub_init_data_perm {
	NUB_INIT_DATA_R = 1u << 0, /**< readable (always) */
	NUB_INIT_DATA_W = 1u << 1, /**< writable: copy-on-write, private to the sandbox */
	NUB_INIT_DATA_X = 1u << 2, /**< executable */
};

/** Sandbox configuration. Initialise with nub_config_init, then override. */
struct nub_config {
	uint32_t struct_size;        /**< set by nub_config_init */
	const char *backend;         /**< NULL: $NUB_BACKEND, else "auto" */
	const char *backend_options; /**< passed to the backend verbatim; backend-defined */
	uint64_t heap_size;          /**< guest heap, default 1 MiB */
	uint64_t scratch_size;       /**< private scratch; 0 = computed from the rest */
	uint64_t input_size;         /**< host-to-guest buffer, default 64 KiB */
	uint64_t output_size;        /**< guest-to-host buffer, default 64 KiB */
	uint64_t stack_size;         /**< guest stack, default 64 KiB */
	uint64_t exn_stack_size;     /**< exception stack, default 16 KiB */
	const void *init_data;       /**< optional blob mapped for the guest; copied */
	uint64_t init_data_size;
	uint32_t init_data_perms; /**< enum nub_init_data_perm bits; default R */
	uint32_t log_level;       /**< enum nub_log_level; lines above are dropped */
	nub_log_fn log_fn;        /**< NULL: guest logs are discarded */
	void *log_user;
	uint64_t call_timeout_us; /**< 0: none; else calls are interrupted after it */
	/** The key nub_sandbox_create_from_file authenticates the file with.
	 * NULL (the default): the file must have been saved without a key
	 * (nub_snapshot_save). Non-NULL: it must have been saved with this key
	 * (nub_snapshot_save_keyed); see nub_snapshot_load_keyed for the
	 * refusals. Read during that call only, never kept: the caller owns
	 * it. The other create functions ignore it. */
	const void *snapshot_key;
	size_t snapshot_key_size; /**< bytes at snapshot_key (NUB_SNAPSHOT_KEY_MIN..MAX) */
	/* What a C library guest sees as its process (guest_abi.h: struct
	 * nub_args_header, struct nub_fs_header). Like init_data, these are
	 * read when a sandbox is created from an ELF (nub_sandbox_create_from_
	 * elf / _buffer), copied into the snapshot it builds, and ignored by
	 * the create functions that start from a snapshot (which carries its
	 * own). The caller keeps ownership of every array and string. */
	/** NULL-terminated argument strings; NULL: { "nub-guest", NULL }. At
	 * most NUB_ARGS_MAX strings and NUB_ARGS_BYTES_MAX bytes with envp
	 * and cwd, or NUB_EINVAL naming the limit. */
	const char *const *argv;
	/** NULL-terminated "NAME=VALUE" strings (NAME non-empty, no '='); NULL:
	 * an empty environment. Nothing of the host's own environment is passed
	 * unless listed here. NUB_EINVAL naming a string that is not NAME=VALUE. */
	const char *const *envp;
	/** The guest's working directory, absolute; NULL: "/". */
	const char *cwd;
	/** Read-only file trees: `dirs_count` host directories, each seen by
	 * the guest under its guest path (struct nub_dir). */
	const struct nub_dir *dirs;
	size_t dirs_count;
	/** A directory where every guest fault or abort writes an ELF core file of the
	 * guest (see nub_sandbox_core_dump), named
	 * "<elf>.<pid>.<n>.core"; the fault's message then ends with "; core
	 * dumped to PATH" (or "; no core: <why>"). NULL: $NUB_CORE_DIR when set,
	 * else no cores. Copied at creation. */
	const char *core_dir;
	/** Serve gdb's remote protocol for this sandbox (docs/debugging.md):
	 * 0 (the default) uses $NUB_GDB_PORT when set, else no debugger; 1 to
	 * 65535 a TCP port on 127.0.0.1; NUB_GDB_PORT_ANY a free port the
	 * kernel picks (nub_sandbox_gdb_port says which). nub_sandbox_evolve
	 * listens (NUB_ESYS naming the port when it cannot); the first call
	 * then waits for gdb to connect and stops before the guest runs.
	 * While a debugger is configured call_timeout_us is not applied (a
	 * guest held at a breakpoint is not late), freed VMs are not pooled,
	 * and every executable page of the guest gets a private copy in
	 * scratch, where breakpoints go. Values above NUB_GDB_PORT_ANY are
	 * NUB_EINVAL. */
	uint32_t gdb_port;
	/** When set, guest log lines go here, with the guest function that
	 * wrote them, instead of to log_fn (log_user and log_level apply). */
	nub_log_line_fn log_line_fn;
	/** When set, receives the sandbox's trace events (struct
	 * nub_trace_event): calls, host calls, restores, VM exits; wire it to
	 * a tracer (examples/trace writes Chrome trace-event JSON). */
	nub_trace_fn trace_fn;
	void *trace_user;
};

/** nub_config.gdb_port: any free port. */
#define NUB_GDB_PORT_ANY 65536u

/** A host directory the guest sees, read-only, under `guest_path`. It is
 * packed into the snapshot when the sandbox is created: regular files,
 * directories and symbolic links (kept as links, resolved inside the
 * guest's tree; never followed on the host), with their permission bits and
 * modification times; other kinds of file (devices, sockets, FIFOs) are
 * left out. Several dirs merge into one tree; a path two of them both give
 * as a file, or as a file and a directory, is refused (NUB_EINVAL naming
 * it). Errors, naming the path: NUB_ENOTFOUND (host_path missing),
 * NUB_ESYS (unreadable), NUB_EINVAL (guest_path not absolute, or holding
 * "." or ".." components), NUB_EOVERFLOW (more than NUB_FILES_MAX entries
 * or NUB_FILES_BYTES_MAX bytes). */
struct nub_dir {
	const char *host_path;  /**< a directory on the host */
	const char *guest_path; /**< absolute path in the guest ("/data"); "/" is allowed */
};

#define NUB_ARGS_MAX        4096u        /**< argv + envp strings */
#define NUB_ARGS_BYTES_MAX  (256u << 10) /**< their bytes, with cwd and NULs */
#define NUB_FILES_MAX       (1u << 20)   /**< entries of all dirs together */
#define NUB_FILES_BYTES_MAX (16ull << 30)

/** The smallest struct_size libnub accepts: the config of nub 0.1. A
 * program built against an older header passes its own smaller size and
 * the fields it does not know keep their defaults; one built against a
 * newer header may pass a larger size if the fields this libnub does not
 * know are zero. */
#define NUB_CONFIG_SIZE_MIN (offsetof(struct nub_config, call_timeout_us) + sizeof(uint64_t))

/**
 * The TCP port on 127.0.0.1 where the sandbox serves gdb (nub_config.
 * gdb_port), from nub_sandbox_evolve on; 0 when none is configured, or
 * once gdb detached. `gdb GUEST.elf -ex 'target remote :PORT'` connects;
 * the first call waits until it does.
 */
NUB_API unsigned nub_sandbox_gdb_port(const struct nub_sandbox *sb);

/** Fill *cfg with the documented defaults. */
NUB_API void nub_config_init(struct nub_config *cfg);

/**
 * Create a sandbox from a guest ELF file. The ELF is loaded, checked and
 * turned into a snapshot; no VM exists until nub_sandbox_evolve. The config
 * is copied. On failure *out is NULL and err (may be NULL) says why:
 * NUB_ENOTFOUND/NUB_EIO (file), NUB_EELF, NUB_EABI, NUB_EINVAL (config).
 */
NUB_API int nub_sandbox_create_from_elf(const struct nub_config *cfg, const char *path,
                                        struct nub_sandbox **out, struct nub_error *err);

/** Same from an ELF image in memory (copied; the caller keeps `elf`). */
NUB_API int nub_sandbox_create_from_buffer(const struct nub_config *cfg, const void *elf,
                                           size_t len, struct nub_sandbox **out,
                                           struct nub_error *err);

/**
 * Create a sandbox that starts from `snap` (shared, not copied: the sandbox
 * takes a reference). Sizes in cfg are ignored: the snapshot's layout
 * decides. The sandbox still needs nub_sandbox_evolve (which, for a snapshot
 * captured after initialisation, runs no guest code).
 */
NUB_API int nub_sandbox_create_from_snapshot(const struct nub_config *cfg,
                                             struct nub_snapshot *snap, struct nub_sandbox **out,
                                             struct nub_error *err);

/**
 * Load a snapshot file and create a sandbox from it: a file saved with
 * nub_snapshot_save, or, when cfg->snapshot_key is set, one saved with
 * nub_snapshot_save_keyed and that key. Errors: those of
 * nub_snapshot_load / nub_snapshot_load_keyed (NUB_ECORRUPT naming the
 * file: corrupt, not authenticated with the key, or needing a key),
 * NUB_EINVAL (config, or a key of the wrong length).
 */
NUB_API int nub_sandbox_create_from_file(const struct nub_config *cfg, const char *path,
                                         struct nub_sandbox **out, struct nub_error *err);

/**
 * Register host function `id` (replacing an earlier one). Allowed before and
 * after evolve. NUB_EINVAL for a NULL fn or id >= NUB_MAX_HOST_FNS.
 *
 * Contract: a snapshot taken after init (nub_sandbox_snapshot, and the base
 * snapshot evolve captures) records the ids registered on its sandbox then,
 * and keeps them in its file. A sandbox made from it must register each of
 * them before nub_sandbox_evolve, and a sandbox restored to it must have
 * them: otherwise NUB_EMISMATCH, the message naming every missing id. A
 * snapshot taken before init needs none.
 */
NUB_API int nub_sandbox_register(struct nub_sandbox *sb, uint32_t id, nub_host_fn fn, void *user);
#define NUB_MAX_HOST_FNS 256u

/**
 * A typed host function: the guest calls it with nub_call_host_typed()
 * (nubguest.h). Its arguments were decoded from the guest's request and
 * checked against its signature before it runs.
 * @param args   nargs values of the signature's argument types; str/bytes
 *               point into the request (valid during the call).
 * @param ret    set ret->v (ret->type is preset to the result type); str/
 *               bytes it returns must stay valid until it returns.
 * @return 0, or a negative status the guest receives (no result).
 */
typedef int32_t (*nub_typed_host_fn)(void *user, const struct nub_value *args, uint32_t nargs,
                                     struct nub_value *ret);

/**
 * Register typed host function `id` with signature `sig` ("is>l",
 * nub/typed.h; static storage, not copied): as nub_sandbox_register, with
 * the values checked at the boundary -- a guest request that does not
 * match gets status NUB_EINVAL and the reason as text ("argument 1 is f64,
 * the function takes i32"), and `fn` never sees it.
 * NUB_EINVAL for a NULL fn, a malformed signature or id >= NUB_MAX_HOST_FNS.
 */
NUB_API int nub_sandbox_register_typed(struct nub_sandbox *sb, uint32_t id, const char *sig,
                                       nub_typed_host_fn fn, void *user);

/**
 * Create the VM on the configured backend and run the guest's init. Errors:
 * the loader's (NUB_ENOTFOUND, NUB_EPROBE, ...), backend failures, and the
 * guest failures listed for nub_sandbox_call. NUB_ESTATE if already evolved.
 * NUB_EMISMATCH when the snapshot it starts from needs a host function not
 * registered (nub_sandbox_register).
 */
NUB_API int nub_sandbox_evolve(struct nub_sandbox *sb);

/**
 * Call guest function `fn_id` with `in_len` bytes of input. On success the
 * guest's status is in *status (0 or the guest's negative code; NUB_ENOTFOUND
 * for an unknown id) and up to `out_cap` result bytes in `out`, the full
 * length in *out_len (NUB_ERANGE if it did not fit). Host calls, logs and
 * aborts made by the guest are served during the call. Errors that poison
 * the sandbox: NUB_EGUEST_ABORT, NUB_EGUEST_FAULT, NUB_ETRIPLE_FAULT,
 * NUB_EMMIO, NUB_EPORT, NUB_ECORRUPT, NUB_ECANCELLED, NUB_ETIMEDOUT,
 * NUB_EBACKEND. NUB_EPOISONED while poisoned, NUB_ESTATE before evolve.
 */
NUB_API int nub_sandbox_call(struct nub_sandbox *sb, uint32_t fn_id, const void *in, size_t in_len,
                             void *out, size_t out_cap, size_t *out_len, int32_t *status);

/**
 * Call typed guest function `fn_id` (one the guest registered with
 * nub_register_typed and a signature, nub/typed.h) with `nargs` values.
 * The arguments are encoded into `buf`, the call made, and the result
 * decoded from `buf` into *ret (its str/bytes point into buf). The guest
 * checks the values against the function's signature before it runs.
 * @param args    nargs (<= NUB_TYPED_MAX_VALUES) values; str/bytes are
 *                copied, not kept.
 * @param ret     the result (type NUB_T_VOID for a void function, and when
 *                *status is not 0).
 * @param buf     the caller's working memory, `cap` bytes: big enough for
 *                the encoded arguments and for the encoded result.
 * @param status  the function's own status: 0, or its negative code (then
 *                no result).
 * @return 0; NUB_EINVAL for arguments that cannot be encoded, and when the
 *         guest refused them -- the message names the function and the
 *         argument ("call_typed: function 44: argument 2 is f64, the
 *         function takes i64"); NUB_ECORRUPT when the result is not one
 *         well-formed value or the guest's function broke its own
 *         signature; NUB_EFULL when buf cannot hold the arguments;
 *         NUB_ERANGE when it cannot hold the result; NUB_ENOTFOUND for no
 *         function `fn_id`; the errors of nub_sandbox_call.
 */
NUB_API int nub_sandbox_call_typed(struct nub_sandbox *sb, uint32_t fn_id,
                                   const struct nub_value *args, uint32_t nargs,
                                   struct nub_value *ret, void *buf, size_t cap, int32_t *status);

/**
 * Capture the sandbox's current memory and CPU state as a new immutable
 * snapshot (*out holds one reference; release with nub_snapshot_unref).
 * NUB_EPOISONED if poisoned, NUB_ESTATE before evolve.
 */
NUB_API int nub_sandbox_snapshot(struct nub_sandbox *sb, struct nub_snapshot **out);

/**
 * Restore to `snap` (NULL: the base snapshot taken by evolve). The snapshot
 * must come from the same ELF and layout, and its host functions must be
 * registered (NUB_EMISMATCH otherwise, naming them; the sandbox is left as
 * it was). Clears poisoning. Cost is proportional to what the guest
 * dirtied.
 */
NUB_API int nub_sandbox_restore(struct nub_sandbox *sb, struct nub_snapshot *snap);

/**
 * Write an ELF core file of the guest to `path` (created with mode 0600;
 * an existing file is refused): its registers (general, FS/GS base, x87
 * and SSE), one segment per run of memory the guest can read at CPL3
 * (never host memory, never a page the host owns), and notes naming the
 * guest ELF and, after a fault, the fault's message. `gdb guest.elf PATH`
 * reads it. The state is the last fault's when the sandbox is poisoned by
 * one (until a restore), else the guest's now: between calls, or from a
 * host function the guest called. Errors: NUB_EINVAL (NULL path),
 * NUB_ESTATE (not evolved), NUB_EIO naming the path and errno.
 */
NUB_API int nub_sandbox_core_dump(struct nub_sandbox *sb, const char *path);

/**
 * Stop the call in progress with NUB_ECANCELLED. Any thread, any time; a
 * request that races with the start of a call still stops that call; with
 * no call in progress it does nothing. Returns 0 or NUB_ESYS.
 */
NUB_API int nub_sandbox_interrupt(struct nub_sandbox *sb);

/**
 * An interrupt handle: what a watchdog thread holds instead of the sandbox
 * pointer, so that it never touches a sandbox another thread freed.
 * Reference-counted: nub_sandbox_interrupt_handle returns a new reference
 * (NULL when out of memory, or for a NULL sandbox); each is dropped with
 * nub_interrupt_handle_release, from any thread, before or after the
 * sandbox is freed. The handle stays valid until its last reference goes.
 */
struct nub_interrupt_handle;
NUB_API struct nub_interrupt_handle *nub_sandbox_interrupt_handle(struct nub_sandbox *sb);
/**
 * Stop the sandbox's call in progress, as nub_sandbox_interrupt does. Any
 * thread, any time. Returns 1 when a call was running (it ends with
 * NUB_ECANCELLED), 0 when none was, NUB_ENOTFOUND when the sandbox has been
 * freed (nothing is touched), NUB_EINVAL for NULL, NUB_ESYS when the
 * backend could not be asked.
 */
NUB_API int nub_interrupt_handle_kill(struct nub_interrupt_handle *h);
/** Drop one reference (NULL accepted). */
NUB_API void nub_interrupt_handle_release(struct nub_interrupt_handle *h);

/**
 * Id of the guest function the guest registered as `name` (guests built
 * with the nub runtime publish their names at init). 0 with *id set, or
 * NUB_ENOTFOUND (also before evolve), NUB_EINVAL for NULL arguments.
 */
NUB_API int nub_sandbox_function_id(const struct nub_sandbox *sb, const char *name, uint32_t *id);

/**
 * The signature ("ilds>d", nub/typed.h) guest function `id` was registered
 * with (nub_register_typed), as the guest published it at init; NULL for a
 * byte function, an unknown id, or before evolve. Owned by the sandbox,
 * valid until it is freed. A hint (the host uses it to build arguments):
 * the guest checks every typed call against its own copy.
 */
NUB_API const char *nub_sandbox_function_signature(const struct nub_sandbox *sb, uint32_t id);

/** Host-authoritative guest counter (visible to the guest, never read back). */
NUB_API int nub_sandbox_counter_add(struct nub_sandbox *sb, int64_t delta);
NUB_API uint64_t nub_sandbox_counter(const struct nub_sandbox *sb);

/** The code and message of the last call made on this sandbox that can
 * fail: those of its error, or 0 and "" when it succeeded.
 * nub_sandbox_interrupt (any thread) and nub_sandbox_function_id (a
 * lookup) leave them as they are. NUB_EINVAL / "NULL sandbox" for NULL. */
NUB_API int nub_sandbox_last_error_code(const struct nub_sandbox *sb);
NUB_API const char *nub_sandbox_last_error(const struct nub_sandbox *sb);

/** Name of the backend in use ("" before evolve). */
NUB_API const char *nub_sandbox_backend_name(const struct nub_sandbox *sb);

/** The longest abort text nub_sandbox_abort_info keeps. */
#define NUB_ABORT_TEXT_MAX 4096u

/**
 * The guest abort that ended the last call, init or evolve
 * (NUB_EGUEST_ABORT): the guest's code (its own, or an enum nub_abort_code)
 * in *code, its whole text (the error message cuts it at 160 bytes) copied
 * to `text` NUL-terminated, truncated to cap - 1, its full length in *len.
 * `text`/`len` may be NULL (cap 0). NUB_ENOTFOUND when that call did not
 * end in an abort (a new call, evolve or a restore forgets it); NUB_EINVAL
 * for a NULL sandbox or code.
 */
NUB_API int nub_sandbox_abort_info(const struct nub_sandbox *sb, uint32_t *code, char *text,
                                   size_t cap, size_t *len);

/** What a sandbox is now (nub_sandbox_status). */
struct nub_sandbox_status {
	uint32_t struct_size;   /**< set by the caller: sizeof(struct nub_sandbox_status) */
	uint32_t evolved;       /**< 1 once nub_sandbox_evolve succeeded */
	uint32_t poisoned;      /**< 1: calls fail with NUB_EPOISONED until a restore */
	int32_t poison_code;    /**< the failure that poisoned it (0 when not) */
	uint64_t generation;    /**< of the snapshot its state comes from */
	uint32_t mappings;      /**< the host's mappings in place now */
	uint32_t pooled;        /**< 1 when its VM came from the snapshot's pool */
	char poison_reason[96]; /**< NUL-terminated, empty when not poisoned */
};
/**
 * Fill *st (its struct_size says how much the caller knows; a larger one
 * gets zeros past this libnub's fields). NUB_EINVAL for NULL or a
 * struct_size below 8.
 */
NUB_API int nub_sandbox_status(const struct nub_sandbox *sb, struct nub_sandbox_status *st);

/** How the guest may use a mapping (nub_sandbox_map_region, _map_file). */
enum nub_map_flags {
	NUB_MAP_READ = 1u << 0, /**< readable (always) */
	/** Region: shared read-write, the guest's stores land in the host's
	 * memory. File: copy-on-write, each written page a private copy in the
	 * sandbox's scratch (the file is never written). */
	NUB_MAP_WRITE = 1u << 1,
	NUB_MAP_EXEC = 1u << 2, /**< executable */
};

/**
 * Map `size` bytes of host memory at `host` into an evolved sandbox, at the
 * guest address *gva (the same guest-physical address) or, when *gva is 0,
 * one nub picks (written back to *gva). Both page-aligned; the range must
 * lie between the end of the snapshot region and the start of scratch
 * (NUB_GPA_LIMIT - scratch size). The host keeps ownership: the memory
 * must stay mapped until nub_sandbox_unmap, a restore or
 * nub_sandbox_free. On a backend that runs the guest in another process
 * (the mock: NUB_CAP_SHARED_MEMORY), it must be shared memory (MAP_SHARED
 * or a memfd). The guest finds it by `tag` (nub_guest_mapping in
 * nubguest.h). A mapping is never part of a snapshot, and every restore
 * removes every mapping (map again after it).
 * Errors, each naming the problem: NUB_EINVAL (NULL, unaligned, zero size,
 * unknown flags), NUB_ERANGE (outside the window, or overlapping the
 * snapshot region, scratch or another mapping), NUB_EFULL (more than
 * NUB_MAPPINGS_MAX, or no scratch left for its page tables),
 * NUB_EUNSUPPORTED (private memory on such a backend), NUB_ESTATE (not
 * evolved; from inside a host function), NUB_EPOISONED.
 */
NUB_API int nub_sandbox_map_region(struct nub_sandbox *sb, void *host, uint64_t size,
                                   uint32_t flags, uint32_t tag, nub_gva_t *gva);
/**
 * Map the file at `path` read-only (flags NUB_MAP_READ, optionally EXEC) or
 * copy-on-write (NUB_MAP_WRITE), as nub_sandbox_map_region places and
 * refuses. Read-only, every sandbox that maps one file shares its page
 * cache pages. Its length (the file's, rounded up to pages, which read as
 * zero past the end) is written to *size (may be NULL). nub keeps the file
 * open and mapped until the mapping goes. Errors as for map_region, and
 * NUB_ENOTFOUND / NUB_ESYS naming the file, NUB_EINVAL for an empty one.
 */
NUB_API int nub_sandbox_map_file(struct nub_sandbox *sb, const char *path, uint32_t flags,
                                 uint32_t tag, nub_gva_t *gva, uint64_t *size);
/** Remove the mapping that starts at `gva`. NUB_ENOTFOUND when none does;
 * NUB_ESTATE, NUB_EPOISONED as above. */
NUB_API int nub_sandbox_unmap(struct nub_sandbox *sb, nub_gva_t gva);

/** Per-sandbox counters, for benchmarks and tests. Fields are only ever
 * appended; nub_sandbox_stats fills as much as the caller's header knows. */
struct nub_sandbox_stats {
	uint64_t vm_exits;             /**< exits handled since creation */
	uint64_t calls;                /**< guest calls made */
	uint64_t host_calls;           /**< host functions served */
	uint64_t restores;             /**< restores done */
	uint64_t restore_bytes;        /**< bytes written by the host during restores */
	uint64_t restore_zero_madvise; /**< restores that zeroed scratch by madvise */
	uint64_t cow_faults;       /**< copy-on-write faults the host resolved (one exit each) */
	uint64_t prefetched_pages; /**< working-set pages copied at restore (no exit) */
	/* nub 0.2 */
	uint64_t restores_in_place;  /**< restores that kept the live page tables */
	uint64_t restore_kept_pages; /**< private copies those restores put back in place */
	uint64_t vms_recycled;       /**< 1 when evolve took a freed sandbox's VM from the
	                                  snapshot's pool (nub_snapshot_set_pool) */
	/* nub 0.3: errors by kind (a call counts once in call_errors and in
	 * at most one kind) and where the time went */
	uint64_t call_errors;      /**< calls that returned an error */
	uint64_t errors_fault;     /**< ... a guest fault, privileged instruction, refused
	                                access, port or triple fault */
	uint64_t errors_abort;     /**< ... the guest aborted */
	uint64_t errors_timeout;   /**< ... the call timed out */
	uint64_t errors_cancelled; /**< ... interrupted, or killed by a debugger */
	uint64_t errors_backend;   /**< ... the backend failed */
	uint64_t call_ns;          /**< wall time in calls, total (nanoseconds) */
	uint64_t call_ns_max;      /**< ... the longest call */
	uint64_t host_call_ns;     /**< wall time in host functions, total */
	uint64_t host_call_ns_max; /**< ... the longest */
	uint64_t restore_ns;       /**< wall time in restores (evolve's reset included) */
	uint64_t restore_ns_max;   /**< ... the longest */
};
/** Copy the sandbox's counters into *st, `size` bytes of it at most (the
 * caller's sizeof(struct nub_sandbox_stats)); fields past what this libnub
 * has are zeroed. Use the nub_sandbox_stats macro. */
NUB_API void nub_sandbox_stats_sized(const struct nub_sandbox *sb, struct nub_sandbox_stats *st,
                                     size_t size);
/** The counters as of nub 0.1 (the first 8 fields), for programs built
 * before nub_sandbox_stats_sized; the macro below calls that instead. */
NUB_API void nub_sandbox_stats(const struct nub_sandbox *sb, struct nub_sandbox_stats *st);
#define nub_sandbox_stats(sb, st) nub_sandbox_stats_sized((sb), (st), sizeof(*(st)))

/** One frame of a guest backtrace (nub_sandbox_backtrace). */
struct nub_frame {
	uint64_t pc; /**< frame 0: where the guest stopped; then each return address */
	/** "function+0xN" from the guest ELF's symbols (for a return address,
	 * of the call before it), "" when no symbol holds it. */
	char function[80];
};

/**
 * The guest's call chain where the last call stopped at a fault or an
 * abort, until the sandbox is restored: frame 0 is where it stopped, then
 * one frame per caller, walked from the guest's frame pointers (nub's
 * guests are built with them) as untrusted data -- the walk ends at a
 * frame it cannot read, one that does not move up the stack, or a return
 * address outside the guest ELF. Fault and abort messages show the first
 * six callers; this gives them all.
 * @param sb      the sandbox; not NULL.
 * @param frames  receives up to `cap` frames; not NULL.
 * @param n       receives how many were written; not NULL.
 * @return 0; NUB_EINVAL for NULL arguments or cap 0; NUB_ENOTFOUND when the
 *         last call did not stop at a fault or abort, or a restore came
 *         since.
 */
NUB_API int nub_sandbox_backtrace(struct nub_sandbox *sb, struct nub_frame *frames, size_t cap,
                                  size_t *n);

/** The same counters summed over every sandbox of this process since it
 * started (the *_max fields: the largest of any), as of each sandbox's
 * last public call that returned. Thread-safe. `size`: the caller's
 * sizeof(struct nub_sandbox_stats). Use the nub_process_stats macro. */
NUB_API void nub_process_stats_sized(struct nub_sandbox_stats *st, size_t size);
#define nub_process_stats(st) nub_process_stats_sized((st), sizeof(*(st)))

/** How much of its heap a guest has used, as the host measures it. */
struct nub_heap_usage {
	uint64_t heap_size;     /**< the configured heap, bytes */
	uint64_t written_bytes; /**< bytes of the heap in 4 KiB pages that hold a
	                             non-zero byte now: what the guest has written.
	                             Like RSS, freeing does not lower it; a restore
	                             brings back the snapshot's figure. */
};

/**
 * Measure the guest's heap use from the live page tables and the memory
 * itself, not from anything the guest reports, so a hostile guest cannot
 * misstate it (the guest's own figures: nub_guest_heap_usage() in
 * nubguest.h). Costs a read of every heap page (about 1 ms for 16 MiB).
 * Allowed from a host function.
 * @param sb   the sandbox; not NULL.
 * @param out  receives the figures; not NULL.
 * @return 0; NUB_EINVAL for NULL arguments; NUB_ESTATE for a poisoned
 *         sandbox; NUB_ECORRUPT when the live tables map a heap page
 *         outside guest memory (the sandbox's message names the page).
 */
NUB_API int nub_sandbox_heap_usage(struct nub_sandbox *sb, struct nub_heap_usage *out);

/** Free the sandbox in any state. NULL accepted. A sandbox its snapshot's
 * pool keeps (nub_snapshot_set_pool) is reset first, which costs what a
 * restore of it would; its trace hook is not called for that reset.
 * On KVM the VM's own descriptor is closed by a thread of the backend
 * (one per process, started at the first free) shortly after this
 * returns: the kernel's destruction of a VM waits for a grace period. Its
 * guest memory and vCPU are gone when this returns; a creation that finds
 * no descriptor free first waits for those still being closed, and so
 * does exit() (a handler the backend registers at its first free). */
NUB_API void nub_sandbox_free(struct nub_sandbox *sb);

/** Snapshots: immutable, reference-counted, shareable across threads. */
NUB_API struct nub_snapshot *nub_snapshot_ref(struct nub_snapshot *snap);
NUB_API void nub_snapshot_unref(struct nub_snapshot *snap);
/** 128-bit content hash (XXH3-128): equal hashes = equal snapshots. */
NUB_API void nub_snapshot_hash(const struct nub_snapshot *snap, uint8_t hash[16]);
/** Bytes of guest memory the snapshot holds (guest-visible part). */
NUB_API uint64_t nub_snapshot_memory_size(const struct nub_snapshot *snap);
/** Captures from a sandbox since its ELF's image (0): each
 * nub_sandbox_snapshot of a sandbox of generation g gives g + 1. */
NUB_API uint64_t nub_snapshot_generation(const struct nub_snapshot *snap);

/** Bytes of a guest function's name, NUL included (nub_snapshot_function). */
#define NUB_FUNCTION_NAME_SIZE 64u

/**
 * Guest function `index` (0, 1, ...) of those the guest published at init:
 * its id, its name (NUL-terminated, into `name`) and its signature (NULL
 * for a byte function; owned by the snapshot; nub/typed.h). 0, NUB_ENOTFOUND
 * past the last (none before init), NUB_EINVAL for NULL arguments.
 */
NUB_API int nub_snapshot_function(const struct nub_snapshot *snap, uint32_t index, uint32_t *id,
                                  char name[NUB_FUNCTION_NAME_SIZE], const char **sig);

/** 1 when a sandbox made from `snap` (or restored to it) must register host
 * function `id` (the contract: nub_sandbox_register), else 0. */
NUB_API int nub_snapshot_needs_host_fn(const struct nub_snapshot *snap, uint32_t id);

/** Most VMs a snapshot's pool keeps (nub_snapshot_set_pool). */
#define NUB_SNAPSHOT_POOL_MAX 4096u
/** VMs a new snapshot's pool keeps until nub_snapshot_set_pool says otherwise. */
#define NUB_SNAPSHOT_POOL_DEFAULT 4u

/**
 * Keep the VMs of up to `max_vms` freed sandboxes of `snap` for reuse: the
 * next nub_sandbox_evolve of a sandbox created from `snap` with the same
 * backend spec and options takes one instead of creating a VM.
 * nub_sandbox_free parks a sandbox when the pool has room, the sandbox is
 * evolved, not poisoned, and holds `snap`'s state or a later state of it
 * (its last reset was to `snap`); any other is freed at once. Parking
 * resets the VM to `snap` as a restore does (in place: no new page tables,
 * no page faults on the pages the last user wrote), so the free costs a
 * restore, the evolve that takes the VM costs almost nothing, and a parked
 * VM holds nothing its last user wrote. A new sandbox from a pooled VM is
 * exactly what a fresh one is -- memory, vCPU state, entropy, counters
 * (stats.vms_recycled says which it got, and its stats count no restore);
 * only host resources are reused. A parked VM keeps what an idle sandbox
 * does (its file descriptors, the pages it maps, the mock's vCPU process)
 * and holds no reference on `snap`: they are freed when `snap` is, or by
 * lowering `max_vms`.
 * A VM belongs to the process that made it: a forked child never takes one
 * its parent parked (it makes its own), never parks one (its free of a
 * sandbox made before the fork neither resets nor keeps the VM), and a
 * sandbox made before a fork runs only in the process that made it (see
 * "fork()" at the top of this header).
 * A new snapshot (made, captured or loaded) keeps up to
 * NUB_SNAPSHOT_POOL_DEFAULT: a host that makes a sandbox per request and
 * frees it gets a VM reset in place (a restore's cost) instead of a new
 * one (milliseconds on KVM) without asking. What that holds while parked:
 * per VM, what an idle sandbox of `snap` holds (docs/performance.md,
 * "Per-sandbox host resources"). 0 turns it off. Thread-safe.
 * @param snap     the snapshot
 * @param max_vms  0 (off: frees what is kept) .. NUB_SNAPSHOT_POOL_MAX
 * @return 0, or NUB_EINVAL for a NULL snapshot or max_vms above the maximum.
 */
NUB_API int nub_snapshot_set_pool(struct nub_snapshot *snap, unsigned max_vms);

/* ---- backends ---- */

/** What one backend .so is and what its probe says on this machine. */
struct nub_backend_info {
	char name[64];   /**< from its table ("kvm"); from the file name if it did not load */
	char path[4096]; /**< the .so */
	uint32_t abi_major, abi_minor; /**< the backend's ABI; 0 if it did not load */
	uint32_t caps;                 /**< enum nub_backend_cap bits (nub/backend.h) */
	int load_error;                /**< 0, or why it is not a nub backend (NUB_ENOSYM, ...) */
	int usable;                    /**< 1: loaded and its probe said yes */
	int shadowed;   /**< 1: a backend of this name was found earlier in the search */
	char note[256]; /**< probe note ("software KVM: pvm"), probe reason, or load error */
};

/**
 * Call `fn` for every libnub-backend-<name>.so found, in search order: each
 * directory of $NUB_BACKEND_PATH, then the install plugin directory, then
 * the build tree's backend directory (the order a name is resolved in; a
 * later one of the same name has `shadowed` set). Each is loaded and
 * probed, then unloaded. Stops when fn returns non-zero and returns that;
 * otherwise 0. `info` is valid during the callback only.
 *
 * The install plugin directory is `<libdir>/nub/backends` of the tree this
 * libnub is installed in (what `pkg-config --variable=plugindir nub`
 * prints), found from where libnub.so itself is, or for libnub.a from
 * where the program linking it is, taken as installed in `<prefix>/bin`.
 * So a tree installed with another prefix than it was configured with
 * (`cmake --install --prefix P`), or moved, loads its own backends. When
 * that directory exists and is not the configured prefix's, it is searched
 * first and the configured `<prefix>/<libdir>/nub/backends` after it.
 */
NUB_API int nub_backend_foreach(int (*fn)(void *user, const struct nub_backend_info *info),
                                void *user);

/**
 * Describe the backend `spec` selects, as nub_sandbox_evolve would load it:
 * a name, a path, "auto", or NULL/"" for $NUB_BACKEND, else "auto". Returns
 * 0 with *info filled when it loads and its probe accepts; otherwise the
 * error (NUB_ENOTFOUND, NUB_EPROBE, NUB_EABI, ...) with the message in err
 * and *info filled as far as known: for a name or path whose probe
 * declines, as nub_backend_foreach describes it (load_error 0, usable 0,
 * the probe's reason in note); else load_error is the error.
 */
NUB_API int nub_backend_select(const char *spec, struct nub_backend_info *info,
                               struct nub_error *err);

/**
 * Print the guest memory map `cfg` gives for an ELF image of `image_size`
 * bytes (what `nub layout` shows). NUB_EINVAL / NUB_EOVERFLOW naming the
 * field when the sizes do not make a layout.
 */
NUB_API int nub_layout_describe(const struct nub_config *cfg, uint64_t image_size, FILE *out,
                                struct nub_error *err);

/**
 * Save to a file (versioned header + memory + hash) / load it back. Load
 * checks the header, sizes and hash, and takes nothing the host owns from
 * the file: the PEB, GDT/TSS/IDT and exception-stub pages are rebuilt from
 * the layout, and the page tables are checked leaf by leaf against the
 * rules nub builds them by, then built afresh. A truncated or corrupt file,
 * or one whose tables map anything nub would not, gives NUB_ECORRUPT naming
 * the file and what is wrong (for a table, the GVA). A file saved with a
 * key is refused with NUB_ECORRUPT saying it needs its key. The hash only
 * detects corruption: anyone can write a file that loads; a host that loads
 * files others could have written uses the keyed functions below.
 * On success *out holds one reference (nub_snapshot_unref). NUB_EINVAL for
 * NULL arguments; NUB_ENOTFOUND / NUB_EIO for the file itself.
 */
NUB_API int nub_snapshot_save(const struct nub_snapshot *snap, const char *path,
                              struct nub_error *err);
NUB_API int nub_snapshot_load(const char *path, struct nub_snapshot **out, struct nub_error *err);

/**
 * Save `snap` into the OCI image layout at directory `dir` (made if absent)
 * under `tag` ([A-Za-z0-9_.-], up to 128), replacing that tag: blobs under
 * blobs/sha256 named by their digest (tags of equal snapshots share them),
 * a manifest with a config and the snapshot file as its one layer, the tag
 * in index.json beside the layout's other tags. `skopeo copy oci:DIR:TAG
 * ...` moves it. NUB_EINVAL (tag), NUB_EIO (naming the path), NUB_ECORRUPT
 * when an existing index.json is not an OCI index.
 */
NUB_API int nub_snapshot_save_oci(const struct nub_snapshot *snap, const char *dir, const char *tag,
                                  struct nub_error *err);

/**
 * Load the snapshot tagged `tag` in the OCI layout at `dir`, checking the
 * manifest and the layer against their digests and sizes before use, then
 * as nub_snapshot_load does. NUB_ENOTFOUND (no such tag, no nub layer),
 * NUB_ECORRUPT (a malformed index or manifest, a blob that does not match
 * its digest: the message names it), NUB_EIO.
 */
NUB_API int nub_snapshot_load_oci(const char *dir, const char *tag, struct nub_snapshot **out,
                                  struct nub_error *err);

/** Snapshot keys are NUB_SNAPSHOT_KEY_MIN to NUB_SNAPSHOT_KEY_MAX bytes;
 * NUB_SNAPSHOT_KEY_SIZE random bytes are recommended (a secret the host
 * keeps, e.g. from getrandom(2)). */
#define NUB_SNAPSHOT_KEY_MIN  16u
#define NUB_SNAPSHOT_KEY_SIZE 32u
#define NUB_SNAPSHOT_KEY_MAX  64u

/**
 * Save `snap` to `path` authenticated with a key: the file ends with a MAC
 * (keyed BLAKE2b-256, libsodium) of every byte before it instead of the
 * hash.
 * @param snap     the snapshot; not NULL; the caller keeps its reference.
 * @param path     the file, created or replaced; not NULL.
 * @param key      the key; not NULL; read during the call only.
 * @param key_len  its length, NUB_SNAPSHOT_KEY_MIN..NUB_SNAPSHOT_KEY_MAX.
 * @param err      may be NULL.
 * @return 0; NUB_EINVAL for a NULL argument or a key of the wrong length;
 *         NUB_ENOMEM; NUB_EIO naming the file; NUB_ESYS if libsodium
 *         cannot initialise.
 */
NUB_API int nub_snapshot_save_keyed(const struct nub_snapshot *snap, const char *path,
                                    const void *key, size_t key_len, struct nub_error *err);

/**
 * Load a file saved by nub_snapshot_save_keyed with the same key. The MAC
 * is checked (in constant time) before anything else of the file is read;
 * then the file is checked as nub_snapshot_load checks it.
 * @param path     the file; not NULL.
 * @param key      the key; not NULL; read during the call only.
 * @param key_len  its length, NUB_SNAPSHOT_KEY_MIN..NUB_SNAPSHOT_KEY_MAX.
 * @param out      receives the snapshot with one reference
 *                 (nub_snapshot_unref); untouched on failure.
 * @param err      may be NULL.
 * @return 0; NUB_EINVAL for a NULL argument or a key of the wrong length
 *         (checked before the file is opened); NUB_ENOTFOUND / NUB_EIO for
 *         the file itself; NUB_ECORRUPT naming the file when it is not
 *         authenticated with this key (another key, changed since, or saved
 *         without a key) or when, authenticated, it fails the checks of
 *         nub_snapshot_load; NUB_EABI for another format version; NUB_ENOMEM;
 *         NUB_ESYS if libsodium cannot initialise.
 */
NUB_API int nub_snapshot_load_keyed(const char *path, const void *key, size_t key_len,
                                    struct nub_snapshot **out, struct nub_error *err);

#ifdef __cplusplus
}
#endif
#endif
