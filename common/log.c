// SPDX-License-Identifier: MIT
/*
 * log.c - one-line diagnostics on stderr.
 *
 * Every line is "PROG: message\n", written with a single write(2) so lines
 * from threads and from the two agents never interleave mid-line.
 */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *log_prog = "ntb";
static int log_level;

void log_init(const char *progname)
{
	const char *slash = strrchr(progname, '/');

	log_prog = slash ? slash + 1 : progname;
}

void log_set_verbose(int verbose)
{
	log_level = verbose;
}

/* syscalls: write */
static void log_emit(int err, const char *fmt, va_list ap)
{
	char line[512];
	size_t len;
	int n;

	n = snprintf(line, sizeof(line), "%s: ", log_prog);
	len = n > 0 ? (size_t)n : 0;
	n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
	if (n > 0)
		len += (size_t)n;
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	if (err) {
		n = snprintf(line + len, sizeof(line) - len, ": %s", strerror(err));
		if (n > 0)
			len += (size_t)n;
		if (len > sizeof(line) - 2)
			len = sizeof(line) - 2;
	}
	line[len++] = '\n';
	/* Nothing sensible to do if stderr is gone. */
	if (write(STDERR_FILENO, line, len) < 0)
		return;
}

void log_info(const char *fmt, ...)
{
	va_list ap;

	if (log_level < 1)
		return;
	va_start(ap, fmt);
	log_emit(0, fmt, ap);
	va_end(ap);
}

void log_debug(const char *fmt, ...)
{
	va_list ap;

	if (log_level < 2)
		return;
	va_start(ap, fmt);
	log_emit(0, fmt, ap);
	va_end(ap);
}

void log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(0, fmt, ap);
	va_end(ap);
}

void log_warn_errno(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(err, fmt, ap);
	va_end(ap);
}

/* May @l print a line now?  Says how many it held back, once a second. */
/* syscalls: clock_gettime write */
static int log_limit_pass(struct log_limit *l)
{
	struct timespec ts;
	long long now;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	if (now - l->window >= 1000) {
		if (l->dropped) {
			char line[96];
			int n = snprintf(line, sizeof(line), "%s: %u similar lines not shown\n",
					 log_prog, l->dropped);

			if (n > 0 && write(STDERR_FILENO, line, (size_t)n) < 0)
				n = 0;
		}
		l->window = now;
		l->lines = 0;
		l->dropped = 0;
	}
	if (l->lines >= LOG_LIMIT_BURST) {
		l->dropped++;
		return 0;
	}
	l->lines++;
	return 1;
}

/**
 * log_warn_limited() - log_warn(), at most LOG_LIMIT_BURST lines a second
 * @l:		the limit; one per call site and thread
 * @fmt:	format
 */
void log_warn_limited(struct log_limit *l, const char *fmt, ...)
{
	va_list ap;

	if (!log_limit_pass(l))
		return;
	va_start(ap, fmt);
	log_emit(0, fmt, ap);
	va_end(ap);
}

/**
 * log_warn_errno_limited() - log_warn_errno(), rate-limited like
 * log_warn_limited()
 * @l:		the limit
 * @err:	errno value to append
 * @fmt:	format
 */
void log_warn_errno_limited(struct log_limit *l, int err, const char *fmt, ...)
{
	va_list ap;

	if (!log_limit_pass(l))
		return;
	va_start(ap, fmt);
	log_emit(err, fmt, ap);
	va_end(ap);
}

void log_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(0, fmt, ap);
	va_end(ap);
	_exit(1);
}

void log_die_errno(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(err, fmt, ap);
	va_end(ap);
	_exit(1);
}

void log_usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(0, fmt, ap);
	va_end(ap);
	_exit(2);
}
