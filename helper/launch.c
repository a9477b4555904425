// SPDX-License-Identifier: MIT
/*
 * launch.c - start netns-tcp-bridge detached for a container runtime, and
 * stop it again from a later, unrelated process.
 *
 * Theory of operation: a runtime's helper (the CNI plugin, the OCI hook)
 * lives for one call.  It forks the launcher into a session of its own,
 * with stdin and stdout on /dev/null (a runtime that waits for its
 * plugin's pipes to close must not wait for the launcher) and stderr on a
 * pipe that the helper reads until the launcher is ready.  The launcher
 * says READY=1 on an inherited datagram socket (NTB_NOTIFY_FD) once both
 * agents serve; a launcher that fails says why on stderr and exits, which
 * closes the pipe.  The helper then records the launcher's pid with its
 * start time (field 22 of /proc/PID/stat): a later call stops a process
 * only if both still match, so a recycled pid is never signalled.
 *
 * Nothing here exits: callers report errors their own way (the CNI plugin
 * as a JSON result on stdout, the hook as one line on stderr and exit 1).
 */
#include "launch.h"
#include "notify.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/**
 * launch_read_small() - read a small file whole, NUL-terminated
 * @dirfd:	directory for a relative @path, or AT_FDCWD
 * @path:	the file; a symlink is refused
 * @buf:	output
 * @size:	its size; at most @size - 1 bytes are read
 *
 * Return: the bytes read, or -1 if it cannot be read.
 */
ssize_t launch_read_small(int dirfd, const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);

	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

/**
 * launch_start_time() - field 22 of /proc/PID/stat, when @pid started
 * @pid:	the process
 *
 * Counted after the last ')': the command name before it may hold spaces
 * and parentheses.
 *
 * Return: the start time in clock ticks since boot, or 0 if @pid is gone.
 */
unsigned long long launch_start_time(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long start = 0;
	int field;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (launch_read_small(AT_FDCWD, path, buf, sizeof(buf)) <= 0 || !(p = strrchr(buf, ')')))
		return 0;
	/* ") S ppid ...": the state is field 3; field 22 is 19 spaces further. */
	for (field = 2; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p + 1, "%llu", &start) != 1)
		return 0;
	return start;
}

/**
 * launch_is_launcher() - is the recorded process still our launcher?
 * @r:		pid and start time as recorded
 *
 * A process that took the pid since has another start time; a launcher
 * that has exited but not been reaped is a zombie and counts as gone.
 *
 * Return: 1 if it is, 0 if not.
 */
int launch_is_launcher(const struct launch_rec *r)
{
	char path[64], buf[1024], *p;

	if (r->pid <= 0 || !r->start || launch_start_time(r->pid) != r->start)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)r->pid);
	if (launch_read_small(AT_FDCWD, path, buf, sizeof(buf)) <= 0 || !(p = strrchr(buf, ')')) ||
	    p[1] != ' ' || p[2] == 'Z' || p[2] == 'X')
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)r->pid);
	return launch_read_small(AT_FDCWD, path, buf, sizeof(buf)) > 0 &&
	       !strncmp(buf, "netns-tcp-brid", 14);
}

/**
 * launch_find() - the launcher's path: next to us (a build tree), or in
 * ../../bin (from $PREFIX/libexec/netns-tcp-bridge or $PREFIX/lib/cni)
 * @path:	output
 * @size:	its size
 *
 * Never from $PATH: a runtime's environment is not ours to trust.
 *
 * Return: 0, or -1 if it is in neither place.
 */
int launch_find(char *path, size_t size)
{
	char self[PATH_MAX];

	util_self_dir(self, sizeof(self));
	if ((size_t)snprintf(path, size, "%s/netns-tcp-bridge", self) < size && access(path, X_OK) == 0)
		return 0;
	if ((size_t)snprintf(path, size, "%s/../../bin/netns-tcp-bridge", self) < size &&
	    access(path, X_OK) == 0)
		return 0;
	snprintf(path, size, "%s", self);
	return -1;
}

/**
 * launch_spawn() - start the launcher, detached
 * @launcher:	its path
 * @argv:	its arguments, NULL-terminated
 * @ready:	the datagram socket it says READY=1 on (inherited as NTB_NOTIFY_FD)
 * @errpipe:	write end of the pipe its stderr goes to
 * @keep:	further fds it inherits under their own numbers (-L sockets)
 * @nkeep:	how many
 *
 * Return: its pid, or -1 with errno set if it could not be forked.
 */
pid_t launch_spawn(const char *launcher, const char *const *argv, int ready, int errpipe,
		   const int *keep, unsigned int nkeep)
{
	char fd_text[16];
	unsigned int i;
	int devnull;
	pid_t pid = fork();

	if (pid)
		return pid;
	/* A session of its own, no terminal, nothing of the runtime's. */
	setsid();
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0 || dup2(devnull, STDIN_FILENO) < 0 || dup2(devnull, STDOUT_FILENO) < 0 ||
	    dup2(errpipe, STDERR_FILENO) < 0)
		_exit(127);
	snprintf(fd_text, sizeof(fd_text), "%d", ready);
	setenv(NOTIFY_FD_ENV, fd_text, 1);
	unsetenv("NOTIFY_SOCKET");
	if (fcntl(ready, F_SETFD, 0))
		_exit(127);
	for (i = 0; i < nkeep; i++)
		if (fcntl(keep[i], F_SETFD, 0))
			_exit(127);
	signal(SIGPIPE, SIG_DFL);
	execv(launcher, (char *const *)argv);
	dprintf(STDERR_FILENO, "cannot start %s: %s\n", launcher, strerror(errno));
	_exit(127);
}

