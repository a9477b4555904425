// SPDX-License-Identifier: MIT
/*
 * sandbox_probe - install a role's policy through policy/ and try one call.
 *
 * Usage: sandbox_probe ROLE CALL [log]
 * Exit: 0 the call worked, 10 it failed with an errno (printed), killed by
 * SIGSYS when the filter kills it.  tests/integration/40-sandbox.sh runs it
 * for every call that must be refused and some that must work.
 */
#include "policy.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static void *thread_main(void *arg)
{
	return arg;
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
	if (!strcmp(call, "thread")) {
		pthread_t t;
		int rc = pthread_create(&t, NULL, thread_main, NULL);

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
	policy_apply(&p);
	rc = try_call(argv[2]);
	if (rc < 0) {
		fprintf(stderr, "sandbox_probe: %s: %s\n", argv[2], strerror(errno));
		return 10;
	}
	return 0;
}
