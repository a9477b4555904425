// SPDX-License-Identifier: MIT
/*
 * relay.c - ntb-connect's data path: connect to the target, then splice.
 *
 * Theory of operation: the main thread receives client sockets from the
 * rendezvous and hands each to a worker, round robin.  Worker 0 is the
 * main thread itself (its epoll set nests in the main one), so its share
 * needs no cross-thread wake-up; workers 1..N-1 are threads.  A worker
 * owns its connections for their whole life: one epoll set
 * (edge-triggered), one eventfd for new work, one pool of pipes, no locks
 * on the hot path.
 *
 * Per connection, side 0 is the client and side 1 the target; direction
 * d moves bytes from fd[d] to fd[!d] through a pipe with splice(2), so
 * payload never enters user space.  A direction holds a pipe only while
 * bytes are in flight: an idle connection costs its struct and two
 * sockets, nothing more.  After every event both directions are shovelled
 * until neither moves; with edge triggering that is what re-arms the next
 * event.  EPOLLOUT is asked for on a socket only while bytes wait in the
 * pipe towards it: every ACK would otherwise wake the worker for nothing.  EOF on fd[d] with an empty pipe becomes shutdown(fd[!d],
 * SHUT_WR) (half-close keeps the other direction flowing).  An error on
 * either socket (reset, or EPIPE writing to it) becomes a reset of the
 * other: the socket is disconnected (connect AF_UNSPEC, which sends RST)
 * and closed, so the peer sees RST, not FIN.
 *
 * Listener hand-off: ntb-listen may instead send its listening sockets,
 * once each (relay_listener_add()).  A socket keeps the namespace it was
 * made in, so every worker then accepts clients of namespace A itself,
 * from one shared listener registered in each worker's epoll set with
 * EPOLLEXCLUSIVE (one worker woken per arrival, not all): no record, no
 * cross-thread wake-up, no extra copy of the client fd per connection.
 * The main thread never touches a worker's listeners directly: it queues
 * "add" and "drop" commands, and the last worker to drop a listener
 * closes it, so no worker can accept on an fd that was closed under it.
 *
 * The client socket is shared with the rendezvous peer that sent it (see
 * guard.c).  Epoll knows a connection only by slot index and generation
 * (common/event.h), never by pointer, and the client socket leaves the
 * epoll set before it is closed: the sender's copy keeps the open file,
 * and with it an epoll registration, alive after our close.
 */
#include "relay.h"
#include "relay_internal.h"
#include "event.h"
#include "guard.h"
#include "log.h"
#include "proxy.h"
#include "util.h"

#include <assert.h>
#include <bsd/string.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const int relay_errnos[] = RELAY_ERRNOS;

void tally_connect_failed(struct worker *w, int err)
{
	unsigned int i;

	for (i = 0; i < RELAY_NERRNOS - 1 && relay_errnos[i] != err; i++)
		;
	tally_add(&w->tally.connect_failed[i], 1);
}

struct relay_opts relay;
struct worker relay_workers[RELAY_MAX_WORKERS];
/* One per worker: guard.c watches them. */
struct guard relay_guards[RELAY_MAX_WORKERS];
unsigned int relay_nworkers;
static unsigned int relay_next;
atomic_uint relay_count;
/*
 * Test hooks, read from the environment at start (tests/integration/
 * 50-hostile.sh): NTB_TEST_UNWATCHABLE=MASK: the workers of MASK (bit i,
 * worker i) fail to watch every listening socket, as at the user's epoll
 * watch limit; NTB_TEST_STALL_MS=N: such a worker, at the first drop
 * command it finds, stops taking commands for N ms, as one held by a
 * peer's socket would be.  Off unless set; neither gives a peer anything.
 */
static long relay_test_stall_ms;

static struct relay_listener relay_listeners[RELAY_LISTENERS];
/*
 * Listeners no worker watches any more, though nobody asked them to stop
 * (every worker gave up on its own): the main thread tells their sender
 * and closes them (relay_listeners_orphaned()).  A slot is here once at
 * most: it stays busy until then.
 */
