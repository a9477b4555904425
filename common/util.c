// SPDX-License-Identifier: MIT
/*
 * util.c - small helpers shared by the three programs.
 */
#include "util.h"
#include "addr.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/**
 * util_signalfd() - block @set and return a signalfd for it, or exit
 * @set:	signals to receive through the fd
 *
 * Return: non-blocking CLOEXEC signalfd.
 */
int util_signalfd(const sigset_t *set)
{
	int fd;

	if (sigprocmask(SIG_BLOCK, set, NULL))
		log_die_errno(errno, "cannot block signals");
	fd = signalfd(-1, set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		log_die_errno(errno, "cannot create signalfd");
	return fd;
}

/* syscalls: clock_gettime */
long long util_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/**
 * util_epoll_add() - watch @fd in @epfd with @tag as its data, or exit
 * @epfd:	epoll set
 * @fd:		fd to watch
 * @events:	EPOLLIN etc.
 * @tag:	data.u64 reported with its events
 *
 * syscalls: epoll_ctl
 */
void util_epoll_add(int epfd, int fd, uint32_t events, uint64_t tag)
{
	struct epoll_event ev = { .events = events, .data.u64 = tag };

	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev))
		log_die_errno(errno, "cannot watch fd %d", fd);
}

/**
 * util_cpu_count() - CPUs this process may run on
 *
 * Return: at least 1.
 */
int util_cpu_count(void)
{
	cpu_set_t set;
	int n;

	if (sched_getaffinity(0, sizeof(set), &set))
		return 1;
	n = CPU_COUNT(&set);
	return n > 0 ? n : 1;
}

/**
 * util_check_stream_socket() - is @fd an IPv4/IPv6 TCP socket?
 * @fd:			the fd
 * @want_listening:	1: must be listening; 0: must not be
 * @why:		on failure, what it is instead
 *
 * Return: 0, or -1.
 */
int util_check_stream_socket(int fd, int want_listening, const char **why)
{
	int domain = 0, type = 0, acc = 0;
	socklen_t len = sizeof(int);

	if (fcntl(fd, F_GETFD) < 0) {
		*why = "not an open file descriptor";
		return -1;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len)) {
		*why = errno == ENOTSOCK ? "not a socket" : "cannot inspect the socket";
		return -1;
	}
	len = sizeof(int);
	getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len);
	len = sizeof(int);
	getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len);
	if ((domain != AF_INET && domain != AF_INET6) || type != SOCK_STREAM) {
		*why = "not a TCP socket";
		return -1;
	}
	if (want_listening && !acc) {
		*why = "not a listening socket";
		return -1;
	}
	if (!want_listening && acc) {
		*why = "a listening socket, not a connected one";
		return -1;
	}
	return 0;
}

/**
 * util_reset_close() - close a TCP socket so its peer sees RST, not FIN
 * @fd:		the socket, or -1 (ignored)
 *
 * syscalls: setsockopt close
 */
