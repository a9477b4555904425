// SPDX-License-Identifier: MIT
/*
 * relay_accept.c - listening sockets handed over by ntb-listen: the
 * commands that make each worker watch one or let it go, accepting on
 * them (with the spare pipe and the pause for running out of fds), and
 * the main thread's side of the hand-off.  See relay.c for the theory of
 * operation.
 */
#include "relay_internal.h"
#include "event.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

static struct relay_listener relay_listeners[RELAY_LISTENERS];
/*
 * Listeners no worker watches any more, though nobody asked them to stop
 * (every worker gave up on its own): the main thread tells their sender
 * and closes them (relay_listeners_orphaned()).  A slot is here once at
 * most: it stays busy until then.
 */
static uint32_t relay_orphans[RELAY_LISTENERS];
static unsigned int relay_norphans;
/*
 * Listeners a worker asked the main thread to give back while others may
 * still watch them (relay_listener_give_up()), with the generation they
 * had then: once at most per socket (giving_up).  Under the same lock.
 */
static uint32_t relay_giveups[RELAY_LISTENERS][2];
static unsigned int relay_ngiveups;
static pthread_mutex_t relay_orphans_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * Listener hand-off.  A worker watches listener slot idx while
 * w->lwatch[idx] holds the slot's generation + 1; events carry the
 * generation, so one for a socket that has since left is dropped.
 */

/* syscalls: epoll_ctl */
static int listener_epoll(struct worker *w, uint32_t idx, int op)
{
	struct epoll_event ev = {
		/* One worker woken per client, not every worker. */
		.events = EPOLLIN | EPOLLEXCLUSIVE,
		.data.u64 = ev_tag(EV_LISTEN, idx, w->lwatch[idx] - 1, 0),
	};

	return epoll_ctl(w->epfd, op, relay_listeners[idx].fd, op == EPOLL_CTL_DEL ? NULL : &ev);
}

/*
 * Close our copy of a listening socket the way a received client socket
 * is closed: it is shared with its sender, who may have turned it into a
 * connected socket with unsent data and SO_LINGER {1, large} and closed
 * its own copy, so that our close is the last and would linger.  SO_LINGER
 * {1, 0} makes the last close a reset, and the guard interrupts a close
 * the sender made linger between our setsockopt() and close().  No
 * disconnect: on a listener that ntb-listen still holds, connect(AF_UNSPEC)
 * would stop its listening too.
 *
 * syscalls: setsockopt close
 */
static void listener_close(struct guard *g, int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	guard_enter(g);
	if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)))
		log_debug("cannot turn lingering off on a listening socket");
	if (close(fd) && errno == EINTR)
		log_warn("closing a handed-over listening socket blocked the relay (its sender made it linger); closed without waiting");
	guard_leave(g);
}

/*
 * @w lets go of listener @idx; the last worker to do so closes it and so
 * frees its slot.  A worker may let go on its own (@told 0: the socket was
 * shut down or made blocking, or could not be watched), and then again on
 * the main thread's command: the second time does nothing.  When the last
 * one let go on its own, nobody has told the sender: the main thread does,
 * and closes the socket (relay_listeners_orphaned()).
 *
 * syscalls: write
 */
static void listener_unwatch(struct worker *w, uint32_t idx, int told)
{
	struct relay_listener *l = &relay_listeners[idx];
	int fd = l->fd;		/* read before the slot can be taken again */
	uint64_t one = 1;

	if (!w->lwatch[idx])
		return;
	if (!w->accept_resume && listener_epoll(w, idx, EPOLL_CTL_DEL))
		log_debug("cannot unwatch a listening socket");
	w->lwatch[idx] = 0;
	if (atomic_fetch_sub_explicit(&l->refs, 1, memory_order_acq_rel) != 1)
		return;
	if (told) {
		listener_close(&relay_guards[w - relay_workers], fd);
		atomic_store_explicit(&l->busy, 0, memory_order_release);
		return;
	}
	pthread_mutex_lock(&relay_orphans_lock);
	relay_orphans[relay_norphans++] = idx;
	pthread_mutex_unlock(&relay_orphans_lock);
	if (relay.notify_fd >= 0 && write(relay.notify_fd, &one, sizeof(one)) < 0)
		log_debug("cannot wake the main thread");
}

