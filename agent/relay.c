// SPDX-License-Identifier: MIT
/*
 * relay.c - ntb-connect's data path: connect to the target, then splice.
 *
 * Theory of operation: the main thread receives client sockets from the
 * rendezvous and hands each to a worker, round robin unless the next in
 * turn has clearly more open than another (relay_pick()).  Worker 0 is the
 * main thread itself (its epoll set is the main one), so its share
 * needs no cross-thread wake-up; workers 1..N-1 are threads.  A worker
 * owns its connections for their whole life: one epoll set
 * (edge-triggered), one eventfd for new work, one pool of pipes, no locks
 * on the hot path.
 *
 * Per connection, side 0 is the client and side 1 the target; direction
 * d moves bytes from fd[d] to fd[!d] through a pipe with splice(2), so
 * bulk payload never enters user space; a direction that carries little
 * (a read that does not fill RELAY_SMALL) goes by recv/send through a
 * buffer on the stack instead, two calls where splice takes three
 * (relay_small()).  A direction holds a pipe only while
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
 * extra copy of the client fd per connection, and no cross-thread
 * wake-up unless the worker that accepted a client has clearly more open
 * than another, which then takes it (relay_pick()).
 * The main thread never touches a worker's listeners directly: it queues
 * "add" and "drop" commands, and the last worker to drop a listener
 * closes it, so no worker can accept on an fd that was closed under it.
 *
 * The client socket is shared with the rendezvous peer that sent it (see
 * guard.c).  Epoll knows a connection only by slot index and generation
 * (common/event.h), never by pointer, and the client socket leaves the
 * epoll set before it is closed: the sender's copy keeps the open file,
 * and with it an epoll registration, alive after our close.
 *
 * This file holds the workers, their loop and the counters; the rest of
 * the relay is cut by job into relay_splice.c (the hot path), relay_conn.c,
 * relay_target.c and relay_accept.c (see relay_internal.h).
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

void relay_tally_connect_failed(struct worker *w, int err)
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
 * peer's socket would be; NTB_TEST_NO_SPARE=MASK: the workers of MASK
 * never have a spare pipe, as when other workers' accepts took the fds
 * each freed.  Off unless set; none gives a peer anything.  (And
 * NTB_TEST_WORKERS, the default worker count: agent/connect.c.)
 */
static long relay_test_stall_ms;

/**
 * relay_active() - connections currently open (connecting or relaying)
 *
 * Return: the count.
 */
unsigned int relay_active(void)
{
	return atomic_load(&relay_count);
}

/* Refusals over --max-connections, from any thread: one line limit. */
static struct log_limit relay_refused;
static pthread_mutex_t relay_refused_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * relay_admit() - may one more connection open (--max-connections)?
 * @w:		the worker (or worker 0: the main thread) that would take it
 * @name:	the client's address, for the line that refuses it
 *
 * Return: 1 if it may, and then it counts in relay_active() already
 * (conn_new() takes that over; without a connection, relay_count_release()
 * gives it back); 0 if it was refused (counted, one rate-limited line for
 * all threads: a flood must not get a line rate per worker).  The caller
 * resets the client.
 */
int relay_admit(struct worker *w, const char *name)
{
	unsigned int n = atomic_load(&relay_count);

	/*
	 * Counted here, not when the connection is made: two workers that
	 * both saw room for one more cannot both take it.
	 */
	do {
		if (relay.max_conns && n >= relay.max_conns)
			break;
	} while (!atomic_compare_exchange_weak(&relay_count, &n, n + 1));
	if (!relay.max_conns || n < relay.max_conns)
		return 1;
	pthread_mutex_lock(&relay_refused_lock);
	log_warn_limited(&relay_refused, "client %s: refused, %u connections already open",
			 name, relay.max_conns);
	pthread_mutex_unlock(&relay_refused_lock);
	tally_add(&w->tally.refused_limit, 1);
	return 0;
}

unsigned int relay_worker_count(void)
{
	return relay_nworkers;
}

