// SPDX-License-Identifier: MIT
/*
 * rendezvous.c - the unix socket between ntb-listen and ntb-connect.
 *
 * Theory of operation: ntb-connect owns the rendezvous (it binds an
 * abstract name or a socket file, or inherits one end of a socketpair);
 * ntb-listen connects, retrying until a deadline, so either may start
 * first.  All sockets are SOCK_SEQPACKET: one record per packet, and an
 * fd attached to a packet cannot slide onto the next record.
 *
 * Abstract sockets have no permissions and live in the network namespace
 * they were created in; SO_PEERCRED, checked on both sides, is what keeps
 * a stranger in that namespace from stealing or injecting connections.
 */
#include "rendezvous.h"
#include "addr.h"
#include "fdpass.h"
#include "log.h"
#include "util.h"

#include <bsd/string.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/**
 * rdv_parse() - split a rendezvous argument into its form (no I/O)
 * @text:	fd:N, @name or a path
 * @out:	the parsed form
 * @why:	on failure, what is wrong
 *
 * Return: 0, or -1.
 */
int rdv_parse(const char *text, struct rdv_spec *out, const char **why)
{
	int n;

	memset(out, 0, sizeof(*out));
	n = addr_parse_fd_form(text, "empty rendezvous", &out->fd, why);
	if (n) {
		out->kind = RDV_FD;
		return n > 0 ? 0 : -1;
	}
	if (text[0] == '@') {
		if (!text[1]) {
			*why = "@ needs a name";
			return -1;
		}
		/* sun_path holds 108 bytes, the first is the NUL. */
		if (strlcpy(out->name, text + 1, sizeof(out->name)) >= sizeof(out->name) - 1) {
			*why = "abstract name longer than 106 bytes";
			return -1;
		}
		out->kind = RDV_ABSTRACT;
		return 0;
	}
	if (text[0] == '/' || text[0] == '.') {
		if (strlcpy(out->name, text, sizeof(out->name)) >= sizeof(out->name)) {
			*why = "socket path longer than 107 bytes";
			return -1;
		}
		out->kind = RDV_PATH;
		return 0;
	}
	*why = "expected fd:N, @name or a path starting with / or .";
	return -1;
}

/**
 * rdv_acl_init() - start the list of allowed peers with our own uid
 * @acl:	the list
 *
 * Taken once at start-up: the sandbox has no getuid(), and a later
 * --user switch must not widen who may connect.
 */
void rdv_acl_init(struct rdv_acl *acl)
{
	acl->uids[0] = getuid();
	acl->n = 1;
}

/**
 * rdv_acl_add() - allow a peer uid, given as a number or a user name
 * @acl:	the list
 * @text:	uid or name
 *
 * Return: 0, or -1 if the user is unknown or the list is full.
 */
int rdv_acl_add(struct rdv_acl *acl, const char *text)
{
	struct passwd *pw;
	uid_t uid;

	if (acl->n >= RDV_MAX_UIDS)
		return -1;
	if (!util_parse_uid(text, &uid)) {
		acl->uids[acl->n++] = uid;
		return 0;
	}
	pw = getpwnam(text);
	if (!pw)
		return -1;
	acl->uids[acl->n++] = pw->pw_uid;
	return 0;
}

/**
 * rdv_acl_map() - carry the allowed uids into a user namespace we joined
 * @acl:	allowed uids, as seen before joining
 * @map:	the joined namespace's uid_map text: lines of "inside outside
 *		count", outside being the namespace we came from
 *
 * SO_PEERCRED reports a peer's uid as seen from the reader's user
 * namespace at the time of reading, so once we have joined one (rootless
 * use), the list must speak its language too: our own uid 1000 is 0 there.
 * A uid with no mapping is dropped: its peers appear as the overflow uid
 * and must not match anything.  Pure, for the unit tests.
 *
 * Return: the number of uids kept.
 */
unsigned int rdv_acl_map(struct rdv_acl *acl, const char *map)
{
	uid_t mapped[RDV_MAX_UIDS] = { 0 };
	unsigned int i, n = 0;

	for (i = 0; i < acl->n; i++) {
		const char *line = map;

		while (line && *line) {
			unsigned long in, out, count;

			if (sscanf(line, "%lu %lu %lu", &in, &out, &count) == 3 &&
			    acl->uids[i] >= out && acl->uids[i] - out < count) {
				mapped[n++] = (uid_t)(in + (acl->uids[i] - out));
				break;
			}
			line = strchr(line, '\n');
			if (line)
				line++;
		}
	}
	memcpy(acl->uids, mapped, n * sizeof(uid_t));
	acl->n = n;
	return n;
}