void util_reset_close(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	if (fd < 0)
		return;
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

/**
 * util_backoff() - the next pause of a back-off that doubles
 * @ms:		the last pause in ms, 0 after a success; set to the new one
 *
 * A failure that would repeat at once (out of fds, out of memory, a peer
 * that is not there yet) is tried again after UTIL_BACKOFF_MIN_MS, then
 * twice as long each time, up to UTIL_BACKOFF_MAX_MS.
 *
 * Return: when to try again, a CLOCK_MONOTONIC ms time (util_now_ms()).
 */
long long util_backoff(int *ms)
{
	*ms = *ms ? *ms * 2 : UTIL_BACKOFF_MIN_MS;
	if (*ms > UTIL_BACKOFF_MAX_MS)
		*ms = UTIL_BACKOFF_MAX_MS;
	return util_now_ms() + *ms;
}

/**
 * util_accept_error() - how an accept loop treats an accept4() failure
 * @err:	its errno
 *
 * Read as mature servers read it: accept(2) reports the pending
 * connection's own network errors (ECONNABORTED: the client reset before
 * we took it), and the next client may be fine, so take it at once.  Out
 * of fds or memory the client stays in the backlog and the listener stays
 * readable: trying again at once would spin, so back off
 * (util_backoff()); out of fds, a spare fd can take and reset it first.
 *
 * Return: what to do, enum util_accept_fail.
 */
enum util_accept_fail util_accept_error(int err)
{
	switch (err) {
	case EAGAIN:
		return UTIL_ACCEPT_EMPTY;
	case EINTR:
		return UTIL_ACCEPT_INTERRUPTED;
	case ECONNABORTED: case EPROTO: case ENETDOWN: case ENOPROTOOPT:
	case EHOSTDOWN: case ENONET: case EHOSTUNREACH: case ENETUNREACH:
	case EPERM:
		return UTIL_ACCEPT_NEXT;
	case EMFILE: case ENFILE:
		return UTIL_ACCEPT_NO_FDS;
	case ENOBUFS: case ENOMEM:
		return UTIL_ACCEPT_NO_MEMORY;
	default:
		return UTIL_ACCEPT_BROKEN;
	}
}

/**
 * util_sooner() - an epoll time-out that also wakes for @when
 * @timeout:	the time-out so far, ms (-1: none)
 * @when:	a CLOCK_MONOTONIC ms time (util_now_ms()), or 0 for none
 *
 * Return: the smaller of @timeout and the ms left until @when (at most a
 * minute, at least 0).
 */
int util_sooner(int timeout, long long when)
{
	long long left;

	if (when <= 0)
		return timeout;
	left = when - util_now_ms();
	if (left < 0)
		left = 0;
	if (left > UTIL_WAIT_MAX_MS)
		left = UTIL_WAIT_MAX_MS;
	return timeout < 0 || left < timeout ? (int)left : timeout;
}

/**
 * util_linger_off() - let a TCP socket close with FIN again, after
 * SO_LINGER 0 was set on it (or on the listener it came from)
 * @fd:		the socket
 *
 * syscalls: setsockopt
 */
void util_linger_off(int fd)
{
	struct linger lg = { .l_onoff = 0, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

/**
 * util_abort_close() - reset and close a TCP socket that others may share
 * @fd:		the socket, or -1 (ignored)
 *
 * connect(AF_UNSPEC) disconnects: the kernel sends RST and the socket goes
 * to CLOSE at once, so the close that follows cannot wait for a linger
 * time that whoever shares the socket may have set.  On anything that is
 * not a connected TCP socket the disconnect fails harmlessly.
 *
 * syscalls: connect close
 */
void util_abort_close(int fd)
{
	struct sockaddr unspec = { .sa_family = AF_UNSPEC };

	if (fd < 0)
		return;
	if (connect(fd, &unspec, sizeof(unspec)) && errno == EINTR)
		log_debug("disconnect interrupted");
	close(fd);
}

/**
 * util_is_tcp_socket() - is @fd a connected (or a listening) TCP socket,
 * IPv4 or IPv6?
 * @fd:		the fd
 * @listening:	0: must be connected; 1: must be listening
 * @why:	if not, what it is instead
 *
 * Family, type and protocol together: SO_PROTOCOL 6 alone is also a raw
 * IPPROTO_TCP socket or an AF_NETLINK socket of protocol 6 (NETLINK_XFRM).
 * Connected means established, or closed for reading by a client that
 * sent its request and FIN at once.
 *
 * Return: 1 or 0.
 *
 * syscalls: getsockopt
 */
int util_is_tcp_socket(int fd, int listening, const char **why)
{
	int domain = 0, type = 0, proto = 0;
	struct tcp_info ti;
	socklen_t len = sizeof(int);

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) ||
	    (domain != AF_INET && domain != AF_INET6)) {
		*why = "not an IPv4 or IPv6 socket";
		return 0;
	}
	len = sizeof(int);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) || type != SOCK_STREAM) {
		*why = "not a stream socket";
		return 0;
	}
	len = sizeof(int);
	if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) || proto != IPPROTO_TCP) {
		*why = "not a TCP socket";
		return 0;
	}
	/* Only the state byte: the kernel copies no more than we ask for. */
	len = sizeof(ti.tcpi_state);
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len)) {
		*why = "a TCP socket whose state cannot be read";
		return 0;
	}
	if (listening && ti.tcpi_state != TCP_LISTEN) {
		*why = "a TCP socket that is not listening";
		return 0;
	}
	if (!listening && ti.tcpi_state != TCP_ESTABLISHED && ti.tcpi_state != TCP_CLOSE_WAIT) {
		*why = "a TCP socket that is not connected";
		return 0;
	}
	return 1;
}