static uint32_t relay_orphans[RELAY_LISTENERS];
static unsigned int relay_norphans;
static pthread_mutex_t relay_orphans_lock = PTHREAD_MUTEX_INITIALIZER;
/* Refusals over --max-connections, from any worker: one line limit. */
static struct log_limit relay_refused;
static pthread_mutex_t relay_refused_lock = PTHREAD_MUTEX_INITIALIZER;

/**
 * relay_active() - connections currently open (connecting or relaying)
 *
 * Return: the count.
 */
unsigned int relay_active(void)
{
	return atomic_load(&relay_count);
}

unsigned int relay_worker_count(void)
{
	return relay_nworkers;
}

static void listener_command(struct worker *w, uint32_t cmd);
static void relay_spare_make(struct worker *w);
static void relay_accept(struct worker *w, uint32_t idx);
static void relay_accept_resume(struct worker *w);

/* syscalls: read clock_nanosleep */
static void relay_take_incoming(struct worker *w)
{
	struct conn *list, *c;
	uint64_t v;

	if (read(w->evfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_debug("eventfd read failed");
	pthread_mutex_lock(&w->lock);
	list = w->incoming;
	w->incoming = NULL;
	/* In order: a listener's drop follows its add. */
	while (w->cmd_len) {
		uint32_t cmd = w->cmds[w->cmd_head];

		if (w->test_stall == 1 && !(cmd & RELAY_CMD_ADD)) {
			w->test_stall = 2;
			break;
		}
		w->cmd_head = (w->cmd_head + 1) % RELAY_CMD_RING;
		w->cmd_len--;
		listener_command(w, cmd);
	}
	pthread_mutex_unlock(&w->lock);
	if (w->test_stall == 2) {
		struct timespec t = { .tv_sec = relay_test_stall_ms / 1000,
				      .tv_nsec = relay_test_stall_ms % 1000 * 1000000L };

		log_notice("test hook: worker %u holds back for %ld ms with %u commands waiting",
			   (unsigned int)(w - relay_workers), relay_test_stall_ms, w->cmd_len);
		nanosleep(&t, NULL);
		w->test_stall = 0;
		relay_take_incoming(w);
	}
	/* The list is newest first; order does not matter for correctness. */
	while (list) {
		c = list;
		list = c->next;
		c->next = NULL;
		relay_begin(w, c);
	}
}

static void relay_expire(struct worker *w)
{
	long long now = util_now_ms();

	if (w->accept_resume && now >= w->accept_resume)
		relay_accept_resume(w);
	while (w->connecting && w->connecting->deadline <= now) {
		struct conn *c = w->connecting;

		log_warn_limited(&w->lines, "client %s: cannot connect to the target: timed out after %d ms",
			 c->name, relay.connect_timeout_ms);
		tally_connect_failed(w, ETIMEDOUT);
		conn_end(w, c, 1);
	}
	while (w->idle_head && w->idle_head->last_active + relay.idle_timeout_ms <= now) {
		struct conn *c = w->idle_head;

		log_warn_limited(&w->lines, "client %s: idle for %d s; reset", c->name,
				 relay.idle_timeout_ms / 1000);
		tally_add(&w->tally.idle_closed, 1);
		conn_end(w, c, 0);
	}
}

/* Milliseconds until @w's first connect or idle time-out, or -1 for none. */
static int relay_timeout(struct worker *w)
{
	long long left, when = -1;

	if (w->connecting)
		when = w->connecting->deadline;
	if (w->idle_head && (when < 0 || w->idle_head->last_active + relay.idle_timeout_ms < when))
		when = w->idle_head->last_active + relay.idle_timeout_ms;
	if (w->accept_resume && (when < 0 || w->accept_resume < when))
		when = w->accept_resume;
	if (when < 0)
		return -1;
	left = when - util_now_ms();
	return left < 0 ? 0 : left > 60000 ? 60000 : (int)left;
}

/* Wait up to @timeout ms for events of @w and handle them. */
/* syscalls: epoll_wait epoll_pwait */
static void relay_poll(struct worker *w, int timeout)
{
	struct epoll_event ev[RELAY_EVENTS];
	int n, i;

	n = epoll_wait(w->epfd, ev, RELAY_EVENTS, timeout);
	if (n < 0 && errno != EINTR)
		log_die_errno(errno, "relay: epoll_wait failed");
	for (i = 0; i < n; i++) {
		uint64_t tag = ev[i].data.u64;
		struct conn *c;

		if (ev_kind_of(tag) == EV_WAKE) {
			relay_take_incoming(w);
			continue;
		}
		if (ev_kind_of(tag) == EV_LISTEN) {
			/* Dropped earlier in this batch, or an older socket in its slot: stale. */
			if (ev_index(tag) < RELAY_LISTENERS &&
			    w->lwatch[ev_index(tag)] == ev_gen(tag) + 1)
				relay_accept(w, ev_index(tag));
			continue;
		}
		/* Ended earlier in this batch, or never ours: drop it. */
		c = ev_kind_of(tag) == EV_CONN ? slot_find(w, tag) : NULL;
		if (!c)
			continue;
		if (c->state == CONN_CONNECTING) {
			if (ev_side(tag) == 1)
				relay_connect_done(w, c, ev[i].events);
			continue;
		}
		relay_conn_event(w, c, (int)ev_side(tag), ev[i].events);
	}
	relay_expire(w);
}

static void *relay_worker(void *arg)
{
	struct worker *w = arg;

	for (;;)
		relay_poll(w, relay_timeout(w));
	return NULL;
}

/**
 * relay_main_fd() - worker 0's epoll fd, for the main thread's epoll set
 *
 * Worker 0 is the main thread itself: a connection it takes needs no
 * hand-off to another thread, and --workers 1 runs no thread at all.
 *
 * Return: the fd; readable when worker 0 has events.
 */
int relay_main_fd(void)
{
	return relay_workers[0].epfd;
}

/**
 * relay_main_timeout() - how long the main thread may sleep for worker 0
 *
 * Return: milliseconds until worker 0's next connect time-out, or -1.
 */
int relay_main_timeout(void)
{
	return relay_timeout(&relay_workers[0]);
}

/**
 * relay_main_run() - handle worker 0's ready events without waiting
 */
void relay_main_run(void)
{
	relay_poll(&relay_workers[0], 0);
}

/* fs.pipe-max-size, or @cap if that is larger or unknown (read while we can). */
static int relay_pipe_limit(long cap)
{
	char buf[32] = "";
	long max = 0;
	int fd = open("/proc/sys/fs/pipe-max-size", O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		ssize_t n = read(fd, buf, sizeof(buf) - 1);

		if (n > 0)
			max = strtol(buf, NULL, 10);
		close(fd);
	}
	if (max <= 0 || max > cap)
		max = cap;
	return (int)max;
}

/**
 * relay_init() - set up workers' epoll sets and eventfds (before the sandbox)
 * @opts:	target and limits; opts->workers from 1 to RELAY_MAX_WORKERS
 * @p:		the policy whose keep list gets the relay's fds
 *
 * Also fixes malloc's arena count: past eight arenas, glibc reads
 * /sys/devices/system/cpu/online the first time a thread needs a new
 * one, and the sandbox has no open().  One arena per thread keeps the
 * workers apart without that read.
 *
 * Return: 0, or -1 with errno set.
 */
int relay_init(const struct relay_opts *opts, struct policy *p)
{
	unsigned int i;

	relay = *opts;
	relay_pipe_size = relay_pipe_limit(RELAY_PIPE_SIZE);
	relay_pipe_bulk = relay_pipe_limit(RELAY_PIPE_BULK);
	relay_nworkers = opts->workers;
	{
		const char *mask = getenv("NTB_TEST_UNWATCHABLE"), *ms = getenv("NTB_TEST_STALL_MS");
		unsigned long m = mask ? strtoul(mask, NULL, 0) : 0;

		relay_test_stall_ms = ms ? strtol(ms, NULL, 10) : 0;
		for (i = 0; i < relay_nworkers && i < 8 * sizeof(m); i++) {
			relay_workers[i].test_unwatchable = (m >> i) & 1;
			relay_workers[i].test_stall = (m >> i) & 1 && relay_test_stall_ms > 0 && i > 0;
		}
		if (m)
			log_notice("test hook: workers of mask %#lx cannot watch listening sockets%s",
				   m, relay_test_stall_ms ? ", and hold back at their first drop" : "");
	}
	/* Not fatal: an allocator that refuses (ASan's) is not glibc's. */
	if (!mallopt(M_ARENA_MAX, (int)relay_nworkers + 1))
		log_info("malloc did not take an arena limit; going on");
	guard_init();
	for (i = 0; i < relay_nworkers; i++) {
		struct worker *w = &relay_workers[i];
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = ev_tag(EV_WAKE, 0, 0, 0) };

		w->free_slot = UINT32_MAX;
		w->epfd = epoll_create1(EPOLL_CLOEXEC);
		w->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (w->epfd < 0 || w->evfd < 0 || epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->evfd, &ev))
			return -1;
		pthread_mutex_init(&w->lock, NULL);
		policy_keep_fd(p, w->epfd);
		policy_keep_fd(p, w->evfd);
	}
	if (relay.upstream_fd >= 0)
		policy_keep_fd(p, relay.upstream_fd);
	return 0;
}

