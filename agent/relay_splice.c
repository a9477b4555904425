// SPDX-License-Identifier: MIT
/*
 * relay_splice.c - the relay's hot path: a worker's pipe pool, moving
 * bytes between a connection's sockets with splice(2), and re-arming
 * EPOLLOUT and the idle order after they moved.  Nothing here calls out of
 * this file until a connection ends (conn_end()).  See relay.c for the
 * theory of operation.
 */
#include "relay_internal.h"
#include "event.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

int relay_pipe_size = RELAY_PIPE_SIZE;
int relay_pipe_bulk = RELAY_PIPE_BULK;

/*
 * Pipes: taken when a direction has bytes to move, returned empty when it
 * has none.  A pipe that still holds bytes when its connection dies is
 * closed, never pooled.
 *
 * syscalls: pipe2 fcntl
 */
static int pipe_get(struct worker *w, struct conn *c, int d)
{
	int p[2], got = -1;

	if (w->pooled) {
		w->pooled--;
		c->pipe_r[d] = w->pool[w->pooled][0];
		c->pipe_w[d] = w->pool[w->pooled][1];
		c->pipe_cap[d] = (uint32_t)w->pool[w->pooled][2];
		return 0;
	}
	if (pipe2(p, O_NONBLOCK | O_CLOEXEC))
		return -1;
	/*
	 * Bigger pipes, fewer splices.  Refused (EPERM) once a user holds more
	 * than fs.pipe-user-pages-soft in pipes: the pipe keeps what the
	 * kernel gave it, which past that limit is two pages, not 64 KiB.
	 */
	if (relay_pipe_size > RELAY_PIPE_DEFAULT)
		got = fcntl(p[1], F_SETPIPE_SZ, relay_pipe_size);
	if (got <= 0)
		got = fcntl(p[1], F_GETPIPE_SZ);
	c->pipe_cap[d] = got > 0 ? (uint32_t)got : RELAY_PIPE_MIN;
	c->pipe_r[d] = p[0];
	c->pipe_w[d] = p[1];
	return 0;
}

/* syscalls: close */
void relay_pipe_put(struct worker *w, struct conn *c, int d)
{
	if (c->pipe_r[d] < 0)
		return;
	if (!c->inpipe[d] && w->pooled < RELAY_POOL_MAX) {
		w->pool[w->pooled][0] = c->pipe_r[d];
		w->pool[w->pooled][1] = c->pipe_w[d];
		w->pool[w->pooled][2] = (int)c->pipe_cap[d];
		w->pooled++;
	} else {
		close(c->pipe_r[d]);
		close(c->pipe_w[d]);
	}
	c->pipe_r[d] = c->pipe_w[d] = -1;
	c->inpipe[d] = 0;
}

/*
 * --idle-timeout: relaying connections in order of their last activity,
 * so the worker looks at the head only.
 */
void relay_idle_unlink(struct worker *w, struct conn *c)
{
	if (!c->idle_listed)
		return;
	TAILQ_REMOVE(&w->idle, c, idle);
	c->idle_listed = 0;
}

void relay_idle_touch(struct worker *w, struct conn *c)
{
	if (!relay.idle_timeout_ms)
		return;
	c->last_active = util_now_ms();
	if (c->idle_listed && !TAILQ_NEXT(c, idle))
		return;		/* the tail already */
	relay_idle_unlink(w, c);
	TAILQ_INSERT_TAIL(&w->idle, c, idle);
	c->idle_listed = 1;
}

/* No pipe for direction @d (out of fds, or memory): the side to reset. */
static int relay_no_pipe(struct worker *w, struct conn *c, int d)
{
	if (errno == EMFILE || errno == ENFILE)
		tally_add(&w->tally.refused_fds, 1);
	c->fail_why = 1 + (errno == EMFILE || errno == ENFILE ? RELAY_END_FDS : RELAY_END_ERROR);
	log_warn_errno_limited(&w->lines, errno, "client %s: cannot make a pipe", c->name);
	return d;
}

/*
 * A splice, recv or send on a socket that fails with EINTR was interrupted by
 * the watchdog: it blocked, which a socket left as we set it never does.
 */
