// SPDX-License-Identifier: MIT
/*
 * log.c - one-line diagnostics on stderr, or to syslog.
 *
 * Every line is "PROG: message\n", written with a single write(2) so lines
 * from threads and from the two agents never interleave mid-line.  When
 * stderr is the journal (JOURNAL_STREAM names it), each line starts with
 * its "<N>" priority, which journald reads as the line's priority.  With
 * --log syslog, lines go as "<PRI>PROG[PID]: message" datagrams to
 * /dev/log, on a socket connected at start: the sandbox has no socket()
 * or connect(), so glibc's syslog(), which reconnects on its own, is not
 * used.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static const char *log_prog = "ntb";
static int log_level;
static int log_journal;		/* stderr is the journal: "<N>" prefixes */
static int log_syslog_fd = -1;	/* --log syslog */
static int log_pid;

/**
 * log_init() - name the program in every line; notice a journal on stderr
 * @progname:	argv[0]
 */
void log_init(const char *progname)
{
	const char *slash = strrchr(progname, '/');
	const char *stream = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	log_prog = slash ? slash + 1 : progname;
	log_pid = (int)getpid();
	if (stream && sscanf(stream, "%llu:%llu", &dev, &ino) == 2 && !fstat(STDERR_FILENO, &st))
		log_journal = (unsigned long long)st.st_dev == dev &&
			      (unsigned long long)st.st_ino == ino;
}

/**
 * log_to_syslog() - send every line to /dev/log from now on
 *
 * Return: 0, or -1 with errno set (lines keep going to stderr).
 */
int log_to_syslog(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX, .sun_path = "/dev/log" };
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		int err = errno;

		close(fd);
		errno = err;
		return -1;
	}
	log_syslog_fd = fd;
	return 0;
}

/**
 * log_fd() - the syslog socket the sandbox must keep, or -1
 *
 * Return: the fd.
 */
int log_fd(void)
{
	return log_syslog_fd;
}

void log_set_verbose(int verbose)
{
	log_level = verbose;
}

/*
 * @prio: syslog(3)'s LOG_ERR .. LOG_DEBUG, for the journal and syslog
 * syscalls: write
 */
static void log_emit(int prio, int err, const char *fmt, va_list ap)
{
	char line[600];
	size_t len;
	int n;

	if (log_syslog_fd >= 0)
		n = snprintf(line, sizeof(line), "<%d>%s[%d]: ", LOG_DAEMON | prio, log_prog,
			     log_pid);
	else if (log_journal)
		n = snprintf(line, sizeof(line), "<%d>%s: ", prio, log_prog);
	else
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
	/* Nothing sensible to do if the log is gone. */
	if (write(log_syslog_fd >= 0 ? log_syslog_fd : STDERR_FILENO, line, len) < 0)
		return;
}

void log_info(const char *fmt, ...)
{
	va_list ap;

	if (log_level < 1)
		return;
	va_start(ap, fmt);
	log_emit(LOG_INFO, 0, fmt, ap);
	va_end(ap);
}

/* What the operator asked for (SIGUSR1, --stats) or must see: always shown. */
void log_notice(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_NOTICE, 0, fmt, ap);
	va_end(ap);
}

void log_debug(const char *fmt, ...)
{
	va_list ap;

	if (log_level < 2)
		return;
	va_start(ap, fmt);
	log_emit(LOG_DEBUG, 0, fmt, ap);
	va_end(ap);
}

void log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_WARNING, 0, fmt, ap);
	va_end(ap);
}

void log_warn_errno(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_WARNING, err, fmt, ap);
	va_end(ap);
}

static void __attribute__((format(printf, 1, 2))) log_plain_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_WARNING, 0, fmt, ap);
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
			log_plain_warn("%u similar lines not shown", l->dropped);
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
	log_emit(LOG_WARNING, 0, fmt, ap);
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
	log_emit(LOG_WARNING, err, fmt, ap);
	va_end(ap);
}

void log_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_ERR, 0, fmt, ap);
	va_end(ap);
	_exit(1);
}

void log_die_errno(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_ERR, err, fmt, ap);
	va_end(ap);
	_exit(1);
}

void log_usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_ERR, 0, fmt, ap);
	va_end(ap);
	_exit(2);
}