/**
 * relay_start() - start worker threads 1..N-1 and the watchdog (after the
 * sandbox)
 *
 * syscalls: clone
 */
void relay_start(void)
{
	unsigned int i;

	relay_guards[0].thread = pthread_self();
	for (i = 0; i < relay_nworkers; i++) {
		relay_workers[i].spare[0] = relay_workers[i].spare[1] = -1;
		/* Only handed-over listeners need one (relay_accept_shed()). */
		if (relay.upstream_fd < 0 && !relay.connect_original)
			relay_spare_make(&relay_workers[i]);
	}
	for (i = 1; i < relay_nworkers; i++) {
		pthread_attr_t attr;
		int rc;

		pthread_attr_init(&attr);
		/* Workers need little stack: no recursion, small frames. */
		pthread_attr_setstacksize(&attr, (size_t)256 * 1024);
		rc = pthread_create(&relay_workers[i].thread, &attr, relay_worker,
				    &relay_workers[i]);
		pthread_attr_destroy(&attr);
		if (rc)
			log_die_errno(rc, "cannot start relay worker %u", i);
		relay_guards[i].thread = relay_workers[i].thread;
	}
	/* After every guard names its thread: the watchdog reads them. */
	guard_start(relay_guards, relay_nworkers);
}

/**
 * relay_close_received() - close an fd from the rendezvous that will not
 * be relayed, on the main thread
 * @fd:		the fd
 *
 * A TCP socket is disconnected first (its close can then not wait for a
 * linger time its sender chose), and the close runs under the main
 * thread's guard.
 */