/* syscalls: read clock_nanosleep */
static void relay_take_incoming(struct worker *w)
{
	struct conn_queue list = STAILQ_HEAD_INITIALIZER(list);
	struct conn *c;
	uint64_t v;

	if (read(w->evfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_debug("eventfd read failed");
	pthread_mutex_lock(&w->lock);
	STAILQ_CONCAT(&list, &w->incoming);
	/* In order: a listener's drop follows its add. */
	while (w->cmd_len) {
		uint32_t cmd = w->cmds[w->cmd_head];

		if (w->test_stall == 1 && !(cmd & RELAY_CMD_ADD)) {
			w->test_stall = 2;
			break;
		}
		w->cmd_head = (w->cmd_head + 1) % RELAY_CMD_RING;
		w->cmd_len--;
		relay_listener_command(w, cmd);
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
	while ((c = STAILQ_FIRST(&list))) {
		STAILQ_REMOVE_HEAD(&list, incoming);
		relay_begin(w, c);
	}
}

static void relay_expire(struct worker *w)
{
	long long now = util_now_ms();
	struct conn *c;

	if (w->accept_resume && now >= w->accept_resume)
		relay_accept_resume(w);
	while ((c = TAILQ_FIRST(&w->connecting)) && c->deadline <= now) {
		log_warn_limited(&w->lines, "client %s: cannot connect to the target: timed out after %d ms",
			 c->name, relay.connect_timeout_ms);
		relay_tally_connect_failed(w, ETIMEDOUT);
		conn_end(w, c, 1, RELAY_END_TIMED_OUT);
	}
	while ((c = TAILQ_FIRST(&w->idle)) && c->last_active + relay.idle_timeout_ms <= now) {
		log_warn_limited(&w->lines, "client %s: idle for %d s; reset", c->name,
				 relay.idle_timeout_ms / 1000);
		tally_add(&w->tally.idle_closed, 1);
		conn_end(w, c, 0, RELAY_END_IDLE);
	}
}

/* Milliseconds until @w's first connect or idle time-out, or -1 for none. */
static int relay_timeout(struct worker *w)
{
	int timeout = util_sooner(-1, w->accept_resume);

	if (!TAILQ_EMPTY(&w->connecting))
		timeout = util_sooner(timeout, TAILQ_FIRST(&w->connecting)->deadline);
	if (!TAILQ_EMPTY(&w->idle))
		timeout = util_sooner(timeout, TAILQ_FIRST(&w->idle)->last_active + relay.idle_timeout_ms);
	return timeout;
}

/*
 * One event of @w's: a wake-up, a listener or a connection.
 *
 * Return: 1, or 0 if @tag is of none of these kinds (worker 0 shares the
 * main thread's epoll set, whose other events are the main thread's).
 */
static int relay_event(struct worker *w, uint64_t tag, uint32_t events)
{
	struct conn *c;

	switch (ev_kind_of(tag)) {
	case EV_WAKE:
		relay_take_incoming(w);
		return 1;
	case EV_LISTEN:
		/* Dropped earlier in this batch, or an older socket in its slot: stale. */
		if (ev_index(tag) < RELAY_LISTENERS && w->lwatch[ev_index(tag)] == ev_gen(tag) + 1)
			relay_accept(w, ev_index(tag));
		return 1;
	case EV_CONN:
		/* Ended earlier in this batch, or never ours: drop it. */
		c = conn_slot_find(w, tag);
		if (!c)
			return 1;
		if (c->state == CONN_CONNECTING) {
			if (ev_side(tag) == 1)
				relay_connect_done(w, c, events);
			return 1;
		}
		relay_conn_event(w, c, (int)ev_side(tag), events);
		return 1;
	default:
		return 0;
	}
}

/* Wait up to @timeout ms for events of worker thread @w and handle them. */
/* syscalls: epoll_wait epoll_pwait */
static void relay_poll(struct worker *w, int timeout)
{
	struct epoll_event ev[RELAY_EVENTS];
	int n, i;

	n = epoll_wait(w->epfd, ev, RELAY_EVENTS, timeout);
	if (n < 0 && errno != EINTR)
		log_die_errno(errno, "relay: epoll_wait failed");
	for (i = 0; i < n; i++)
		relay_event(w, ev[i].data.u64, ev[i].events);
	relay_expire(w);
}

static void *relay_worker(void *arg)
{
	struct worker *w = arg;

	for (;;)
		relay_poll(w, relay_timeout(w));
	return NULL;
}

/*
 * Worker 0 is the main thread itself, in the main thread's epoll set: a
 * connection it takes needs no hand-off to another thread, --workers 1
 * runs no thread at all, and an event of its costs one epoll_wait, not a
 * second one on a nested set.
 */

/**
 * relay_main_timeout() - how long the main thread may sleep for worker 0
 *
 * Return: milliseconds until worker 0's next time-out, or -1.
 */
int relay_main_timeout(void)
{
	return relay_timeout(&relay_workers[0]);
}

/**
 * relay_main_event() - handle an event of the main epoll set if it is
 * worker 0's
 * @tag:	its epoll_data.u64
 * @events:	its events
 *
 * Return: 1 if it was worker 0's, 0 if it is the caller's.
 */
int relay_main_event(uint64_t tag, uint32_t events)
{
	return relay_event(&relay_workers[0], tag, events);
}

/**
 * relay_main_expire() - worker 0's time-outs that are due, after each
 * round of the main loop
 */
void relay_main_expire(void)
{
	relay_expire(&relay_workers[0]);
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
		const char *nospare = getenv("NTB_TEST_NO_SPARE");
		unsigned long m = mask ? strtoul(mask, NULL, 0) : 0;
		unsigned long ns = nospare ? strtoul(nospare, NULL, 0) : 0;

		relay_test_stall_ms = ms ? strtol(ms, NULL, 10) : 0;
		for (i = 0; i < relay_nworkers && i < 8 * sizeof(m); i++) {
			relay_workers[i].test_unwatchable = ((m >> i) & 1) != 0;
			relay_workers[i].test_stall = (m >> i) & 1 && relay_test_stall_ms > 0 && i > 0;
			relay_workers[i].test_no_spare = ((ns >> i) & 1) != 0;
		}
		if (m)
			log_notice("test hook: workers of mask %#lx cannot watch listening sockets%s",
				   m, relay_test_stall_ms ? ", and hold back at their first drop" : "");
		if (ns)
			log_notice("test hook: workers of mask %#lx have no spare pipe", ns);
	}
	/* Not fatal: an allocator that refuses (ASan's) is not glibc's. */
	if (!mallopt(M_ARENA_MAX, (int)relay_nworkers + 1))
		log_info("malloc did not take an arena limit; going on");
	guard_init();
	for (i = 0; i < relay_nworkers; i++) {
		struct worker *w = &relay_workers[i];
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = ev_tag(EV_WAKE, 0, 0, 0) };

		w->free_slot = UINT32_MAX;
		STAILQ_INIT(&w->incoming);
		TAILQ_INIT(&w->connecting);
		TAILQ_INIT(&w->idle);
		/* Worker 0's set is the main thread's (relay_main_event()). */
		w->epfd = i || opts->main_epfd < 0 ? epoll_create1(EPOLL_CLOEXEC) : opts->main_epfd;
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
		pthread_attr_setstacksize(&attr, RELAY_WORKER_STACK);
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

/*
 * relay_pick() - the worker a new connection goes to
 * @w:		the one that would take it: the worker that accepted it, or
 *		the next in turn for one received
 *
 * What a worker has open is the load measure there is at no cost: it
 * cannot tell a busy stream from an idle one, but it spreads what
 * EPOLLEXCLUSIVE does not.  That wakes the first worker asleep on the
 * listener, in the order they began watching it, so on an idle machine
 * the same worker wins every arrival and a burst of long streams lands on
 * one thread.  A hand-off costs a lock and perhaps a wake-up of the other
 * thread, so @w keeps the connection unless another worker has clearly
 * fewer: a quarter fewer, and at least one.  Ties go to the first worker
 * after @w, so handed-off connections go round rather than to worker 0.
 *
 * Return: the worker, its load counted with the new connection.
 */
struct worker *relay_pick(struct worker *w)
{
	unsigned int own = atomic_load_explicit(&w->load, memory_order_relaxed);
	unsigned int best = own, i, at = (unsigned int)(w - relay_workers);
	struct worker *to = w;

	for (i = 1; i < relay_nworkers && best; i++) {
		struct worker *o = &relay_workers[(at + i) % relay_nworkers];
		unsigned int load = atomic_load_explicit(&o->load, memory_order_relaxed);

		if (load < best) {
			best = load;
			to = o;
		}
	}
	if (best + best / 4 >= own)
		to = w;
	atomic_fetch_add_explicit(&to->load, 1, memory_order_relaxed);
	return to;
}

/*
 * relay_hand() - queue @c for worker @to, another thread (or worker 0,
 * the main thread, from a worker thread)
 *
 * syscalls: write
 */
void relay_hand(struct worker *to, struct conn *c)
{
	uint64_t one = 1;
	int wake;

	pthread_mutex_lock(&to->lock);
	/* A worker with work already queued will see this one too: no wake-up. */
	wake = STAILQ_EMPTY(&to->incoming) && !to->cmd_len;
	STAILQ_INSERT_TAIL(&to->incoming, c, incoming);
	pthread_mutex_unlock(&to->lock);
	if (wake && write(to->evfd, &one, sizeof(one)) < 0)
		log_debug("cannot wake worker");
}

/**
 * relay_submit() - give a received client socket to a worker
 * @client_fd:	the client; owned by the relay from now on
 * @client_name:	its address, for the log
 * @target:	index into opts->targets (the caller checked it)
 *
 * Over the connection limit, the client is reset at once.
 */
void relay_submit(int client_fd, const char *client_name, unsigned int target,
		  const struct sockaddr *src, const struct sockaddr *dst)
{
	struct worker *w;
	struct conn *c;

	/* The main thread is worker 0: its counters and lines are ours. */
	if (!relay_admit(&relay_workers[0], client_name)) {
		relay_close_received(client_fd);
		return;
	}
	c = conn_new(client_fd, client_name, target, src, dst);
	if (!c) {
		log_warn_limited(&relay_workers[0].lines, "client %s: out of memory", client_name);
		relay_count_release();
		relay_close_received(client_fd);
		return;
	}

	w = relay_pick(&relay_workers[relay_next++ % relay_nworkers]);
	if (w == &relay_workers[0])
		relay_begin(w, c);	/* ours: the main thread is worker 0 */
	else
		relay_hand(w, c);
}

/**
 * relay_loads() - what each worker has open now, "3/2/0/1"
 * @buf:	where to write
 * @size:	its size; a list that does not fit ends in "..."
 */
void relay_loads(char *buf, size_t size)
{
	size_t len = 0;
	unsigned int i;

	if (size)
		*buf = 0;
	for (i = 0; i < relay_nworkers && len < size; i++) {
		int n = snprintf(buf + len, size - len, "%s%u", i ? "/" : "",
				 atomic_load_explicit(&relay_workers[i].load, memory_order_relaxed));

		if (n < 0 || (size_t)n >= size - len) {
			if (size >= 4)
				strlcpy(buf + size - 4, "...", 4);
			return;
		}
		len += (size_t)n;
	}
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
		for (e = 0; e < RELAY_NENDS; e++)
			t->ends[e] += atomic_load_explicit(&y->ends[e], memory_order_relaxed);
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

/**
 * relay_end_name() - what @why is called in the log and the counters
 * @why:	an end reason
 *
 * Return: a constant string.
 */
const char *relay_end_name(enum relay_end why)
{
	static const char *const names[RELAY_NENDS] = {
		[RELAY_END_CLIENT_CLOSED] = "client closed",
		[RELAY_END_TARGET_CLOSED] = "target closed",
		[RELAY_END_CLIENT_RESET] = "client reset",
		[RELAY_END_TARGET_RESET] = "target reset",
		[RELAY_END_REFUSED] = "refused",
		[RELAY_END_TIMED_OUT] = "connect timed out",
		[RELAY_END_UNREACHABLE] = "unreachable",
		[RELAY_END_CONNECT_FAILED] = "connect failed",
		[RELAY_END_IDLE] = "idle",
		[RELAY_END_POLICY] = "policy",
		[RELAY_END_FDS] = "out of fds",
		[RELAY_END_WATCHDOG] = "watchdog",
		[RELAY_END_ERROR] = "error",
	};

	return (unsigned int)why < RELAY_NENDS && names[why] ? names[why] : "?";
}

/**
 * relay_end_names() - "client closed 3, idle 1" for the non-zero end
 * reason counts, or "" when there are none
 * @buf:	where to write
 * @size:	its size
 * @ends:	RELAY_NENDS counts, as in struct relay_totals
 */
void relay_end_names(char *buf, size_t size, const unsigned long long *ends)
{
	size_t len = 0;
	unsigned int e;

	buf[0] = '\0';
	for (e = 0; e < RELAY_NENDS && len < size; e++) {
		int n;

		if (!ends[e])
			continue;
		n = snprintf(buf + len, size - len, "%s%s %llu", len ? ", " : "",
			     relay_end_name((enum relay_end)e), ends[e]);
		if (n < 0)
			break;
		len += (size_t)n;
	}
}
