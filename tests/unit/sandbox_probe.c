// SPDX-License-Identifier: MIT
/*
 * sandbox_probe - install a role's policy through policy/ and try one call.
 *
 * Usage: sandbox_probe ROLE CALL [log]
 * Exit: 0 the call worked, 10 it failed with an errno (printed), killed by
 * SIGSYS when the filter kills it.  tests/integration/40-sandbox.sh runs it
 * for every call that must be refused and some that must work.
 *
 * As the agents do, the probe gives the policy what it pins calls to: a
 * spare unix socket (ntb-listen's connect()), made before the sandbox
 * beside another one that is not a spare; and for kill-child, a child
 * (the launcher's agents).
 */
#include "policy.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <netinet/in.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

static int spare_fd = -1, other_fd = -1;
static pid_t child = -1, parent;	/* parent: read before the filter (no getppid) */

static void *thread_main(void *arg)
{
	return arg;
}

/*
 * Grow a thread's malloc arena by a few MiB and free it all, as a worker
 * does after a burst of connections: glibc then trims the arena's heap,
 * and the first trim reads /proc/sys/vm/overcommit_memory unless the
 * policy stopped trimming.
 */
static void *thread_heap_trim(void *arg)
{
	void *blocks[256];
	int i;

	for (i = 0; i < 256; i++)
		blocks[i] = malloc(32 * 1024);
	for (i = 255; i >= 0; i--)
		free(blocks[i]);
	return arg;
}

/* Make a socket, close it: 0 if it could be made. */
static long try_socket(int family, int type, int protocol)
{
	long fd = socket(family, type, protocol);

	if (fd >= 0)
		close((int)fd);
	return fd < 0 ? -1 : 0;
}

/* connect() a unix socket to a name nobody binds: ECONNREFUSED if allowed. */
static long try_connect(int fd)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	memcpy(sun.sun_path, "\0ntb-probe-nobody", 17);
	return connect(fd, (struct sockaddr *)&sun,
		       (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 17));
}

static long try_call(const char *call)
{
	if (!strcmp(call, "execve")) {
		char *argv[] = { "/bin/true", NULL };

		return execve("/bin/true", argv, NULL);
	}
	if (!strcmp(call, "openat"))
		return syscall(SYS_openat, AT_FDCWD, "/etc/passwd", O_RDONLY);
	if (!strcmp(call, "ptrace"))
		return ptrace(PTRACE_TRACEME, 0, NULL, NULL);
	if (!strcmp(call, "socket-inet")) {
		long fd = socket(AF_INET, SOCK_STREAM, 0);

		if (fd >= 0)
			close((int)fd);
		return fd < 0 ? -1 : 0;
	}
	if (!strcmp(call, "socket-unix"))
		return socket(AF_UNIX, SOCK_STREAM, 0);
	if (!strcmp(call, "socket-tcp6-flags"))
		return try_socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	if (!strcmp(call, "socket-udp"))
		return try_socket(AF_INET, SOCK_DGRAM, 0);
	if (!strcmp(call, "socket-udp6"))
		return try_socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP);
	if (!strcmp(call, "socket-raw"))
		return try_socket(AF_INET, SOCK_RAW, IPPROTO_UDP);
	if (!strcmp(call, "socket-sctp"))
		return try_socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP);
	if (!strcmp(call, "socket-mptcp"))
		return try_socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP);
	if (!strcmp(call, "kill-other"))
		return kill(parent, 0);
	if (!strcmp(call, "kill-group"))
		return kill(0, 0);
	if (!strcmp(call, "kill-child")) {
		long rc = kill(child, SIGKILL);

		if (!rc)
			waitpid(child, NULL, 0);
		return rc;
	}
	if (!strcmp(call, "tgkill-self"))
		return syscall(SYS_tgkill, getpid(), gettid(), 0);
	if (!strcmp(call, "tgkill-other"))
		return syscall(SYS_tgkill, parent, parent, 0);
	if (!strcmp(call, "connect-spare"))
		return try_connect(spare_fd);
	if (!strcmp(call, "connect-other"))
		return try_connect(other_fd);
	if (!strcmp(call, "mount"))
		return mount("none", "/mnt", "tmpfs", 0, NULL);
	if (!strcmp(call, "setns"))
		return setns(0, CLONE_NEWNET);
	if (!strcmp(call, "fork")) {
		long pid = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);

		if (pid == 0)
			_exit(0);
		return pid > 0 ? 0 : -1;
	}
	if (!strcmp(call, "mmap-exec"))
		return mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) ==
		       MAP_FAILED ? -1 : 0;
	if (!strcmp(call, "clone3"))
		return syscall(SYS_clone3, NULL, 0);
	if (!strcmp(call, "write"))
		return write(STDERR_FILENO, "", 0);
	if (!strcmp(call, "thread") || !strcmp(call, "thread-heap-trim")) {
		pthread_t t;
		int rc = pthread_create(&t, NULL, strcmp(call, "thread") ? thread_heap_trim : thread_main,
					NULL);

		if (rc) {
			errno = rc;
			return -1;
		}
		return pthread_join(t, NULL) ? -1 : 0;
	}
	fprintf(stderr, "sandbox_probe: unknown call '%s'\n", call);
	exit(2);
}

int main(int argc, char **argv)
{
	struct policy p = { 0 };
	int keep[4];
	long rc;

	if (argc != 3 && !(argc == 4 && !strcmp(argv[3], "log"))) {
		fprintf(stderr, "usage: sandbox_probe listen|connect|launcher CALL [log]\n");
		return 2;
	}
	if (!strcmp(argv[1], "listen")) {
		p.role = POLICY_LISTEN;
	} else if (!strcmp(argv[1], "connect")) {
		p.role = POLICY_CONNECT;
		p.threads = 1;
	} else if (!strcmp(argv[1], "launcher")) {
		p.role = POLICY_LAUNCHER;
	} else {
		fprintf(stderr, "sandbox_probe: unknown role '%s'\n", argv[1]);
		return 2;
	}
	p.seccomp_log = argc == 4;
	parent = getppid();
	p.keep_fds = keep;
	p.keep_cap = sizeof(keep) / sizeof(keep[0]);
	spare_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	other_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (spare_fd < 0 || other_fd < 0) {
		perror("sandbox_probe: socket");
		return 2;
	}
	policy_keep_fd(&p, spare_fd);
	policy_keep_fd(&p, other_fd);
	p.connect_fds = &spare_fd;
	p.n_connect_fds = 1;
	if (!strcmp(argv[2], "kill-child")) {
		child = fork();
		if (child < 0) {
			perror("sandbox_probe: fork");
			return 2;
		}
		if (!child) {
			/* Ends with the probe, whatever the filter does to it. */
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() == 1)
				_exit(0);
			pause();
			_exit(0);
		}
		p.kill_pids = &child;
		p.n_kill_pids = 1;
	}
	policy_apply(&p);
	rc = try_call(argv[2]);
	if (rc < 0) {
		fprintf(stderr, "sandbox_probe: %s: %s\n", argv[2], strerror(errno));
		return 10;
	}
	return 0;
}
