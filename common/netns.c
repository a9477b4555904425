// SPDX-License-Identifier: MIT
/*
 * netns.c - name, open, check and join a network namespace.
 *
 * The NS forms are a path, pid:N, name:NAME and fd:N.  Every fd is
 * checked with NS_GET_NSTYPE before setns(2): setns(fd, CLONE_NEWNET) on
 * a mount or user namespace fails with a bare EINVAL, which would tell
 * the user nothing.
 */
#include "netns.h"
#include "addr.h"
#include "log.h"

#include <bsd/string.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/**
 * netns_spec_parse() - split an NS argument into its form (no I/O)
 * @text:	the argument
 * @out:	kind and path or fd
 * @why:	on failure, what is wrong
 *
 * Return: 0, or -1 if @text is not one of the forms.
 */
int netns_spec_parse(const char *text, struct netns_spec *out, const char **why)
{
	long long v;
	int n;

	memset(out, 0, sizeof(*out));
	n = addr_parse_fd_form(text, "empty namespace", &out->fd, why);
	if (n) {
		out->kind = NETNS_FD;
		return n > 0 ? 0 : -1;
	}
	out->kind = NETNS_PATH;
	if (!strncmp(text, "pid:", 4)) {
		if (addr_parse_uint(text + 4, 0x7fffffff, &v) || v == 0) {
			*why = "pid: needs a process id";
			return -1;
		}
		snprintf(out->path, sizeof(out->path), "/proc/%lld/ns/net", v);
		return 0;
	}
	if (!strncmp(text, "name:", 5)) {
		const char *name = text + 5;

		/* A name must not climb out of /run/netns. */
		if (!*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..")) {
			*why = "name: needs a name as listed by 'ip netns'";
			return -1;
		}
		if ((size_t)snprintf(out->path, sizeof(out->path), "/run/netns/%s", name) >=
		    sizeof(out->path)) {
			*why = "name too long";
			return -1;
		}
		return 0;
	}
	if (strlcpy(out->path, text, sizeof(out->path)) >= sizeof(out->path)) {
		*why = "path too long";
		return -1;
	}
	return 0;
}

/**
 * netns_check() - make sure @fd is a network namespace
 * @fd:		the fd
 * @what:	how the user named it, for the message
 *
 * Return: 0 if it is; otherwise logs one line and returns -1.
 */
int netns_check(int fd, const char *what)
{
	int type = ioctl(fd, NS_GET_NSTYPE);

	if (type < 0) {
		if (errno == ENOTTY || errno == EINVAL)
			log_warn("cannot use namespace %s: not a namespace file", what);
		else
			log_warn_errno(errno, "cannot use namespace %s", what);
		return -1;
	}
	if (type != CLONE_NEWNET) {
		log_warn("cannot use namespace %s: it is a namespace, but not a network namespace",
			 what);
		return -1;
	}
	return 0;
}

/**
 * netns_open() - open an NS argument and check it, or exit
 * @text:	the argument (already validated with netns_spec_parse())
 *
 * Return: a CLOEXEC fd of a network namespace.  Exits 1 on failure.
 */
int netns_open(const char *text)
{
	struct netns_spec spec;
	const char *why;
	int fd;

	if (netns_spec_parse(text, &spec, &why))
		log_usage_error("bad namespace '%s': %s", text, why);
	if (spec.kind == NETNS_FD) {
		if (fcntl(spec.fd, F_GETFD) < 0)
			log_die_errno(errno, "cannot use namespace %s", text);
		fd = spec.fd;
		/* The inherited fd must not reach anything we exec. */
		if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
			log_die_errno(errno, "cannot use namespace %s", text);
	} else {
		/* O_NONBLOCK: a FIFO at the path must not hold us in open(). */
		fd = open(spec.path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
		if (fd < 0)
			log_die_errno(errno, "cannot open namespace %s", spec.path);
	}
	if (netns_check(fd, text))
		_exit(1);
	return fd;
}

/**
 * netns_join() - setns() into the network namespace @fd, or exit
 * @fd:		checked network namespace fd
 * @what:	how the user named it
 *
 * If plain setns() is refused and the namespace belongs to a user
 * namespace we are not in, join that user namespace first: as its owner
 * we then hold CAP_SYS_ADMIN over the network namespace.  Must run while
 * the process is single-threaded (setns to a user namespace requires it).
 *
 * Return: 1 if the owning user namespace was joined too, else 0.
 */
int netns_join(int fd, const char *what)
{
	int err, userns;

	if (!setns(fd, CLONE_NEWNET))
		return 0;
	err = errno;
	if (err != EPERM)
		log_die_errno(err, "cannot join network namespace %s", what);

	userns = ioctl(fd, NS_GET_USERNS);
	if (userns < 0)
		log_die_errno(err, "cannot join network namespace %s", what);
	if (setns(userns, CLONE_NEWUSER)) {
		close(userns);
		log_die_errno(err, "cannot join network namespace %s", what);
	}
	close(userns);
	if (setns(fd, CLONE_NEWNET))
		log_die_errno(errno, "cannot join network namespace %s (after joining its user namespace)",
			      what);
	log_info("joined the user namespace that owns %s", what);
	return 1;
}