/**
 * rdv_acl_joined_userns() - after joining a user namespace, map @acl into
 * it from /proc/self/uid_map, or exit
 * @acl:	allowed uids
 * @what:	the namespace as the user named it, for messages
 */
void rdv_acl_joined_userns(struct rdv_acl *acl, const char *what)
{
	char map[4096];
	ssize_t n;
	int fd;

	fd = open("/proc/self/uid_map", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		log_die_errno(errno, "cannot read the uid map of the user namespace of %s", what);
	n = read(fd, map, sizeof(map) - 1);
	close(fd);
	if (n < 0)
		log_die_errno(errno, "cannot read the uid map of the user namespace of %s", what);
	map[n > 0 ? n : 0] = '\0';
	if (!rdv_acl_map(acl, map))
		log_die("cannot check rendezvous peers: no allowed uid is mapped in the user namespace of %s",
			what);
}

/**
 * rdv_check_peer() - refuse a peer whose uid is not in @acl
 * @sock:	connected unix socket
 * @acl:	allowed uids (rdv_acl_init() put our own uid in it)
 * @why:	on refusal, the reason
 * @size:	size of @why
 *
 * Return: 0 if allowed, -1 if not.
 *
 * syscalls: getsockopt
 */
int rdv_check_peer(int sock, const struct rdv_acl *acl, char *why, size_t size)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	unsigned int i;

	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) || len != sizeof(cred)) {
		snprintf(why, size, "cannot read its credentials: %s", strerror(errno));
		return -1;
	}
	for (i = 0; i < acl->n; i++)
		if (acl->uids[i] == cred.uid)
			return 0;
	snprintf(why, size, "pid %d runs as uid %u, not an allowed uid", (int)cred.pid,
		 (unsigned int)cred.uid);
	return -1;
}

/**
 * rdv_sockaddr() - the address of an @name or /path rendezvous
 * @spec:	parsed rendezvous (not RDV_FD)
 * @sun:	filled in
 *
 * Return: its length.
 */
socklen_t rdv_sockaddr(const struct rdv_spec *spec, struct sockaddr_un *sun)
{
	size_t n = strlen(spec->name);

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (spec->kind == RDV_ABSTRACT) {
		memcpy(sun->sun_path + 1, spec->name, n);
		return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
	}
	memcpy(sun->sun_path, spec->name, n);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
}

/*
 * Check @dir and every directory above it, as they are (a link is its
 * owner's, not followed).  Return: how many were symbolic links.
 */
static int rdv_check_chain(char *dir, size_t size, const char *text)
{
	uid_t me = geteuid();
	struct stat st;
	int links = 0;
	char *slash;

	for (;;) {
		if (lstat(dir, &st))
			log_die_errno(errno, "cannot bind rendezvous %s: cannot check %s", text, dir);
		if (st.st_uid != 0 && st.st_uid != me)
			log_die("cannot bind rendezvous %s: %s %s belongs to uid %u, not to root or us",
				text, S_ISLNK(st.st_mode) ? "symbolic link" : "directory", dir,
				(unsigned int)st.st_uid);
		links += S_ISLNK(st.st_mode);
		if (!S_ISLNK(st.st_mode) && (st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))
			log_die("cannot bind rendezvous %s: directory %s is writable by others", text, dir);
		if (!strcmp(dir, "/") || !strcmp(dir, "."))
			return links;
		slash = strrchr(dir, '/');
		if (!slash)
			strlcpy(dir, ".", size);
		else if (slash == dir)
			dir[1] = '\0';
		else
			*slash = '\0';
	}
}

/*
 * A socket file may only live where nobody else can swap a directory on
 * its path: otherwise the stale-socket check, the unlink and the bind
 * below could each see a different file (as OpenSSH checks its paths).
 * Every directory from the socket's up to / must belong to root or to us
 * and be writable by nobody else, unless it has the sticky bit (/tmp),
 * where others cannot rename or remove our entries.
 * A symbolic link counts as its owner's; one of ours or root's is also
 * followed, and where it leads is checked the same way.
 */