/* How often launch_wait_ready() looks for a launcher that exited. */
#define LAUNCH_EXIT_CHECK_MS	50

/*
 * Read what the launchers wrote to @errpipe, keeping only the first line:
 * up to its newline, or as much of it as @line holds.  What comes after
 * (a second launcher's line, say) is read and dropped, never glued on.
 *
 * Return: what read() returned.
 */
static ssize_t launch_read_line(int errpipe, char *line, size_t size, size_t *len, int *whole)
{
	char drop[512], *nl;
	ssize_t n;

	if (*whole)
		return read(errpipe, drop, sizeof(drop));
	n = read(errpipe, line + *len, size - 1 - *len);
	if (n > 0) {
		*len += (size_t)n;
		line[*len] = '\0';
		nl = strchr(line, '\n');
		if (nl) {
			*nl = '\0';
			*len = (size_t)(nl - line);
		}
		*whole = nl || *len == size - 1;
	}
	return n;
}

/* Has one of @pids exited?  Asked without reaping it: its pid stays ours to kill. */
static int launch_any_exited(const pid_t *pids, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		siginfo_t si = { 0 };

		if (!waitid(P_PID, (id_t)pids[i], &si, WEXITED | WNOHANG | WNOWAIT) && si.si_pid)
			return 1;
	}
	return 0;
}

/**
 * launch_wait_ready() - wait until @want launchers have said READY=1
 * @ready:	our end of their readiness socket (their ends closed)
 * @errpipe:	read end of their stderr pipe (write ends closed), non-blocking
 * @pids:	the launchers, @want of them
 * @want:	how many launchers
 * @deadline:	util_now_ms() time to give up at
 * @late:	what @why says if @deadline passes (each caller names its own
 *		time-out: the CNI plugin "not ready in time", the hook its
 *		limit in ms), followed by the launcher's line if it said one
 * @why:	output: on failure, the first line a launcher wrote, or what
 *		went wrong
 * @whysize:	its size
 *
 * A launcher that exits before all are ready is a failure at once, even
 * while another one still holds the pipe open.
 *
 * Return: 0 once all are ready, -1 if one failed or time ran out.
 */
int launch_wait_ready(int ready, int errpipe, const pid_t *pids, unsigned int want,
		      long long deadline, const char *late, char *why, size_t whysize)
{
	char line[512] = "";
	size_t linelen = 0;
	unsigned int got = 0;
	int whole = 0;

	while (got < want) {
		struct pollfd pfd[2] = { { .fd = ready, .events = POLLIN },
					 { .fd = errpipe, .events = POLLIN } };
		long long left = deadline - util_now_ms();
		char msg[32];
		ssize_t n;

		if (left <= 0 || poll(pfd, 2, left < LAUNCH_EXIT_CHECK_MS ? (int)left : LAUNCH_EXIT_CHECK_MS) < 0) {
			snprintf(why, whysize, "%s%s%s", late, *line ? ": " : "", line);
			return -1;
		}
		if (pfd[0].revents & POLLIN) {
			n = recv(ready, msg, sizeof(msg) - 1, MSG_DONTWAIT);
			if (n > 0) {
				msg[n] = '\0';
				got += !strcmp(msg, "READY=1");
			}
		}
		if (pfd[1].revents & (POLLIN | POLLHUP)) {
			n = launch_read_line(errpipe, line, sizeof(line), &linelen, &whole);
			/* Every launcher gone before saying READY=1: it said why. */
			if (n == 0 && got < want) {
				snprintf(why, whysize, "%s", *line ? line : "the launcher exited");
				return -1;
			}
		}
		if (got < want && launch_any_exited(pids, want)) {
			/* What it wrote before it exited is in the pipe already. */
			while (!whole && launch_read_line(errpipe, line, sizeof(line), &linelen, &whole) > 0)
				;
			snprintf(why, whysize, "%s", *line ? line : "the launcher exited");
			return -1;
		}
	}
	return 0;
}

/**
 * launch_stop() - stop recorded launchers: SIGTERM, then SIGKILL
 * @recs:	the records; entries with pid 0 are skipped
 * @n:		how many
 * @patience_ms: how long they may take to go after SIGTERM
 * @kill_wait_ms: how long to wait, after SIGKILL, for them to be gone (a
 *		runtime that gives its hook 2 s in all needs this short)
 *
 * The launcher passes SIGTERM to its agents and waits for them (0.8 s
 * at most), so the ports are free once it is gone.
 */
void launch_stop(const struct launch_rec *recs, unsigned int n, int patience_ms, int kill_wait_ms)
{
	long long until = util_now_ms() + patience_ms;
	unsigned int i;

	for (i = 0; i < n; i++)
		if (launch_is_launcher(&recs[i]))
			kill(recs[i].pid, SIGTERM);
	for (;;) {
		int alive = 0;

		for (i = 0; i < n; i++)
			alive |= launch_is_launcher(&recs[i]);
		if (!alive)
			return;
		if (util_now_ms() >= until)
			break;
		poll(NULL, 0, 20);
	}
	for (i = 0; i < n; i++)
		if (launch_is_launcher(&recs[i]))
			kill(recs[i].pid, SIGKILL);
	/* Reaped by init once gone; wait a little so the ports are free. */
	until = util_now_ms() + kill_wait_ms;
	for (i = 0; i < n; i++)
		while (launch_is_launcher(&recs[i]) && util_now_ms() < until)
			poll(NULL, 0, 10);
}