/* What the main thread asked of @w: watch a listener, or let it go. */
void relay_listener_command(struct worker *w, uint32_t cmd)
{
	uint32_t idx = cmd & ~RELAY_CMD_ADD;

	if (!(cmd & RELAY_CMD_ADD)) {
		listener_unwatch(w, idx, 1);
		return;
	}
	w->lwatch[idx] = (relay_listeners[idx].gen & EV_GEN_MASK) + 1;
	if (w->test_unwatchable)
		errno = ENOSPC;
	/* While accepting is paused, relay_accept_resume() adds it. */
	if (w->test_unwatchable || (!w->accept_resume && listener_epoll(w, idx, EPOLL_CTL_ADD))) {
		log_warn_errno_limited(&w->lines, errno, "cannot watch a handed-over listening socket");
		w->accept_resume = 1;	/* nothing to remove from the epoll set */
		listener_unwatch(w, idx, 0);
		w->accept_resume = 0;
	}
}

/* Send @cmd to @w; worker 0 is the main thread itself, so it runs at once. */
/* syscalls: write */
static void listener_post(struct worker *w, uint32_t cmd)
{
	uint64_t one = 1;
	int wake;

	if (w == &relay_workers[0]) {
		relay_listener_command(w, cmd);
		return;
	}
	pthread_mutex_lock(&w->lock);
	if (w->cmd_len == RELAY_CMD_RING) {
		/* Cannot happen (RELAY_CMDS_PER_SLOT); were it to, losing a command leaks a slot. */
		pthread_mutex_unlock(&w->lock);
		log_die("relay worker %u: listener command ring full (%d commands)",
			(unsigned int)(w - relay_workers), RELAY_CMD_RING);
	}
	wake = STAILQ_EMPTY(&w->incoming) && !w->cmd_len;
	w->cmds[(w->cmd_head + w->cmd_len) % RELAY_CMD_RING] = cmd;
	w->cmd_len++;
	pthread_mutex_unlock(&w->lock);
	if (wake && write(w->evfd, &one, sizeof(one)) < 0)
		log_debug("cannot wake worker");
}

/*
 * Out of fds with no spare to give up, and none to be made: nobody here
 * can take a client to reset it, so the listener goes back to its sender
 * (ntb-listen accepts its clients itself again and hands each over; one
 * ntb-connect cannot receive is reset), through the main thread, which
 * tells every worker to let go.  With several workers a spare can be
 * lost: the fds one worker frees from it can be taken by another's accept
 * and target socket before its own accept4() runs.
 *
 * syscalls: write
 */
static void relay_listener_give_up(struct worker *w, uint32_t idx)
{
	struct relay_listener *l = &relay_listeners[idx];
	uint64_t one = 1;

	if (atomic_exchange_explicit(&l->giving_up, 1, memory_order_acq_rel))
		return;
	log_warn_limited(&w->lines, "out of fds, with no spare left to reset clients with: giving listening socket %u back to ntb-listen",
			 (unsigned int)l->target);
	pthread_mutex_lock(&relay_orphans_lock);
	/* Once per socket, not per slot: a slot reused before the main thread looked can add one more. */
	if (relay_ngiveups < RELAY_LISTENERS) {
		relay_giveups[relay_ngiveups][0] = idx;
		relay_giveups[relay_ngiveups][1] = w->lwatch[idx] - 1;
		relay_ngiveups++;
	}
	pthread_mutex_unlock(&relay_orphans_lock);
	if (relay.notify_fd >= 0 && write(relay.notify_fd, &one, sizeof(one)) < 0)
		log_debug("cannot wake the main thread");
}

/*
 * Out of fds: the client stays in the backlog, and the listener would
 * wake this worker at once again.  Its listeners leave its epoll set for
 * a while, longer each time, then come back (relay_accept_resume()).
 *
 * syscalls: epoll_ctl
 */