void relay_close_received(int fd)
{
	guard_enter(&relay_guards[0]);
	util_abort_close(fd);
	guard_leave(&relay_guards[0]);
}

/**
 * relay_submit() - give a received client socket to a worker
 * @client_fd:	the client; owned by the relay from now on
 * @client_name:	its address, for the log
 * @target:	index into opts->targets (the caller checked it)
 *
 * Over the connection limit, the client is reset at once.
 *
 * syscalls: write
 */
void relay_submit(int client_fd, const char *client_name, unsigned int target,
		  const struct sockaddr *src, const struct sockaddr *dst)
{
	struct worker *w;
	struct conn *c;
	uint64_t one = 1;
	int wake;

	static struct log_limit refused;

	if (relay.max_conns && relay_active() >= relay.max_conns) {
		log_warn_limited(&refused, "client %s: refused, %u connections already open",
				 client_name, relay.max_conns);
		/* The main thread is worker 0: its counters are ours to write. */
		tally_add(&relay_workers[0].tally.refused_limit, 1);
		relay_close_received(client_fd);
		return;
	}
	c = conn_new(client_fd, client_name, target, src, dst);
	if (!c) {
		log_warn_limited(&refused, "client %s: out of memory", client_name);
		relay_close_received(client_fd);
		return;
	}

	w = &relay_workers[relay_next++ % relay_nworkers];
	if (w == &relay_workers[0]) {
		/* Ours: the main thread is worker 0. */
		relay_begin(w, c);
		return;
	}
	pthread_mutex_lock(&w->lock);
	/* A worker with work already queued will see this one too: no wake-up. */
	wake = !w->incoming && !w->cmd_len;
	c->next = w->incoming;
	w->incoming = c;
	pthread_mutex_unlock(&w->lock);
	if (wake && write(w->evfd, &one, sizeof(one)) < 0)
		log_debug("cannot wake worker");
}

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
static void listener_command(struct worker *w, uint32_t cmd)
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
		listener_command(w, cmd);
		return;
	}
	pthread_mutex_lock(&w->lock);
	if (w->cmd_len == RELAY_CMD_RING) {
		/* Cannot happen (RELAY_CMDS_PER_SLOT); were it to, losing a command leaks a slot. */
		pthread_mutex_unlock(&w->lock);
		log_die("relay worker %u: listener command ring full (%d commands)",
			(unsigned int)(w - relay_workers), RELAY_CMD_RING);
	}
	wake = !w->incoming && !w->cmd_len;
	w->cmds[(w->cmd_head + w->cmd_len) % RELAY_CMD_RING] = cmd;
	w->cmd_len++;
	pthread_mutex_unlock(&w->lock);
	if (wake && write(w->evfd, &one, sizeof(one)) < 0)
		log_debug("cannot wake worker");
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

	w->pause_ms = w->pause_ms ? w->pause_ms * 2 : RELAY_PAUSE_MIN_MS;
	if (w->pause_ms > RELAY_PAUSE_MAX_MS)
		w->pause_ms = RELAY_PAUSE_MAX_MS;
	log_warn_errno_limited(&w->lines, err, "cannot accept clients; this worker pauses accepting for %d ms",
			       w->pause_ms);
	if (err == EMFILE || err == ENFILE)
		tally_add(&w->tally.refused_fds, 1);
	for (i = 0; i < RELAY_LISTENERS; i++)
		if (w->lwatch[i] && listener_epoll(w, i, EPOLL_CTL_DEL))
			log_debug("cannot pause a listening socket");
	w->accept_resume = util_now_ms() + w->pause_ms;
}

