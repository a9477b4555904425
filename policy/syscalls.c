// SPDX-License-Identifier: MIT
/*
 * syscalls.c - the seccomp allowlist of each role, and why each call is in.
 *
 * Every entry names the functions that make the call once the process is
 * serving, as "name():", and each of those functions carries a line
 * "syscalls: ..." naming the call in the comment above it (passt's
 * habit).  tests/tools/syscall_tags.py holds the two against each other
 * in `make check`: a reason that names a function which no longer makes
 * the call fails, and so does a tag in a role's own files that no entry
 * allows.  Entries made by the C library or the kernel on their own say
 * "glibc" or "kernel" instead of a function.
 *
 * Nothing here opens files: there is no open/openat in any list, so a
 * sandboxed agent cannot reach the filesystem.  A call the C library may
 * make on its own, harmlessly, is listed as ARG_ERRNO so it fails instead
 * of killing the process.
 */
#include "policy.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <sys/socket.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define VALS(a) .vals = (a), .nvals = N(a)

/* setsockopt/getsockopt: (level, option) pairs; fcntl: commands. */
static const int listen_setsockopt[] = { SOL_SOCKET, SO_LINGER };
static const int listen_getsockopt[] = { SOL_SOCKET, SO_PEERCRED };
static const int listen_fcntl[] = { F_SETFL };
static const int connect_setsockopt[] = {
	IPPROTO_TCP, TCP_NODELAY, SOL_SOCKET, SO_LINGER, SOL_SOCKET, SO_KEEPALIVE,
	IPPROTO_TCP, TCP_KEEPIDLE, IPPROTO_TCP, TCP_KEEPINTVL, IPPROTO_TCP, TCP_KEEPCNT,
};
static const int connect_getsockopt[] = {
	SOL_SOCKET, SO_PEERCRED, SOL_SOCKET, SO_ERROR, SOL_SOCKET, SO_DOMAIN,
	SOL_SOCKET, SO_TYPE, SOL_SOCKET, SO_PROTOCOL, IPPROTO_TCP, TCP_INFO,
};
static const int connect_fcntl[] = { F_SETFL, F_SETPIPE_SZ, F_GETPIPE_SZ };
static const int transparent_setsockopt[] = {
	SOL_IP, IP_TRANSPARENT, SOL_IPV6, IPV6_TRANSPARENT,
};

/* What glibc and the kernel do on their own in every role. */
#define POLICY_LIBC							\
	{ "exit_group", ARG_ANY, 0, "glibc exit() and _exit() at the end" }, \
	{ "rt_sigreturn", ARG_ANY, 0, "kernel: return from a signal handler" }, \
	{ "rt_sigprocmask", ARG_ANY, 0, "glibc around exit() and abort()" }, \
	{ "restart_syscall", ARG_ANY, 0, "kernel: restart of an interrupted call" }, \
	{ "brk", ARG_ANY, 0, "glibc malloc()" },			\
	{ "mmap", ARG_NO_EXEC, 0, "glibc malloc() of large blocks; no executable mappings" }, \
	{ "munmap", ARG_ANY, 0, "glibc free() of large blocks" },	\
	{ "futex", ARG_ANY, 0, "glibc locks" },				\
	{ "gettid", ARG_ANY, 0, "glibc abort() raises SIGABRT" }

/* abort() in the roles without a watchdog. */
#define POLICY_ABORT							\
	{ "getpid", ARG_ANY, 0, "glibc abort() raises SIGABRT" },	\
	{ "tgkill", ARG_SELF, 0, "glibc abort() raises SIGABRT" }

