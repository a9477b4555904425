// SPDX-License-Identifier: MIT
/*
 * notify.c - tell a service manager when we are ready and when we stop.
 *
 * Theory of operation: systemd's protocol is one datagram per state
 * ("READY=1", "STOPPING=1") on the unix socket named by NOTIFY_SOCKET.
 * The socket is connected once, at start: before the sandbox (which has
 * no socket() or connect()) and before joining a namespace (an abstract
 * NOTIFY_SOCKET belongs to the network namespace we were started in).
 * Sending is then a write(2).  Under the launcher, NOTIFY_SOCKET is for
 * the launcher alone; it gives each agent an inherited datagram socket in
 * NTB_NOTIFY_FD instead, and says READY=1 itself once both agents have.
 */
#include "notify.h"
#include "addr.h"
#include "log.h"

#include <bsd/string.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/**
 * notify_open() - the readiness channel, if there is one, or exit
 *
 * Both variables are removed from the environment: nothing we start
 * should talk to our service manager.
 *
 * Return: a connected CLOEXEC datagram socket, or -1 for none.
 */
int notify_open(void)
{
	const char *path = getenv("NOTIFY_SOCKET"), *inherited = getenv(NOTIFY_FD_ENV);
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	socklen_t len;
	int fd = -1, type = 0;

	if (inherited) {
		socklen_t tlen = sizeof(type);

		if (addr_parse_fd(inherited, &fd) ||
		    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) || type != SOCK_DGRAM ||
		    fcntl(fd, F_SETFD, FD_CLOEXEC))
			log_die("cannot use %s=%s: not an inherited datagram socket", NOTIFY_FD_ENV,
				inherited);
		unsetenv(NOTIFY_FD_ENV);
		unsetenv("NOTIFY_SOCKET");
		return fd;
	}
	if (!path || !*path)
		return -1;
	if ((path[0] != '/' && path[0] != '@') || strlen(path) >= sizeof(sun.sun_path))
		log_die("cannot use NOTIFY_SOCKET=%s: not a socket path or @name", path);
	strlcpy(sun.sun_path, path, sizeof(sun.sun_path));
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	if (path[0] == '@')
		sun.sun_path[0] = '\0';
	else
		len++;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, len))
		log_die_errno(errno, "cannot connect to NOTIFY_SOCKET %s", path);
	unsetenv("NOTIFY_SOCKET");
	return fd;
}

/**
 * notify_send() - send one state line, if there is a channel
 * @fd:		from notify_open(), or -1
 * @state:	"READY=1", "STOPPING=1", ...
 *
 * A manager that went away is no reason to stop serving: failures are
 * logged at debug level only.
 *
 * syscalls: write
 */
void notify_send(int fd, const char *state)
{
	if (fd >= 0 && write(fd, state, strlen(state)) < 0)
		log_debug("cannot send %s to the service manager", state);
}

/**
 * notify_listen_fds() - take the listening sockets of socket activation
 * @fds:	where to put them
 * @max:	room in @fds
 *
 * systemd passes them from fd 3 on, LISTEN_FDS of them, for the process
 * LISTEN_PID.  The variables are removed either way.
 *
 * Return: how many (0: not socket-activated), or -1 if the variables are
 * malformed or name more than @max.
 */
int notify_listen_fds(int *fds, unsigned int max)
{
	const char *pid_text = getenv("LISTEN_PID"), *n_text = getenv("LISTEN_FDS");
	long long pid, n;
	int i;

	if (!pid_text || !n_text)
		return 0;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (addr_parse_uint(pid_text, 0x7fffffff, &pid) || addr_parse_uint(n_text, max, &n))
		return -1;
	/* Meant for another process (one that exec'd us without cleaning up). */
	if (pid != getpid())
		return 0;
	for (i = 0; i < n; i++)
		fds[i] = 3 + i;
	return (int)n;
}
