/* SPDX-License-Identifier: MIT */
#ifndef NTB_LOG_H
#define NTB_LOG_H

#include <stdarg.h>
#include <stdnoreturn.h>

/*
 * Two error tiers, as in relayd: log_die*() when the process cannot go on
 * (one line, exit 1: at start-up, or an impossible state once serving),
 * log_warn*() for what ends one connection or one peer (one line, the
 * caller carries on).  A line that an event outside our control can
 * repeat (a client, a peer, a flood) goes through a struct log_limit.
 * Lines are formatted on the stack and written with one write(2), so
 * logging needs no allocation and no syscalls beyond write once sandboxed.
 */

/* At most LOG_LIMIT_BURST lines a second through one limit; then a count. */
#define LOG_LIMIT_BURST	5

struct log_limit {
	long long window;	/* start of the current second, ms */
	unsigned int lines;	/* printed in it */
	unsigned int dropped;	/* not printed in it */
};

void log_init(const char *progname);
int log_to_syslog(void);
int log_fd(void);
void log_set_verbose(int verbose);

void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn_errno(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_warn_limited(struct log_limit *l, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void log_warn_errno_limited(struct log_limit *l, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
noreturn void log_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
noreturn void log_die_errno(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Bad argument: one line naming option and value, exit 2. */
noreturn void log_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
