/* SPDX-License-Identifier: MIT */
/**
 * @file log.h
 * Guest log levels, shared by the host API (nub.h: nub_config.log_level,
 * nub_log_fn) and the guest ABI (guest_abi.h: nub_log_msg). Freestanding.
 */
#ifndef NUB_LOG_H
#define NUB_LOG_H

/** Log levels, as in syslog order: lower is more severe. */
enum nub_log_level {
	NUB_LOG_ERROR = 1,
	NUB_LOG_WARN = 2,
	NUB_LOG_INFO = 3,
	NUB_LOG_DEBUG = 4,
	NUB_LOG_TRACE = 5,
};

#endif