static void relay_accept_pause(struct worker *w, int err)
{
	uint32_t i;

	w->accept_resume = util_backoff(&w->pause_ms);
	log_warn_errno_limited(&w->lines, err, "cannot accept clients; this worker pauses accepting for %d ms",
			       w->pause_ms);
	/* No client is refused here: accept4() failed before it took one. */
	for (i = 0; i < RELAY_LISTENERS; i++)
		if (w->lwatch[i] && listener_epoll(w, i, EPOLL_CTL_DEL))
			log_debug("cannot pause a listening socket");
}

void relay_accept_resume(struct worker *w)
{
	uint32_t i;

	w->accept_resume = 0;
	relay_spare_make(w);
	for (i = 0; i < RELAY_LISTENERS; i++)
		if (w->lwatch[i] && listener_epoll(w, i, EPOLL_CTL_ADD)) {
			log_warn_errno(errno, "cannot watch a handed-over listening socket again");
			w->accept_resume = 1;
			listener_unwatch(w, i, 0);
			w->accept_resume = 0;
		}
}

/*
 * The worker's spare pipe: two fds to give up when out of them, so that a
 * client waiting in a handed-over listener's backlog can be taken and
 * reset rather than left there (nobody else accepts it: ntb-listen does
 * not watch a socket it lent).
 *
 * syscalls: pipe2
 */
void relay_spare_make(struct worker *w)
{
	if (w->test_no_spare)
		return;
	if (w->spare[0] < 0 && pipe2(w->spare, O_CLOEXEC))
		w->spare[0] = w->spare[1] = -1;
}

/*
 * Out of fds (EMFILE, ENFILE) on listener @idx: accept4() takes an fd
 * before it looks at the backlog, so give up the spare, take one client
 * and reset it, and make the spare again.
 *
 * Return: 1 if a client was reset and more may wait, 0 if the caller
 * should pause accepting instead (no spare, or none to be made again, or
 * nobody waiting).
 *
 * syscalls: accept4 close
 */
static int relay_accept_shed(struct worker *w, uint32_t idx, int err)
{
	struct guard *g = &relay_guards[w - relay_workers];
	int fd;

	if (w->spare[0] < 0)
		return 0;
	close(w->spare[0]);
	close(w->spare[1]);
	w->spare[0] = w->spare[1] = -1;
	guard_enter(g);
	fd = accept4(relay_listeners[idx].fd, NULL, NULL, SOCK_CLOEXEC);
	guard_leave(g);
	if (fd >= 0) {
		tally_add(&w->tally.accepted, 1);
		tally_add(&w->tally.refused_fds, 1);
		log_warn_errno_limited(&w->lines, err, "cannot accept a client; reset it");
		util_reset_close(fd);
	}
	relay_spare_make(w);
	return fd >= 0 && w->spare[0] >= 0;
}

/*
 * relay_accept() - take clients off a handed-over listener, each into this
 * worker or, when it has clearly more open than another, into that one
 * (relay_pick())
 *
 * The listener's open file is shared with the peer that sent it: it can
 * make it blocking (accept4() then sleeps until the guard interrupts it)
 * or shut it down.  Either way this worker stops accepting on it, with a
 * line; the others find out for themselves.
 *
 * syscalls: accept4 getsockname close
 */