static void rdv_check_dirs(const char *path, const char *text)
{
	char dir[PATH_MAX], chain[PATH_MAX], real[PATH_MAX];
	char *slash;

	/* The socket's directory: its path up to the last slash. */
	strlcpy(dir, path, sizeof(dir));
	slash = strrchr(dir, '/');
	if (!slash)
		strlcpy(dir, ".", sizeof(dir));
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	strlcpy(chain, dir, sizeof(chain));
	if (!rdv_check_chain(chain, sizeof(chain), text))
		return;
	if (!realpath(dir, real))
		log_die_errno(errno, "cannot bind rendezvous %s: cannot resolve %s", text, dir);
	rdv_check_chain(real, sizeof(real), text);
}

/**
 * rdv_listen() - bind and listen on an @name or /path rendezvous, or exit
 * @spec:	parsed rendezvous (not RDV_FD)
 * @text:	as given, for messages
 *
 * A stale socket file left by an earlier run is replaced; any other file
 * at the path is not.  The file is created mode 0600, or 0666 when other
 * uids are allowed: SO_PEERCRED is the gate either way, as it is for
 * abstract names, which have no permissions at all.
 *
 * Return: non-blocking CLOEXEC listening socket.
 */
int rdv_listen(const struct rdv_spec *spec, const char *text, const struct rdv_acl *acl)
{
	struct sockaddr_un sun;
	socklen_t len = rdv_sockaddr(spec, &sun);
	mode_t old_umask;
	struct stat st;
	int fd, rc;

	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		log_die_errno(errno, "cannot create rendezvous socket %s", text);
	if (spec->kind == RDV_PATH)
		rdv_check_dirs(spec->name, text);
	if (spec->kind == RDV_PATH && !lstat(spec->name, &st)) {
		if (!S_ISSOCK(st.st_mode))
			log_die("cannot bind rendezvous %s: it exists and is not a socket", text);
		/*
		 * Live owner? Then it is not stale: refuse to steal it.  Only a
		 * refused connect says nobody listens: a socket of another type
		 * (EPROTOTYPE) or a full backlog (EAGAIN) has an owner.
		 */
		{
			int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

			if (probe < 0)
				log_die_errno(errno, "cannot create rendezvous socket %s", text);
			rc = connect(probe, (struct sockaddr *)&sun, len) ? errno : 0;
			close(probe);
			if (rc == EACCES || rc == EPERM)
				log_die("cannot bind rendezvous %s: cannot tell whether it is in use: %s",
					text, strerror(rc));
			if (rc != ECONNREFUSED && rc != ENOENT)
				log_die("cannot bind rendezvous %s: another process is listening on it%s%s",
					text, rc ? ": " : "", rc ? strerror(rc) : "");
		}
		unlink(spec->name);
	}
	old_umask = umask(acl->n > 1 ? 0111 : 0177);
	rc = bind(fd, (struct sockaddr *)&sun, len);
	umask(old_umask);
	if (rc)
		log_die_errno(errno, "cannot bind rendezvous %s", text);
	if (listen(fd, 64))
		log_die_errno(errno, "cannot listen on rendezvous %s", text);
	return fd;
}

/**
 * rdv_connect() - connect to an @name or /path rendezvous, or exit
 * @spec:	parsed rendezvous (not RDV_FD)
 * @text:	as given, for messages
 * @timeout_ms:	how long to keep retrying while nobody listens yet
 *
 * Return: connected blocking CLOEXEC socket.
 */
int rdv_connect(const struct rdv_spec *spec, const char *text, int timeout_ms)
{
	struct sockaddr_un sun;
	socklen_t len = rdv_sockaddr(spec, &sun);
	long long deadline = util_now_ms() + timeout_ms;

	for (;;) {
		int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		int err;

		if (fd < 0)
			log_die_errno(errno, "cannot create rendezvous socket %s", text);
		if (!connect(fd, (struct sockaddr *)&sun, len))
			return fd;
		err = errno;
		close(fd);
		/* Only "nobody there yet" is worth waiting for. */
		if (err != ENOENT && err != ECONNREFUSED && err != EAGAIN && err != EINTR)
			log_die_errno(err, "cannot connect to rendezvous %s", text);
		if (util_now_ms() >= deadline)
			log_die_errno(err, "cannot connect to rendezvous %s within %d ms", text,
				      timeout_ms);
		poll(NULL, 0, 20);
	}
}