static const struct policy_syscall listen_calls[] = {
	POLICY_LIBC,
	POLICY_ABORT,
	{ "write", ARG_ANY, 0, "log_emit(), log_limit_pass(), notify_send(): one line to stderr; READY=1 to the service manager" },
	{ "clock_gettime", ARG_ANY, 0, "util_now_ms(), log_limit_pass(): time-outs (vDSO fallback)" },
	{ "epoll_wait", ARG_ANY, 0, "main(): the event loop" },
	{ "epoll_pwait", ARG_ANY, 0, "main(): the event loop (glibc on some arches)" },
	{ "epoll_ctl", ARG_ANY, 0, "listen_pause(), listen_watch_one(), util_epoll_add(), listen_peer_lost(), listen_greet_failed(): pause and resume accepting; leave the listeners to ntb-connect; the rendezvous" },
	{ "accept4", ARG_ANY, 0, "listen_accept4(): take clients off the listening socket" },
	{ "setitimer", ARG_ANY, 0, "listen_accept4(): a one-second alarm on accept4() from a listening socket that was lent" },
	{ "sendmsg", ARG_ANY, 0, "fdpass_send(), listen_lend(): hand a client or a listening socket to ntb-connect; HELLO after a reconnect" },
	{ "shutdown", ARG_ANY, 0, "listen_signal(): stop our listening sockets in ntb-connect's hands too" },
	{ "recvmsg", ARG_ANY, 0, "fdpass_recv(), listen_pending_read(): notice the peer going away; a client's PROXY header" },
	{ "getsockname", ARG_ANY, 0, "listen_handoff(): address the client connected to" },
	{ "getpeername", ARG_ANY, 0, "listen_handoff(): client address" },
	{ "setsockopt", ARG_VALUES2, 0, "util_reset_close(): SO_LINGER 0 to reset a client we cannot serve",
	  VALS(listen_setsockopt) },
	{ "dup", ARG_ANY, 0, "listen_shed(), listen_resume(), main(): the spare fd kept for EMFILE" },
	{ "close", ARG_ANY, 0, "listen_handoff(), listen_shed(), fdpass_close_all(), listen_peer_lost(), listen_reconnect(), listen_greet_failed(): our copy of a client; a lost rendezvous" },
	{ "read", ARG_ANY, 0, "listen_signal(): signalfd reads" },
	{ "connect", ARG_CONNECT_FDS, 0, "listen_reconnect(): reach ntb-connect again with a spare unix socket made before joining the namespace" },
	{ "getsockopt", ARG_VALUES2, 0, "rdv_check_peer(): SO_PEERCRED of a reconnected ntb-connect",
	  VALS(listen_getsockopt) },
	{ "fcntl", ARG_VALUES1, 0, "listen_reconnect(), listen_nonblock_again(): F_SETFL to make the reconnected rendezvous blocking, and a listening socket given back, left by a lost peer, or made blocking by it, non-blocking again",
	  VALS(listen_fcntl) },
};

static const struct policy_syscall connect_calls[] = {
	POLICY_LIBC,
	{ "write", ARG_ANY, 0, "log_emit(), log_limit_pass(), relay_count_drop(), relay_hand(), listener_post(), listener_unwatch(), relay_listener_give_up(), notify_send(), relay_established(), relay_small(): log lines, eventfd wake-ups, READY=1, the PROXY header, what the target did not take of a small read (into a pipe)" },
	{ "read", ARG_ANY, 0, "connect_serve(), relay_take_incoming(): signalfd and eventfd reads" },
	{ "close", ARG_ANY, 0, "conn_end(), relay_pipe_put(), util_abort_close(), peer_drop(), peer_add(), listener_close(), relay_accept(), relay_accept_shed(): finished connections, peers and listening sockets; the spare pipe given up when out of fds" },
	{ "exit", ARG_ANY, 0, "glibc: a thread's exit" },
	{ "clock_gettime", ARG_ANY, 0, "util_now_ms(), log_limit_pass(): time-outs (vDSO fallback)" },
	{ "clock_nanosleep", ARG_ANY, 0, "guard_watch(): the watchdog's tick" },
	{ "epoll_wait", ARG_ANY, 0, "connect_serve(), relay_poll(): the event loops" },
	{ "epoll_pwait", ARG_ANY, 0, "connect_serve(), relay_poll(): the event loops (glibc on some arches)" },
	{ "epoll_ctl", ARG_ANY, 0, "relay_watch(), relay_rearm(), conn_end(), peer_add(), peer_drop(), rdv_pause(), util_epoll_add(), listener_epoll(): registration" },
	{ "recvmsg", ARG_ANY, 0, "fdpass_recv(), fdpass_at_eof(), route_is_local(): clients from ntb-listen; end of a peer; the kernel's route for a destination (--connect-original)" },
	{ "sendmsg", ARG_ANY, 0, "fdpass_send(), peer_give_back(), route_is_local(): answer a new peer's HELLO; give a listening socket back (LISTENER_BACK); ask the kernel whether a destination is local (--connect-original)" },
	{ "accept4", ARG_ANY, 0, "rdv_accept(), relay_accept(), relay_accept_shed(): ntb-listen peers on @name or /path; clients on its handed-over listening sockets" },
	{ "getsockname", ARG_ANY, 0, "relay_accept(): the address a client connected to, for --proxy-protocol" },
	{ "getsockopt", ARG_VALUES2, 0, "rdv_check_peer(), relay_sock_error(), util_is_tcp_socket(): SO_PEERCRED, SO_ERROR, SO_DOMAIN, SO_TYPE, SO_PROTOCOL, TCP_INFO",
	  VALS(connect_getsockopt) },
	{ "setsockopt", ARG_VALUES2, 0, "relay_established(), relay_arm_reset(), relay_keepalive(), util_linger_off(), listener_close(): TCP_NODELAY, SO_LINGER (reset unless ended cleanly; no lingering close of a listening socket), keepalive",
	  VALS(connect_setsockopt) },
	{ "socket", ARG_TCP_ONLY, 0, "relay_begin(): the socket to the target, TCP only" },
	{ "connect", ARG_ANY, 0, "relay_begin(), util_abort_close(): connect to the target; disconnect to reset" },
	{ "shutdown", ARG_ANY, 0, "relay_move(): pass a FIN on as SHUT_WR" },
	{ "splice", ARG_ANY, 0, "relay_move(): socket -> pipe -> socket" },
	{ "recvfrom", ARG_ANY, 0, "relay_small(): a direction that carries little reads into a small buffer" },
	{ "sendto", ARG_ANY, 0, "relay_small(): and sends from it" },
	{ "pipe2", ARG_ANY, 0, "pipe_get(), relay_spare_make(): pipes for the relay; a spare pipe per worker for running out of fds" },
	{ "fcntl", ARG_VALUES1, 0, "pipe_get(), relay_move(), relay_begin(), peer_listener(): F_SETPIPE_SZ on new pipes and on those of bulk directions, F_GETPIPE_SZ where that was refused, F_SETFL O_NONBLOCK on received sockets",
	  VALS(connect_fcntl) },
	{ "clone", ARG_THREAD_ONLY, 0, "relay_start(), guard_start(): pthread_create() of workers and the watchdog: threads only" },
	{ "clone3", ARG_ERRNO, ENOSYS, "glibc pthread_create() tries clone3 first; ENOSYS makes it use clone" },
	{ "mprotect", ARG_NO_EXEC, 0, "glibc pthread_create() stack guard page, malloc() arenas" },
	{ "madvise", ARG_ERRNO, EPERM, "glibc free() may hint unused memory away; a hint can fail" },
	{ "set_robust_list", ARG_ANY, 0, "glibc: new thread start-up" },
	{ "rseq", ARG_ANY, 0, "glibc: new thread start-up" },
	{ "rt_sigaction", ARG_ANY, 0, "glibc: the first pthread_create() installs its internal handlers" },
	{ "tgkill", ARG_SELF, 0, "guard_watch(): pthread_kill() SIGURG to a thread held by a peer's socket; glibc abort()" },
	{ "getpid", ARG_ANY, 0, "guard_watch(): pthread_kill() names the process; glibc abort()" },
};