void relay_accept(struct worker *w, uint32_t idx)
{
	struct guard *g = &relay_guards[w - relay_workers];
	struct relay_listener *l = &relay_listeners[idx];
	int n;

	for (n = 0; n < RELAY_ACCEPT_BATCH; n++) {
		struct sockaddr_storage peer, local = { 0 };
		socklen_t plen = sizeof(peer), llen = sizeof(local);
		char name[ADDR_STRLEN];
		struct worker *to;
		struct conn *c;
		int fd;

		guard_enter(g);
		fd = accept4(l->fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		guard_leave(g);
		if (fd < 0) {
			int err = errno;

			switch (util_accept_error(err)) {
			case UTIL_ACCEPT_EMPTY:
				return;		/* another worker took it */
			case UTIL_ACCEPT_NEXT:
				continue;
			case UTIL_ACCEPT_NO_FDS:
				if (relay_accept_shed(w, idx, err))
					continue;
				if (w->spare[0] < 0)
					relay_listener_give_up(w, idx);
				relay_accept_pause(w, err);
				return;
			case UTIL_ACCEPT_NO_MEMORY:
				relay_accept_pause(w, err);
				return;
			case UTIL_ACCEPT_INTERRUPTED:	/* by the guard */
				log_warn_limited(&w->lines, "a handed-over listening socket blocked the relay (the rendezvous peer made it blocking); no longer accepting on it");
				break;
			case UTIL_ACCEPT_BROKEN:
				if (err == EINVAL) {
					log_info("a handed-over listening socket was shut down; no longer accepting on it");
					atomic_store_explicit(&l->shut, 1, memory_order_release);
				}
				else
					log_warn_errno_limited(&w->lines, err, "cannot accept on a handed-over listening socket; no longer accepting on it");
				break;
			}
			listener_unwatch(w, idx, 0);
			return;
		}
		w->pause_ms = 0;
		tally_add(&w->tally.accepted, 1);
		addr_format((struct sockaddr *)&peer, plen, name, sizeof(name));
		if (!relay_admit(w, name)) {
			util_reset_close(fd);
			continue;
		}
		/* --proxy-protocol: the address it connected to (a wildcard listener has many). */
		if (relay.proxy_version && getsockname(fd, (struct sockaddr *)&local, &llen)) {
			log_debug("client %s: left before it was relayed", name);
			relay_count_release();
			close(fd);
			continue;
		}
		c = conn_new(fd, name, l->target, (struct sockaddr *)&peer, (struct sockaddr *)&local);
		if (!c) {
			log_warn_limited(&w->lines, "client %s: out of memory", name);
			relay_count_release();
			util_reset_close(fd);
			continue;
		}
		c->ours = 1;
		to = relay_pick(w);
		if (to == w)
			relay_begin(w, c);
		else
			relay_hand(to, c);
	}
}

/**
 * relay_listener_add() - let every worker accept on a handed-over
 * listening socket
 * @fd:		the socket (checked: listening TCP); the relay's from now on
 * @target:	index into opts->targets
 * @owner:	who sent it, for relay_listeners_drop()
 *
 * Return: 0; or -1 if RELAY_LISTENERS are in use already (@fd is the
 * caller's still: relay_close_listener()).
 */
int relay_listener_add(int fd, unsigned int target, int owner)
{
	struct relay_listener *l = NULL;
	uint32_t i;

	for (i = 0; i < RELAY_LISTENERS && !l; i++)
		if (!atomic_load_explicit(&relay_listeners[i].busy, memory_order_acquire))
			l = &relay_listeners[i];
	if (!l)
		return -1;
	i = (uint32_t)(l - relay_listeners);
	atomic_store_explicit(&l->busy, 1, memory_order_relaxed);
	l->fd = fd;
	l->target = (uint16_t)target;
	l->owner = owner;
	l->gen = (l->gen + 1) & EV_GEN_MASK;
	l->dropping = 0;
	atomic_store_explicit(&l->giving_up, 0, memory_order_relaxed);
	atomic_store_explicit(&l->shut, 0, memory_order_relaxed);
	atomic_store_explicit(&l->refs, relay_nworkers, memory_order_release);
	for (unsigned int k = 0; k < relay_nworkers; k++)
		listener_post(&relay_workers[k], RELAY_CMD_ADD | i);
	return 0;
}

/**
 * relay_listener_held() - does @owner have a listening socket for @target
 * here already?
 * @owner:	as given to relay_listener_add()
 * @target:	index into opts->targets
 *
 * One per forward is what an ntb-listen sends: so a peer holds at most as
 * many slots as there are targets, not all RELAY_LISTENERS.
 *
 * Return: 1 or 0.
 */
int relay_listener_held(int owner, unsigned int target)
{
	uint32_t i;

	for (i = 0; i < RELAY_LISTENERS; i++) {
		const struct relay_listener *l = &relay_listeners[i];

		if (atomic_load_explicit(&l->busy, memory_order_acquire) && !l->dropping &&
		    l->owner == owner && l->target == target)
			return 1;
	}
	return 0;
}

/**
 * relay_listeners_drop() - stop accepting on the listening sockets of
 * @owner, or on all of them (@owner -1)
 * @owner:	as given to relay_listener_add(), or -1
 * @back:	if not NULL, called with the owner and target of each socket
 *		dropped, to tell its sender
 *
 * The workers let go in their own time; the last one closes the socket.
 */
void relay_listeners_drop(int owner, void (*back)(int owner, unsigned int target))
{
	uint32_t i;

	for (i = 0; i < RELAY_LISTENERS; i++) {
		struct relay_listener *l = &relay_listeners[i];

		if (l->dropping || (owner >= 0 && l->owner != owner) ||
		    !atomic_load_explicit(&l->busy, memory_order_acquire))
			continue;
		l->dropping = 1;
		if (back)
			back(l->owner, l->target);
		/* Every worker gave up on it by itself: the orphan list has it. */
		if (!atomic_load_explicit(&l->refs, memory_order_acquire))
			continue;
		for (unsigned int k = 0; k < relay_nworkers; k++)
			listener_post(&relay_workers[k], i);
	}
}

/**
 * relay_listeners_orphaned() - give back the listening sockets a worker
 * gave up on (relay_listener_give_up()), and close those every worker
 * gave up on by itself, on the main thread
 * @back:	called with the owner and target of each one nobody had asked
 *		to drop, to tell its sender
 * @back_given_up:	the same for one a worker gave up on; that worker
 *		said why already
 */
void relay_listeners_orphaned(void (*back)(int owner, unsigned int target),
			      void (*back_given_up)(int owner, unsigned int target))
{
	uint32_t list[RELAY_LISTENERS], up[RELAY_LISTENERS][2];
	unsigned int n, nup, i;

	pthread_mutex_lock(&relay_orphans_lock);
	n = relay_norphans;
	memcpy(list, relay_orphans, n * sizeof(list[0]));
	relay_norphans = 0;
	nup = relay_ngiveups;
	memcpy(up, relay_giveups, nup * sizeof(up[0]));
	relay_ngiveups = 0;
	pthread_mutex_unlock(&relay_orphans_lock);
	/* First: one every worker has let go of is closed below, not dropped. */
	for (i = 0; i < nup; i++) {
		struct relay_listener *l = &relay_listeners[up[i][0]];

		if (l->dropping || l->gen != up[i][1] ||
		    !atomic_load_explicit(&l->busy, memory_order_acquire))
			continue;
		l->dropping = 1;
		back_given_up(l->owner, l->target);
		if (!atomic_load_explicit(&l->refs, memory_order_acquire))
			continue;
		for (unsigned int k = 0; k < relay_nworkers; k++)
			listener_post(&relay_workers[k], up[i][0]);
	}
	for (i = 0; i < n; i++) {
		struct relay_listener *l = &relay_listeners[list[i]];

		/* One its sender shut down (stopping, as a rule) it does not want back. */
		if (!l->dropping) {
			l->dropping = 1;
			if (!atomic_load_explicit(&l->shut, memory_order_acquire))
				back(l->owner, l->target);
		}
		listener_close(&relay_guards[0], l->fd);
		atomic_store_explicit(&l->busy, 0, memory_order_release);
	}
}

/**
 * relay_close_listener() - close a listening socket from the rendezvous
 * that will not be accepted on, on the main thread
 * @fd:		the socket
 *
 * Not disconnected as relay_close_received() does: ntb-listen still
 * listens on it.
 */
void relay_close_listener(int fd)
{
	listener_close(&relay_guards[0], fd);
}
