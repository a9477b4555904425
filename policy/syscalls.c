// SPDX-License-Identifier: MIT
/*
 * syscalls.c - the seccomp allowlist of each role, and why each call is in.
 *
 * Every entry names the code that makes the call once the process is
 * serving.  Nothing here opens files: there is no open/openat in any list,
 * so a sandboxed agent cannot reach the filesystem.  A call the C library
 * may make on its own, harmlessly, is listed as ARG_ERRNO so it fails
 * instead of killing the process.
 */
#include "policy.h"

#include <errno.h>
#include <stddef.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Shared by all roles: logging, signals, the event loop, memory. */
#define POLICY_COMMON							\
	{ "write", ARG_ANY, 0, "log_emit(): one line to stderr" },	\
	{ "read", ARG_ANY, 0, "signalfd/eventfd reads in the event loops" }, \
	{ "close", ARG_ANY, 0, "closing finished connections" },	\
	{ "exit_group", ARG_ANY, 0, "exit() at the end" },		\
	{ "exit", ARG_ANY, 0, "thread exit" },				\
	{ "rt_sigreturn", ARG_ANY, 0, "return from a signal handler" },	\
	{ "rt_sigprocmask", ARG_ANY, 0, "glibc around pthread and exit" }, \
	{ "restart_syscall", ARG_ANY, 0, "kernel restart of interrupted calls" }, \
	{ "clock_gettime", ARG_ANY, 0, "time-outs (vDSO fallback)" },	\
	{ "epoll_wait", ARG_ANY, 0, "event loop" },			\
	{ "epoll_pwait", ARG_ANY, 0, "event loop (glibc on some arches)" }, \
	{ "epoll_ctl", ARG_ANY, 0, "event loop registration" },		\
	{ "brk", ARG_ANY, 0, "malloc of connection state" },		\
	{ "mmap", ARG_NO_EXEC, 0, "malloc of large blocks; no executable mappings" }, \
	{ "munmap", ARG_ANY, 0, "free of large blocks" },		\
	{ "futex", ARG_ANY, 0, "glibc locks" },				\
	{ "getpid", ARG_ANY, 0, "abort(): raise SIGABRT, so a failed assert reads as one" }, \
	{ "gettid", ARG_ANY, 0, "abort(): raise SIGABRT" },		\
	{ "tgkill", ARG_ANY, 0, "abort(): raise SIGABRT" }

static const struct policy_syscall listen_calls[] = {
	POLICY_COMMON,
	{ "accept4", ARG_ANY, 0, "listen_accept(): take clients off the listening socket" },
	{ "sendmsg", ARG_ANY, 0, "fdpass_send(): hand a client to ntb-connect" },
	{ "recvmsg", ARG_ANY, 0, "listen_rdv_event(): notice the peer going away" },
	{ "getsockname", ARG_ANY, 0, "listen_handoff(): address the client connected to" },
	{ "getpeername", ARG_ANY, 0, "listen_handoff(): client address" },
	{ "setsockopt", ARG_ANY, 0, "SO_LINGER 0 to reset a client we cannot serve" },
	{ "dup", ARG_ANY, 0, "listen_accept(): re-arm the spare fd kept for EMFILE" },
};

static const struct policy_syscall connect_calls[] = {
	POLICY_COMMON,
	{ "recvmsg", ARG_ANY, 0, "fdpass_recv(): clients from ntb-listen" },
	{ "sendmsg", ARG_ANY, 0, "rdv_hello_send(): answer a new peer's HELLO" },
	{ "accept4", ARG_ANY, 0, "rdv_accept(): ntb-listen peers on @name or /path" },
	{ "getsockopt", ARG_ANY, 0, "SO_PEERCRED of peers, SO_ERROR of connects, SO_TYPE of fds" },
	{ "setsockopt", ARG_ANY, 0, "TCP_NODELAY, SO_LINGER 0 to pass resets on" },
	{ "socket", ARG_INET_ONLY, 0, "relay_begin(): the socket to the target, TCP only" },
	{ "connect", ARG_ANY, 0, "relay_begin(): non-blocking connect to the target" },
	{ "shutdown", ARG_ANY, 0, "relay: pass a FIN on as SHUT_WR" },
	{ "splice", ARG_ANY, 0, "relay: socket -> pipe -> socket" },
	{ "pipe2", ARG_ANY, 0, "relay pipe pool" },
	{ "fcntl", ARG_ANY, 0, "F_SETPIPE_SZ on new pipes, O_NONBLOCK on received fds" },
	{ "clone", ARG_THREAD_ONLY, 0, "pthread_create() of relay workers: threads only" },
	{ "clone3", ARG_ERRNO, ENOSYS, "glibc tries clone3 first; ENOSYS makes it use clone" },
	{ "mprotect", ARG_NO_EXEC, 0, "pthread_create(): stack guard page" },
	{ "madvise", ARG_ERRNO, EPERM, "glibc free() may hint unused memory away; a hint can fail" },
	{ "set_robust_list", ARG_ANY, 0, "new thread start-up in glibc" },
	{ "rseq", ARG_ANY, 0, "new thread start-up in glibc" },
	{ "rt_sigaction", ARG_ANY, 0, "first pthread_create() installs glibc's internal handlers" },
};

static const struct policy_syscall launcher_calls[] = {
	POLICY_COMMON,
	{ "wait4", ARG_ANY, 0, "bridge_reap(): collect agent exit status" },
	{ "waitid", ARG_ANY, 0, "bridge_reap(): collect agent exit status" },
	{ "kill", ARG_ANY, 0, "bridge_stop_all(): stop the surviving agent" },
};

/**
 * policy_syscalls() - the allowlist of a role
 * @role:	the role
 * @n:		number of entries
 *
 * Return: the table.
 */
const struct policy_syscall *policy_syscalls(enum policy_role role, unsigned int *n)
{
	switch (role) {
	case POLICY_LISTEN:
		*n = N(listen_calls);
		return listen_calls;
	case POLICY_CONNECT:
		*n = N(connect_calls);
		return connect_calls;
	case POLICY_LAUNCHER:
		break;
	}
	*n = N(launcher_calls);
	return launcher_calls;
}