static const struct policy_syscall launcher_calls[] = {
	POLICY_LIBC,
	POLICY_ABORT,
	{ "close", ARG_ANY, 0, "glibc exit() closes stdio" },
	{ "write", ARG_ANY, 0, "log_emit(), notify_send(): one line to stderr; READY=1 to the service manager" },
	{ "read", ARG_ANY, 0, "bridge_supervise(), bridge_readiness(): signalfd reads, agents' READY=1" },
	{ "clock_gettime", ARG_ANY, 0, "util_now_ms(): the kill deadline (vDSO fallback)" },
	{ "epoll_wait", ARG_ANY, 0, "bridge_supervise(): wait for signals" },
	{ "epoll_pwait", ARG_ANY, 0, "bridge_supervise(): wait for signals (glibc on some arches)" },
	{ "wait4", ARG_ANY, 0, "bridge_reap(): collect agent exit status" },
	{ "waitid", ARG_ANY, 0, "bridge_reap(): collect agent exit status (glibc on some arches)" },
	{ "kill", ARG_KILL_PIDS, 0, "bridge_stop_all(), bridge_signal(): pass a stop or SIGUSR1 on to the agents" },
};

/* ntb-connect --transparent-source, on top of connect_calls. */
static const struct policy_syscall transparent_calls[] = {
	{ "setsockopt", ARG_VALUES2, 0, "relay_transparent(): IP_TRANSPARENT, IPV6_TRANSPARENT on the target socket (--transparent-source)",
	  VALS(transparent_setsockopt) },
	{ "bind", ARG_ANY, 0, "relay_transparent(): the target socket takes the client's address (--transparent-source)" },
};

/**
 * policy_mode_syscalls() - calls a role's options add to its allowlist
 * @p:		the policy
 * @n:		number of entries
 *
 * Return: the table (empty unless an option needs more).
 */
const struct policy_syscall *policy_mode_syscalls(const struct policy *p, unsigned int *n)
{
	*n = p->role == POLICY_CONNECT && p->transparent ? N(transparent_calls) : 0;
	return transparent_calls;
}

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