static void relay_accept_resume(struct worker *w)
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
static void relay_spare_make(struct worker *w)
{
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
 * worker
 *
 * The listener's open file is shared with the peer that sent it: it can
 * make it blocking (accept4() then sleeps until the guard interrupts it)
 * or shut it down.  Either way this worker stops accepting on it, with a
 * line; the others find out for themselves.
 *
 * syscalls: accept4 getsockname close
 */
static void relay_accept(struct worker *w, uint32_t idx)
{
	struct guard *g = &relay_guards[w - relay_workers];
	struct relay_listener *l = &relay_listeners[idx];
	int n;

	for (n = 0; n < RELAY_ACCEPT_BATCH; n++) {
		struct sockaddr_storage peer, local = { 0 };
		socklen_t plen = sizeof(peer), llen = sizeof(local);
		char name[ADDR_STRLEN];
		struct conn *c;
		int fd;

		guard_enter(g);
		fd = accept4(l->fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		guard_leave(g);
		if (fd < 0) {
			switch (errno) {
			case EAGAIN:
				return;		/* another worker took it */
			case ECONNABORTED: case EPROTO: case ENETDOWN: case ENOPROTOOPT:
			case EHOSTDOWN: case ENONET: case EHOSTUNREACH: case ENETUNREACH:
			case EPERM:
				continue;	/* that client's own failure (accept(2)) */
			case EMFILE: case ENFILE:
				if (relay_accept_shed(w, idx, errno))
					continue;
				relay_accept_pause(w, errno);
				return;
			case ENOBUFS: case ENOMEM:
				relay_accept_pause(w, errno);
				return;
			case EINTR:
				log_warn_limited(&w->lines, "a handed-over listening socket blocked the relay (the rendezvous peer made it blocking); no longer accepting on it");
				break;
			case EINVAL:
				log_info("a handed-over listening socket was shut down; no longer accepting on it");
				break;
			default:
				log_warn_errno_limited(&w->lines, errno, "cannot accept on a handed-over listening socket; no longer accepting on it");
				break;
			}
			listener_unwatch(w, idx, 0);
			return;
		}
		w->pause_ms = 0;
		tally_add(&w->tally.accepted, 1);
		addr_format((struct sockaddr *)&peer, plen, name, sizeof(name));
		if (relay.max_conns && relay_active() >= relay.max_conns) {
			/* One limit for all workers: a flood must not get a line rate per worker. */
			pthread_mutex_lock(&relay_refused_lock);
			log_warn_limited(&relay_refused, "client %s: refused, %u connections already open",
					 name, relay.max_conns);
			pthread_mutex_unlock(&relay_refused_lock);
			tally_add(&w->tally.refused_limit, 1);
			util_reset_close(fd);
			continue;
		}
		/* --proxy-protocol: the address it connected to (a wildcard listener has many). */
		if (relay.proxy_version && getsockname(fd, (struct sockaddr *)&local, &llen)) {
			log_debug("client %s: left before it was relayed", name);
			close(fd);
			continue;
		}
		c = conn_new(fd, name, l->target, (struct sockaddr *)&peer, (struct sockaddr *)&local);
		if (!c) {
			log_warn_limited(&w->lines, "client %s: out of memory", name);
			util_reset_close(fd);
			continue;
		}
		c->ours = 1;
		relay_begin(w, c);
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
 * relay_listeners_orphaned() - close the listening sockets every worker
 * gave up on by itself, on the main thread
 * @back:	called with the owner and target of each one nobody had asked
 *		to drop, to tell its sender
 */
void relay_listeners_orphaned(void (*back)(int owner, unsigned int target))
{
	uint32_t list[RELAY_LISTENERS];
	unsigned int n, i;

	pthread_mutex_lock(&relay_orphans_lock);
	n = relay_norphans;
	memcpy(list, relay_orphans, n * sizeof(list[0]));
	relay_norphans = 0;
	pthread_mutex_unlock(&relay_orphans_lock);
	for (i = 0; i < n; i++) {
		struct relay_listener *l = &relay_listeners[list[i]];

		if (!l->dropping) {
			l->dropping = 1;
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

/**
 * relay_totals() - the workers' counters, summed
 * @t:		filled in
 */
void relay_totals(struct relay_totals *t)
{
	unsigned int i, e;

	memset(t, 0, sizeof(*t));
	for (i = 0; i < relay_nworkers; i++) {
		struct tally *y = &relay_workers[i].tally;

		t->accepted += atomic_load_explicit(&y->accepted, memory_order_relaxed);
		t->conns += atomic_load_explicit(&y->conns, memory_order_relaxed);
		t->refused_limit += atomic_load_explicit(&y->refused_limit, memory_order_relaxed);
		t->refused_fds += atomic_load_explicit(&y->refused_fds, memory_order_relaxed);
		t->connect_ok += atomic_load_explicit(&y->connect_ok, memory_order_relaxed);
		for (e = 0; e < RELAY_NERRNOS; e++)
			t->connect_failed[e] +=
				atomic_load_explicit(&y->connect_failed[e], memory_order_relaxed);
		t->idle_closed += atomic_load_explicit(&y->idle_closed, memory_order_relaxed);
		t->bytes[0] += atomic_load_explicit(&y->bytes[0], memory_order_relaxed);
		t->bytes[1] += atomic_load_explicit(&y->bytes[1], memory_order_relaxed);
		t->resets += atomic_load_explicit(&y->resets, memory_order_relaxed);
	}
}

/**
 * relay_errno_names() - "ECONNREFUSED 3, ETIMEDOUT 1" for the non-zero
 * connect failure counts, or "" when there are none
 * @buf:	where to write
 * @size:	its size
 * @failed:	RELAY_NERRNOS counts, as in struct relay_totals
 */
void relay_errno_names(char *buf, size_t size, const unsigned long long *failed)
{
	size_t len = 0;
	unsigned int e;

	buf[0] = '\0';
	for (e = 0; e < RELAY_NERRNOS && len < size; e++) {
		const char *name = e < RELAY_NERRNOS - 1 ? strerrorname_np(relay_errnos[e]) : "other";
		int n;

		if (!failed[e])
			continue;
		n = snprintf(buf + len, size - len, "%s%s %llu", len ? ", " : "", name ? name : "?",
			     failed[e]);
		if (n < 0)
			break;
		len += (size_t)n;
	}
}
