/* SPDX-License-Identifier: MIT */
/**
 * @file error.h
 * Error codes shared by libnub, backends and the CLI.
 *
 * Every nub function that can fail returns 0 on success or one of the
 * negative codes below. Codes are part of the backend ABI: their values never
 * change, new ones are only appended. A human-readable message that names the
 * failing object (file, field, value) is stored next to the code in a
 * `struct nub_error`, or, for the public sandbox API, on the handle.
 */
#ifndef NUB_ERROR_H
#define NUB_ERROR_H

#include "export.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Negative error codes. 0 means success.
 *
 * NUB_EHOST_FN is retired: libnub never returns it. A host function's
 * negative status goes to the guest as the call's status (nub_host_fn in
 * nub.h), never to the host as an error, so nothing fails with it. The
 * name stays for code that mentions it (a host function may return it as
 * its own status); its value stays reserved and is never reused. */
enum nub_err {
	NUB_OK = 0,
	NUB_EINVAL = -1,         /**< invalid argument or configuration */
	NUB_ENOMEM = -2,         /**< host memory allocation failed */
	NUB_ERANGE = -3,         /**< address or length outside its region */
	NUB_EOVERFLOW = -4,      /**< arithmetic overflow in a size computation */
	NUB_ENOTFOUND = -5,      /**< file, backend or function not found */
	NUB_ENOSYM = -6,         /**< .so is not a nub backend (entry symbol missing) */
	NUB_EABI = -7,           /**< backend or guest ABI version mismatch */
	NUB_ESHORT = -8,         /**< backend ops table shorter than required */
	NUB_ESLOT = -9,          /**< required backend slot is NULL */
	NUB_EPROBE = -10,        /**< backend probe declined (not usable here) */
	NUB_EUNSUPPORTED = -11,  /**< optional feature not provided */
	NUB_ESYS = -12,          /**< a system call failed (errno in message) */
	NUB_ECORRUPT = -13,      /**< untrusted data (guest memory, file) is corrupt */
	NUB_EELF = -14,          /**< malformed or unsupported guest ELF */
	NUB_EFULL = -15,         /**< buffer or allocator full */
	NUB_EEMPTY = -16,        /**< buffer empty */
	NUB_ESTATE = -17,        /**< operation not valid in the current state */
	NUB_EPOISONED = -18,     /**< sandbox poisoned: restore first */
	NUB_EGUEST_ABORT = -19,  /**< guest called abort */
	NUB_EGUEST_FAULT = -20,  /**< guest took an unhandled exception */
	NUB_ETRIPLE_FAULT = -21, /**< guest triple-faulted (VM shutdown) */
	NUB_EMMIO = -22,         /**< guest accessed unmapped or read-only GPA */
	NUB_EPORT = -23,         /**< guest used an unknown I/O port */
	NUB_ECANCELLED = -24,    /**< run interrupted by nub_sandbox_interrupt */
	NUB_ETIMEDOUT = -25,     /**< call exceeded its timeout */
	NUB_EBACKEND = -26,      /**< backend internal error (detail in message) */
	NUB_EMISMATCH = -27,     /**< snapshot does not belong to this sandbox */
	NUB_EHOST_FN = -28,      /**< retired: never returned (above); never reused */
	NUB_EIO = -29,           /**< file read/write failed */
	/** guest did what only the host may: a privileged instruction at
	 * CPL3, or a write to its page tables or descriptor tables */
	NUB_EPRIVILEGED = -30,
	NUB_ERR_MIN_ = -30
};

/** Maximum length of an error message, including the terminating NUL. */
#define NUB_ERROR_MSG_MAX 256

/**
 * An error code with its message. Zero-initialise before use; functions
 * taking a `struct nub_error *` fill it on failure and leave it untouched on
 * success. The pointer may be NULL when the caller wants the code only.
 */
struct nub_error {
	int code;                    /**< one of enum nub_err */
	char msg[NUB_ERROR_MSG_MAX]; /**< NUL-terminated message */
};

/**
 * Short static name of an error code ("NUB_EINVAL"); never NULL, unknown
 * codes give "NUB_E?". Exported by libnub; a backend may call it (it
 * resolves against the libnub of the process that loads the backend).
 */
NUB_API const char *nub_strerror(int code);

#ifdef __cplusplus
}
#endif
#endif