/**
 * rdv_inherited() - check an inherited fd:N rendezvous, or exit
 * @spec:	parsed rendezvous (RDV_FD)
 * @text:	as given, for messages
 *
 * Return: the fd, now CLOEXEC.
 */
int rdv_inherited(const struct rdv_spec *spec, const char *text)
{
	int domain = 0, type = 0;
	socklen_t len = sizeof(int);

	if (fcntl(spec->fd, F_SETFD, FD_CLOEXEC) < 0)
		log_die_errno(errno, "cannot use rendezvous %s", text);
	if ((getsockopt(spec->fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) ||
	     getsockopt(spec->fd, SOL_SOCKET, SO_TYPE, &type, &len)) && errno != ENOTSOCK)
		log_die_errno(errno, "cannot use rendezvous %s", text);
	if (domain != AF_UNIX || type != SOCK_SEQPACKET)
		log_die("cannot use rendezvous %s: not a unix SOCK_SEQPACKET socket", text);
	return spec->fd;
}

/**
 * rdv_hello_send() - send our HELLO
 * @sock:	connected rendezvous
 * @role:	our role
 * @forwards:	our listeners (ntb-listen) or targets (ntb-connect)
 * @flags:	MSG_HELLO_*
 *
 * Return: 0, or -1 with errno set.
 */
int rdv_hello_send(int sock, enum msg_role role, unsigned int forwards, unsigned int flags)
{
	uint8_t buf[MSG_BUF_MAX];
	size_t len = msg_encode_hello(buf, sizeof(buf), role, forwards, flags);

	return fdpass_send(sock, buf, len, -1) == (ssize_t)len ? 0 : -1;
}

/**
 * rdv_hello_wait() - wait for the peer's HELLO
 * @sock:	connected rendezvous
 * @want:	the role the peer must have
 * @timeout_ms:	how long to wait
 * @forwards:	the count of forwards the peer's HELLO gives
 * @flags:	and its flags
 * @why:	on failure, what went wrong
 *
 * Return: 0, or -1.
 */
int rdv_hello_wait(int sock, enum msg_role want, int timeout_ms, unsigned int *forwards,
		   unsigned int *flags, const char **why)
{
	struct pollfd pfd = { .fd = sock, .events = POLLIN };
	uint8_t buf[MSG_BUF_MAX];
	struct fdpass_in in;
	ssize_t n;
	int rc;

	do
		rc = poll(&pfd, 1, timeout_ms);
	while (rc < 0 && errno == EINTR);
	if (rc == 0) {
		*why = "no HELLO from the peer in time";
		return -1;
	}
	n = fdpass_recv(sock, buf, sizeof(buf), &in);
	rc = rdv_hello_check(buf, n, &in, want, forwards, flags, why);
	fdpass_close_all(&in);
	return rc;
}

/**
 * rdv_hello_check() - is this record, just received, the peer's HELLO?
 * @buf:	the record
 * @n:		what fdpass_recv() returned
 * @in:		the fds that came with it (the caller closes them)
 * @want:	the role the peer must have
 * @forwards:	the count of forwards the peer's HELLO gives
 * @flags:	and its flags
 * @why:	if not, what is wrong
 *
 * Return: 0, or -1.
 */
int rdv_hello_check(const uint8_t *buf, ssize_t n, const struct fdpass_in *in, enum msg_role want,
		    unsigned int *forwards, unsigned int *flags, const char **why)
{
	struct msg m;

	if (n <= 0) {
		*why = n == 0 ? "peer closed the rendezvous" : "cannot read from the rendezvous";
		return -1;
	}
	if (in->truncated) {
		*why = "record or its control data was truncated";
		return -1;
	}
	if (msg_decode(buf, (size_t)n, in->nfds, &m, why))
		return -1;
	if (m.type != MSG_HELLO) {
		*why = "first record is not HELLO";
		return -1;
	}
	if (m.u.hello.role != want) {
		*why = "peer has the wrong role";
		return -1;
	}
	*forwards = m.u.hello.forwards;
	*flags = m.u.hello.flags;
	return 0;
}
