// SPDX-License-Identifier: MIT
/*
 * relay_target.c - the relay's side 1: a socket to the target (from the
 * client's own address with --transparent-source), its non-blocking
 * connect, keepalive, and the start of relaying once it is connected.
 * See relay.c for the theory of operation.
 */
#include "relay_internal.h"
#include "route.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <unistd.h>

/*
 * --keepalive: probes after IDLE seconds of silence, every INTERVAL, and
 * the connection fails after COUNT unanswered.
 *
 * syscalls: setsockopt
 */
static void relay_keepalive(int fd)
{
	int one = 1;

	if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &relay.keepalive[0], sizeof(int)) ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &relay.keepalive[1], sizeof(int)) ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &relay.keepalive[2], sizeof(int)))
		log_debug("cannot set keepalive on a socket");
}

/*
 * A socket of ours closes with RST until the connection ends cleanly
 * (conn_end() turns it off again): a transfer cut short by a crash, a
 * SIGKILL or the fast stop must not look complete to the other end.
 * ntb-listen arms it on its listening sockets, so clients come with it.
 *
 * syscalls: setsockopt
 */
static void relay_arm_reset(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

/* syscalls: setsockopt write */
static void relay_established(struct worker *w, struct conn *c)
{
	int one = 1;

	conn_set_state(c, CONN_RELAYING);
	tally_add(&w->tally.connect_ok, 1);
	/*
	 * The PROXY header goes first, before any byte of the client's.  A new
	 * connection's send buffer holds it whole; anything less is a failure.
	 */
	if (c->proxy_hdr && write(c->fd[1], c->proxy_hdr, c->proxy_len) != c->proxy_len) {
		log_warn_errno_limited(&w->lines, errno, "client %s: cannot send the PROXY header",
				       c->name);
		conn_end(w, c, 1, RELAY_END_ERROR);
		return;
	}
	/* The client side has it already: ntb-listen sets it on its listener. */
	setsockopt(c->fd[1], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (relay.keepalive[0]) {
		relay_keepalive(c->fd[0]);
		relay_keepalive(c->fd[1]);
	}
	relay_idle_touch(w, c);
	if (relay_watch(w, c, 0, 0)) {
		log_warn_errno_limited(&w->lines, errno, "client %s: cannot watch the client socket",
				       c->name);
		conn_end(w, c, 1, RELAY_END_ERROR);
		return;
	}
	log_debug("client %s: relaying", c->name);
	/* The client may have sent its first bytes already. */
	relay_conn_event(w, c, 0, EPOLLIN);
}

void relay_connect_done(struct worker *w, struct conn *c, uint32_t events)
{
	/* A connect that worked says EPOLLOUT alone: no SO_ERROR to ask for. */
	int err = (events & (EPOLLERR | EPOLLHUP)) ? relay_sock_error(c->fd[1]) : 0;

	if (!err && (events & (EPOLLERR | EPOLLHUP)))
		err = ECONNRESET;
	if (err) {
		char target[ADDR_STRLEN];

		addr_format((struct sockaddr *)&conn_target(c)->ss, conn_target(c)->len, target,
			    sizeof(target));
		log_warn_errno_limited(&w->lines, err, "client %s: cannot connect to %s", c->name,
				       target);
		relay_tally_connect_failed(w, err);
		conn_end(w, c, 1, conn_connect_why(err));
		return;
	}
	TAILQ_REMOVE(&w->connecting, c, connecting);
	/* The target may have spoken first, in the same event. */
	c->readable[1] = (events & (EPOLLIN | EPOLLRDHUP)) ? RELAY_RD_YES : RELAY_RD_NO;
	/* And closed: a short read then does not say the FIN was taken (relay_small()). */
	if (events & (EPOLLRDHUP | EPOLLHUP))
		c->rdhup[1] = 1;
	relay_established(w, c);
}

/*
 * --transparent-source: the target socket takes the client's own address,
 * and its port unless that is in use here, before it connects.  A client
 * outside the local routes of the reply table would never get its
 * connection answered: it is reset at once, with a line saying what to add.
 *
 * Return: 0, or -1 (logged; the caller resets the client).
 *
 * syscalls: setsockopt bind
 */
static int relay_transparent(struct worker *w, struct conn *c, int fd)
{
	const struct addr *to = conn_target(c);
	const struct route_table *rt = &relay.routes[c->target];
	struct sockaddr_storage *a = c->src;
	socklen_t len = a->ss_family == AF_INET ? sizeof(struct sockaddr_in) :
			sizeof(struct sockaddr_in6);
	int one = 1, v4 = a->ss_family == AF_INET, rc;
	char target[ADDR_STRLEN];

	addr_format((const struct sockaddr *)&to->ss, to->len, target, sizeof(target));
	if (a->ss_family != to->ss.ss_family) {
		log_warn_limited(&w->lines, "client %s: refused, its address family is not the one of target %s, so it cannot be the source",
				 c->name, target);
		return -1;
	}
	if (!route_covers(rt, (const struct sockaddr *)a)) {
		log_warn_limited(&w->lines, "client %s: refused, replies from %s would not come back: table %u of the target's namespace has no local route for it (ip route add local PREFIX dev lo table %u)",
				 c->name, target, rt->table, rt->table);
		return -1;
	}
	if (setsockopt(fd, v4 ? SOL_IP : SOL_IPV6, v4 ? IP_TRANSPARENT : IPV6_TRANSPARENT, &one,
		       sizeof(one))) {
		log_warn_errno_limited(&w->lines, errno, "client %s: cannot set IP_TRANSPARENT", c->name);
		return -1;
	}
	rc = bind(fd, (struct sockaddr *)a, len);
	if (rc && errno == EADDRINUSE) {
		/* Its port is taken here: its address, any port. */
		if (v4)
			((struct sockaddr_in *)a)->sin_port = 0;
		else
			((struct sockaddr_in6 *)a)->sin6_port = 0;
		rc = bind(fd, (struct sockaddr *)a, len);
	}
	if (rc) {
		log_warn_errno_limited(&w->lines, errno, "client %s: cannot take its address", c->name);
		return -1;
	}
	return 0;
}

/* syscalls: fcntl socket connect */
void relay_begin(struct worker *w, struct conn *c)
{
	const struct addr *to = conn_target(c);
	int fd;

	if (conn_slot_take(w, c)) {
		struct guard *g = &relay_guards[w - relay_workers];

		log_warn_limited(&w->lines, "client %s: refused, too many connections on one worker",
				 c->name);
		tally_add(&w->tally.refused_limit, 1);
		guard_enter(g);
		util_abort_close(c->fd[0]);
		guard_leave(g);
		conn_free(c);
		relay_count_drop(w);
		return;
	}
	/*
	 * ntb-listen accepts non-blocking; a peer that sent a blocking
	 * socket, or makes it blocking later, meets the guard.
	 */
	if (!c->ours && fcntl(c->fd[0], F_SETFL, O_NONBLOCK)) {
		log_warn_errno_limited(&w->lines, errno, "client %s: cannot make the socket non-blocking",
				       c->name);
		conn_end(w, c, 1, RELAY_END_ERROR);
		return;
	}
	tally_add(&w->tally.conns, 1);
	if (relay.upstream_fd >= 0) {
		/* -C: one pre-connected target, used by the first client only. */
		c->fd[1] = relay.upstream_fd;
		relay.upstream_fd = -1;
		c->readable[1] = RELAY_RD_YES;
		relay_arm_reset(c->fd[1]);
		if (fcntl(c->fd[1], F_SETFL, O_NONBLOCK) || relay_watch(w, c, 1, 0)) {
			log_warn_errno(errno, "client %s: cannot use the --connect-fd socket", c->name);
			conn_end(w, c, 1, RELAY_END_ERROR);
			return;
		}
		relay_established(w, c);
		return;
	}
	fd = socket(to->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		int err = errno;

		if (errno == EMFILE || errno == ENFILE)
			tally_add(&w->tally.refused_fds, 1);
		else
			relay_tally_connect_failed(w, errno);
		log_warn_errno_limited(&w->lines, errno, "client %s: cannot create the target socket",
				       c->name);
		conn_end(w, c, 1, conn_connect_why(err));
		return;
	}
	c->fd[1] = fd;
	relay_arm_reset(fd);
	if (c->src && relay_transparent(w, c, fd)) {
		conn_end(w, c, 1, RELAY_END_POLICY);
		return;
	}
	if (connect(fd, (struct sockaddr *)&to->ss, to->len) &&
	    errno != EINPROGRESS) {
		int err = errno;
		char target[ADDR_STRLEN];

		relay_tally_connect_failed(w, errno);

		addr_format((struct sockaddr *)&conn_target(c)->ss, conn_target(c)->len, target,
			    sizeof(target));
		log_warn_errno_limited(&w->lines, errno, "client %s: cannot connect to %s", c->name,
				       target);
		conn_end(w, c, 1, conn_connect_why(err));
		return;
	}
	conn_set_state(c, CONN_CONNECTING);
	c->deadline = util_now_ms() + relay.connect_timeout_ms;
	TAILQ_INSERT_TAIL(&w->connecting, c, connecting);
	/* EPOLLOUT: that is how a non-blocking connect says it is done. */
	if (relay_watch(w, c, 1, 1)) {
		log_warn_errno_limited(&w->lines, errno, "client %s: cannot watch the target socket",
				       c->name);
		conn_end(w, c, 1, RELAY_END_ERROR);
	}
}