static void relay_blocked(struct worker *w, struct conn *c)
{
	log_warn_limited(&w->lines, "client %s: its socket blocked the relay (the rendezvous peer changed it after the hand-off); reset",
			 c->name);
	c->fail_why = 1 + RELAY_END_WATCHDOG;
}

/* A read of direction @d failed (not EAGAIN): the side to reset, fd[d]. */
static int relay_read_failed(struct worker *w, struct conn *c, int d)
{
	if (errno == EINTR)
		relay_blocked(w, c);
	else if (errno != ECONNRESET)
		log_warn_errno_limited(&w->lines, errno, "client %s: %s failed", c->name,
				       d ? "reading from the target" : "reading from the client");
	return d;
}

/* A write of direction @d failed (not EAGAIN): the side to reset, fd[!d]. */
static int relay_write_failed(struct worker *w, struct conn *c, int d)
{
	if (errno == EINTR)
		relay_blocked(w, c);
	else if (errno != ECONNRESET && errno != EPIPE)
		log_warn_errno_limited(&w->lines, errno, "client %s: %s failed", c->name,
				       d ? "writing to the client" : "writing to the target");
	return !d;
}

/*
 * relay_small() - move what direction @d has when it carries little:
 * recv() into a small buffer and send() from it, two calls where splice
 * takes three (in, out, and the EAGAIN that says the socket is drained).
 *
 * A read shorter than the buffer emptied the socket's queue, so it counts
 * as the EAGAIN: with edge triggering, any byte that comes after it
 * raises a new event, and so does a FIN.  A FIN queued before the event
 * was made raises none, but then an event said EPOLLRDHUP (c->rdhup):
 * such a socket is read on to EOF.  (Urgent data is the exception: a read
 * stops short at its mark, and the bytes after it wait for the next
 * event; splice stalls at the mark for good.)  A full buffer means more
 * is queued: the direction splices from then on (c->bulk) until a splice
 * finds little queued.  What the destination does not take at once goes
 * into the direction's pipe, and the splice path carries it on from there.
 * recvfrom and sendto, not recv and send: those are system calls of their
 * own on some architectures, which the filter does not list.
 *
 * Return: -1 if the connection lives on; otherwise the side that reset
 * or failed.
 *
 * syscalls: recvfrom sendto write
 */
static int relay_small(struct worker *w, struct conn *c, int d, int *progress)
{
	struct guard *g = &relay_guards[w - relay_workers];
	char buf[RELAY_SMALL];
	ssize_t n, sent;

	guard_enter(g);
	n = recvfrom(c->fd[d], buf, sizeof(buf), MSG_DONTWAIT, NULL, NULL);
	guard_leave(g);
	if (n <= 0) {
		if (n == 0) {
			c->rd_eof[d] = 1;
			*progress = 1;
		} else if (errno == EAGAIN) {
			c->readable[d] = RELAY_RD_NO;
		} else {
			return relay_read_failed(w, c, d);
		}
		return -1;
	}
	*progress = 1;
	if ((size_t)n == sizeof(buf))
		c->bulk[d] = 1;
	else if (!c->rdhup[d])
		c->readable[d] = RELAY_RD_NO;
	guard_enter(g);
	sent = sendto(c->fd[!d], buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL, NULL, 0);
	guard_leave(g);
	if (sent < 0) {
		if (errno != EAGAIN)
			return relay_write_failed(w, c, d);
		sent = 0;
	}
	tally_add(&w->tally.bytes[d], (unsigned long long)sent);
	if (sent == n)
		return -1;
	/*
	 * The rest waits in the direction's pipe, empty here (it fits:
	 * RELAY_SMALL), EPOLLOUT asked for.  The pipe may be held already: one
	 * that was emptied in this round is given back only at its end.
	 */
	if (c->pipe_r[d] < 0 && pipe_get(w, c, d))
		return relay_no_pipe(w, c, d);
	if (write(c->pipe_w[d], buf + sent, (size_t)(n - sent)) != n - sent) {
		log_warn_errno_limited(&w->lines, errno, "client %s: cannot keep bytes in a pipe", c->name);
		c->fail_why = 1 + RELAY_END_ERROR;
		return d;
	}
	c->inpipe[d] = (size_t)(n - sent);
	return -1;
}