/**
 * util_set_nonblock() - set O_NONBLOCK on @fd, keeping its other flags
 * @fd:		the fd
 *
 * Return: 0, or -1 with errno set.
 */
int util_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -1;
	return (fl & O_NONBLOCK) ? 0 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/**
 * util_self_dir() - the directory this program's binary is in, or exit
 * @dir:	output
 * @size:	its size
 *
 * The launcher and the hook find their companions there, never on $PATH.
 */
void util_self_dir(char *dir, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", dir, size - 1);
	char *slash;

	if (n <= 0)
		log_die_errno(errno, "cannot find own directory (/proc/self/exe)");
	dir[n] = '\0';
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	else
		log_die("cannot find own directory: '%s'", dir);
}

/**
 * util_raise_nofile() - raise the soft fd limit to the hard one, or exit
 *
 * At the start, before anything is opened: up to 1024 listening sockets
 * are bound before the sandbox, and a relay needs many fds later.
 */
void util_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		log_die_errno(errno, "cannot read RLIMIT_NOFILE");
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			log_die_errno(errno, "cannot raise RLIMIT_NOFILE");
	}
}

/**
 * util_std_fds() - make sure fds 0, 1 and 2 are open, or exit
 *
 * The first thing each program does: started with one of them closed, the
 * next open() (a namespace file, an epoll set, the rendezvous) would take
 * its number, and later code that treats 0-2 as the standard streams
 * would overwrite or close it.
 */
void util_std_fds(void)
{
	int fd;

	for (fd = 0; fd <= 2; fd++) {
		int got;

		if (fcntl(fd, F_GETFD) >= 0)
			continue;
		got = open("/dev/null", O_RDWR);
		if (got != fd)
			_exit(1);	/* nowhere to say so: stderr is not open */
	}
}

/**
 * util_arg_number() - parse an option's number, or exit 2 naming both
 * @opt:	option as the user wrote it, e.g. "--workers"
 * @text:	the value
 * @min:	smallest accepted
 * @max:	largest accepted
 *
 * Return: the number.
 */
long long util_arg_number(const char *opt, const char *text, long long min, long long max)
{
	long long v;

	if (addr_parse_uint(text, max, &v) || v < min)
		log_usage_error("bad value '%s' for %s: expected a number from %lld to %lld",
				text, opt, min, max);
	return v;
}

/**
 * util_parse_uid() - parse a numeric uid
 * @text:	decimal, from 0 to 4294967294 ((uid_t)-1 means "no uid")
 * @uid:	the uid
 *
 * Return: 0, or -1 if @text is not such a number.
 */
int util_parse_uid(const char *text, uid_t *uid)
{
	long long v;

	if (addr_parse_uint(text, 0xfffffffeLL, &v))
		return -1;
	*uid = (uid_t)v;
	return 0;
}

/**
 * util_arg_socket() - parse an option's inherited TCP socket, or exit 2
 * @opt:	the option, for the line
 * @text:	its fd number
 * @listening:	1 for a listening socket, 0 for a connected one
 *
 * Return: the fd.
 */
int util_arg_socket(const char *opt, const char *text, int listening)
{
	int fd = util_arg_fd(opt, text);
	const char *why;

	if (util_check_stream_socket(fd, listening, &why))
		log_usage_error("bad value '%s' for %s: %s", text, opt, why);
	return fd;
}

/**
 * util_arg_fd() - parse an option's fd number and check it is open, or exit 2
 * @opt:	option as the user wrote it
 * @text:	the value
 *
 * Return: the fd.
 */
int util_arg_fd(const char *opt, const char *text)
{
	int fd;

	if (addr_parse_fd(text, &fd))
		log_usage_error("bad value '%s' for %s: expected a file descriptor number",
				text, opt);
	if (fcntl(fd, F_GETFD) < 0)
		log_usage_error("bad value '%s' for %s: file descriptor %d is not open", text,
				opt, fd);
	return fd;
}
