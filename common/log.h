/* SPDX-License-Identifier: MIT */
#ifndef NTB_LOG_H
#define NTB_LOG_H

#include <stdarg.h>
#include <stdnoreturn.h>

/*
 * Two error tiers, as in relayd: log_die*() during start-up (one line,
 * exit 1), log_warn*() once serving (one line, the caller carries on).
 * Lines are formatted on the stack and written with one write(2), so
 * logging needs no allocation and no syscalls beyond write once sandboxed.
 */

void log_init(const char *progname);
void log_set_verbose(int verbose);

void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn_errno(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
noreturn void log_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
noreturn void log_die_errno(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Bad argument: one line naming option and value, exit 2. */
noreturn void log_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