/*
 * relay_move() - shovel direction @d until it stops moving
 *
 * Return: -1 if the connection lives on; otherwise the side (0 or 1) that
 * reset or failed (logged unless it was a plain reset).
 *
 * syscalls: splice shutdown fcntl
 */
static int relay_move(struct worker *w, struct conn *c, int d, int *moved)
{
	struct guard *g = &relay_guards[w - relay_workers];
	int src = c->fd[d], dst = c->fd[!d];
	ssize_t n;

	for (;;) {
		int progress = 0;

		/*
		 * At most a pipe's worth in flight (its capacity in bytes): a
		 * pipe slot can hold a whole skb fragment, so the pipe itself
		 * would take megabytes while the destination is full, and
		 * every extra read would cost a failed write.  Backpressure
		 * belongs to TCP.
		 *
		 * Only a socket that may have bytes is read: one that said
		 * EAGAIN stays quiet until its next event (edge-triggered, so
		 * one comes with any new byte).  That spares a failed splice of
		 * the idle direction on every event of the busy one.
		 */
		if (!c->rd_eof[d] && c->readable[d] == RELAY_RD_YES && !c->bulk[d] && !c->inpipe[d]) {
			int bad = relay_small(w, c, d, &progress);

			if (bad >= 0)
				return bad;
		} else if (!c->rd_eof[d] && c->readable[d] == RELAY_RD_YES &&
			   (c->pipe_r[d] < 0 || c->inpipe[d] < c->pipe_cap[d])) {
			size_t want;

			if (c->pipe_r[d] < 0 && pipe_get(w, c, d))
				return relay_no_pipe(w, c, d);
			want = c->pipe_cap[d] - c->inpipe[d];
			guard_enter(g);
			n = splice(src, NULL, c->pipe_w[d], NULL, want, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			guard_leave(g);
			if (n > 0) {
				/*
				 * Bulk: it filled an empty pipe at one go, so the
				 * far side keeps up and the sender has more.  A bigger
				 * pipe moves the same bytes in fewer splices, and only
				 * such a direction pays for one (a slow reader never
				 * grows its pipe).
				 */
				if ((size_t)n == want && !c->inpipe[d] && c->pipe_cap[d] < (uint32_t)relay_pipe_bulk) {
					int got = fcntl(c->pipe_w[d], F_SETPIPE_SZ, relay_pipe_bulk);

					if (got > (int)c->pipe_cap[d])
						c->pipe_cap[d] = (uint32_t)got;
				}
				/* Little was queued: the next event reads small again. */
				if ((size_t)n < RELAY_SMALL && !c->inpipe[d])
					c->bulk[d] = 0;
				c->inpipe[d] += (size_t)n;
				progress = 1;
			} else if (n == 0) {
				c->rd_eof[d] = 1;
				progress = 1;
			} else if (errno == EAGAIN) {
				/*
				 * An empty pipe cannot be full, so the socket is
				 * drained.  A pipe holding bytes may have run out
				 * of slots first (each holds one fragment, however
				 * small): the socket may still hold bytes and no
				 * event would come for them.  Try again once the
				 * pipe has moved some out, not on every event.
				 */
				c->readable[d] = c->inpipe[d] ? RELAY_RD_AFTER_OUT : RELAY_RD_NO;
			} else {
				return relay_read_failed(w, c, d);
			}
		}
		if (c->inpipe[d]) {
			guard_enter(g);
			n = splice(c->pipe_r[d], NULL, dst, NULL, c->inpipe[d],
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			guard_leave(g);
			if (n > 0) {
				c->inpipe[d] -= (size_t)n;
				tally_add(&w->tally.bytes[d], (unsigned long long)n);
				if (c->readable[d] == RELAY_RD_AFTER_OUT)
					c->readable[d] = RELAY_RD_YES;
				progress = 1;
			} else if (n < 0 && errno != EAGAIN) {
				return relay_write_failed(w, c, d);
			}
		}
		if (!progress)
			break;
		*moved = 1;
	}
	if (!c->inpipe[d])
		relay_pipe_put(w, c, d);
	if (c->rd_eof[d] && !c->inpipe[d] && !c->wr_shut[d]) {
		c->wr_shut[d] = 1;
		if (!c->wr_shut[!d]) {
			c->first_fin = (uint8_t)(1 + d);
			conn_set_state(c, CONN_HALF_CLOSED);
		}
		/*
		 * The other direction already finished: close() is about to
		 * send this FIN anyway (both sockets were read to EOF, so it
		 * cannot turn into a reset).
		 */
		if (c->wr_shut[!d])
			return -1;
		if (shutdown(dst, SHUT_WR) && errno != ENOTCONN)
			return !d;
	}
	return -1;
}

/* syscalls: getsockopt */
int relay_sock_error(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len))
		return errno;
	return err;
}

static uint32_t relay_events(int want_out)
{
	return EPOLLIN | EPOLLRDHUP | EPOLLET | (want_out ? EPOLLOUT : 0);
}

/*
 * Ask for EPOLLOUT on fd[side] exactly while the pipe towards it holds bytes.
 * syscalls: epoll_ctl
 */
static int relay_rearm(struct worker *w, struct conn *c)
{
	int side;

	for (side = 0; side < 2; side++) {
		int want = c->inpipe[!side] > 0;
		struct epoll_event ev = {
			.events = relay_events(want),
			.data.u64 = ev_tag(EV_CONN, c->slot, c->gen, (unsigned int)side),
		};

		if (want == c->out_armed[side])
			continue;
		if (epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd[side], &ev))
			return side;
		c->out_armed[side] = (uint8_t)want;
	}
	return -1;
}

void relay_conn_event(struct worker *w, struct conn *c, int side, uint32_t events)
{
	int moved, bad, d;

	/* Anything but "writable" may mean bytes or an end to read. */
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		c->readable[side] = RELAY_RD_YES;
	/* Its FIN is queued: a short read no longer says the socket is drained. */
	if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		c->rdhup[side] = 1;
	if (events & EPOLLERR) {
		int err = relay_sock_error(c->fd[side]);

		if (err && err != ECONNRESET && err != EPIPE)
			log_warn_errno_limited(&w->lines, err, "client %s: %s", c->name,
					       side ? "target connection failed" : "client connection failed");
		if (err) {
			conn_end(w, c, side, side ? RELAY_END_TARGET_RESET : RELAY_END_CLIENT_RESET);
			return;
		}
	}
	do {
		moved = 0;
		for (d = 0; d < 2; d++) {
			bad = relay_move(w, c, d, &moved);
			if (bad >= 0) {
				conn_end(w, c, bad, c->fail_why ? (enum relay_end)(c->fail_why - 1) :
						    bad ? RELAY_END_TARGET_RESET : RELAY_END_CLIENT_RESET);
				return;
			}
		}
		if (moved)
			relay_idle_touch(w, c);
	} while (moved);
	if (c->wr_shut[0] && c->wr_shut[1]) {
		conn_end(w, c, -1, c->first_fin == 1 ? RELAY_END_CLIENT_CLOSED : RELAY_END_TARGET_CLOSED);
		return;
	}
	bad = relay_rearm(w, c);
	if (bad >= 0) {
		log_warn_errno_limited(&w->lines, errno, "client %s: cannot watch a socket", c->name);
		conn_end(w, c, bad, RELAY_END_ERROR);
	}
}

/* syscalls: epoll_ctl */
int relay_watch(struct worker *w, struct conn *c, int side, int want_out)
{
	struct epoll_event ev = {
		.events = relay_events(want_out),
		.data.u64 = ev_tag(EV_CONN, c->slot, c->gen, (unsigned int)side),
	};

	c->out_armed[side] = (uint8_t)want_out;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, c->fd[side], &ev))
		return -1;
	c->watched[side] = 1;
	return 0;
}
