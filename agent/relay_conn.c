// SPDX-License-Identifier: MIT
/*
 * relay_conn.c - a connection's life: made for a client (conn_new()),
 * given a slot that epoll names it by, listed while it connects, and
 * ended the one way there is (conn_end()).  See relay.c for the theory of
 * operation.
 */
#include "relay_internal.h"
#include "event.h"
#include "proxy.h"
#include "util.h"

#include <bsd/string.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

/*
 * Slots: what an epoll event names a connection by.  Chunks are made as
 * needed and kept; a slot's generation moves on when its connection ends,
 * so an event still queued for it is recognised as stale.
 */
int conn_slot_take(struct worker *w, struct conn *c)
{
	struct slot *s;
	uint32_t i;

	if (w->free_slot == UINT32_MAX) {
		uint32_t chunk = w->nslots / RELAY_SLOT_CHUNK;

		if (chunk >= RELAY_SLOT_CHUNKS)
			return -1;
		w->slots[chunk] = calloc(RELAY_SLOT_CHUNK, sizeof(struct slot));
		if (!w->slots[chunk])
			return -1;
		for (i = 0; i < RELAY_SLOT_CHUNK; i++)
			w->slots[chunk][i].next_free = i + 1 < RELAY_SLOT_CHUNK ?
						       w->nslots + i + 1 : UINT32_MAX;
		w->free_slot = w->nslots;
		w->nslots += RELAY_SLOT_CHUNK;
	}
	i = w->free_slot;
	s = &w->slots[i / RELAY_SLOT_CHUNK][i % RELAY_SLOT_CHUNK];
	w->free_slot = s->next_free;
	s->c = c;
	c->slot = i;
	c->gen = s->gen;
	return 0;
}

static void slot_release(struct worker *w, struct conn *c)
{
	struct slot *s = &w->slots[c->slot / RELAY_SLOT_CHUNK][c->slot % RELAY_SLOT_CHUNK];

	s->c = NULL;
	s->gen = (s->gen + 1) & EV_GEN_MASK;
	s->next_free = w->free_slot;
	w->free_slot = c->slot;
}

/* The live connection an event names, or NULL for a stale event. */
struct conn *conn_slot_find(struct worker *w, uint64_t tag)
{
	uint32_t i = ev_index(tag);
	struct slot *s;

	if (i >= w->nslots)
		return NULL;
	s = &w->slots[i / RELAY_SLOT_CHUNK][i % RELAY_SLOT_CHUNK];
	return s->c && s->gen == ev_gen(tag) ? s->c : NULL;
}

/*
 * One connection fewer, of @w's; the main thread hears when none are left.
 * syscalls: write
 */
void relay_count_drop(struct worker *w)
{
	atomic_fetch_sub_explicit(&w->load, 1, memory_order_relaxed);
	relay_count_release();
}

/*
 * One fewer in relay_active(): a connection that ended, or a client
 * relay_admit() counted that got no connection.
 * syscalls: write
 */
void relay_count_release(void)
{
	if (atomic_fetch_sub(&relay_count, 1) == 1 && relay.notify_fd >= 0) {
		uint64_t one = 1;

		if (write(relay.notify_fd, &one, sizeof(one)) < 0)
			log_debug("cannot wake the main thread");
	}
}

/* A connection's memory, with what only some modes allocate. */
void conn_free(struct conn *c)
{
	free(c->proxy_hdr);
	free(c->src);
	free(c->orig);
	free(c);
}

/* Where @c connects: its own destination (route mode) or its listener's target. */
const struct addr *conn_target(const struct conn *c)
{
	return c->orig ? c->orig : &relay.targets[c->target];
}

static const char *const conn_state_names[CONN_NSTATES] = {
	[CONN_NEW] = "new", [CONN_CONNECTING] = "connecting", [CONN_RELAYING] = "relaying",
	[CONN_HALF_CLOSED] = "half-closed", [CONN_ENDED] = "ended",
};

/* Which state may follow which: bit t of conn_moves[s] allows s -> t. */
static const uint8_t conn_moves[CONN_NSTATES] = {
	[CONN_NEW] = 1u << CONN_CONNECTING | 1u << CONN_RELAYING | 1u << CONN_ENDED,
	[CONN_CONNECTING] = 1u << CONN_RELAYING | 1u << CONN_ENDED,
	[CONN_RELAYING] = 1u << CONN_HALF_CLOSED | 1u << CONN_ENDED,
	[CONN_HALF_CLOSED] = 1u << CONN_ENDED,
};
static_assert(CONN_NSTATES <= 8, "conn_moves[] holds a bit per state");

/*
 * conn_set_state() - the one way a connection changes state
 *
 * A change conn_moves[] does not allow is a bug in the relay: it aborts
 * here rather than relay on a connection in a state nobody planned for.
 */
void conn_set_state(struct conn *c, enum conn_state to)
{
	if (c->state >= CONN_NSTATES || !(conn_moves[c->state] & (1u << to)))
		log_die("relay: client %s: no change from state %u to %u", c->name,
			(unsigned int)c->state, (unsigned int)to);
	log_debug("client %s: %s -> %s", c->name, conn_state_names[c->state], conn_state_names[to]);
	c->state = (uint8_t)to;
}

/* The end reason for a connect that failed with @err. */
enum relay_end conn_connect_why(int err)
{
	switch (err) {
	case ECONNREFUSED:
		return RELAY_END_REFUSED;
	case ETIMEDOUT:
		return RELAY_END_TIMED_OUT;
	case ENETUNREACH: case EHOSTUNREACH:
		return RELAY_END_UNREACHABLE;
	case EMFILE: case ENFILE:
		return RELAY_END_FDS;
	default:
		return RELAY_END_CONNECT_FAILED;
	}
}

/*
 * conn_end() - close a connection and free it
 * @reset_side: -1 for a clean close; otherwise the side whose peer reset
 *		(or failed), so the other side is reset too
 * @why:	counted, and named in the connection's debug line
 *
 * The one way a connection ends.  The client socket leaves the epoll set
 * first: the rendezvous peer may hold the same open file, so our close
 * would not remove it.  Its close runs under the guard: a peer that set a
 * long SO_LINGER on its copy cannot hold this worker.
 *
 * syscalls: epoll_ctl close
 */
void conn_end(struct worker *w, struct conn *c, int reset_side, enum relay_end why)
{
	struct guard *g = &relay_guards[w - relay_workers];
	int d;

	/* Counted before either end can see the close: a test may then read it. */
	tally_add(&w->tally.ends[why], 1);
	log_debug("client %s: ended: %s", c->name, relay_end_name(why));
	if (c->state == CONN_CONNECTING)
		TAILQ_REMOVE(&w->connecting, c, connecting);
	conn_set_state(c, CONN_ENDED);
	relay_idle_unlink(w, c);
	/* A client we accepted ourselves is ours alone: its close unwatches it. */
	if (c->watched[0] && !c->ours && epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->fd[0], NULL))
		log_debug("client %s: cannot unwatch its socket", c->name);
	for (d = 0; d < 2; d++)
		relay_pipe_put(w, c, d);
	guard_enter(g);
	if (reset_side < 0) {
		/* Both ends said FIN: the FIN goes on, not the reset armed in relay_arm_reset(). */
		util_linger_off(c->fd[0]);
		close(c->fd[0]);
		if (c->fd[1] >= 0) {
			util_linger_off(c->fd[1]);
			close(c->fd[1]);
		}
	} else {
		/* The side that failed already has its error; reset the other. */
		util_abort_close(c->fd[!reset_side]);
		util_abort_close(c->fd[reset_side]);
		tally_add(&w->tally.resets, 1);
	}
	guard_leave(g);
	slot_release(w, c);
	conn_free(c);
	relay_count_drop(w);
}

/*
 * --proxy-protocol: the header for @c, made once, sent by relay_established().
 * An IPv4 client of a dual-stack listener is named as IPv4 (TCP4), as the
 * target's own IPv4 rules would name it, not as ::ffff:a.b.c.d: when both
 * addresses are mapped (a front proxy's header may name one mapped and
 * one not; those stay TCP6).
 */
static int relay_proxy_header(struct conn *c, const struct sockaddr *src, const struct sockaddr *dst)
{
	struct sockaddr_storage s = { 0 }, d = { 0 };
	uint8_t hdr[PROXY_HEADER_MAX];
	size_t n;

	memcpy(&s, src, src->sa_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
	memcpy(&d, dst, dst->sa_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
	if (s.ss_family == AF_INET6 && d.ss_family == AF_INET6 &&
	    IN6_IS_ADDR_V4MAPPED(&((struct sockaddr_in6 *)&s)->sin6_addr) &&
	    IN6_IS_ADDR_V4MAPPED(&((struct sockaddr_in6 *)&d)->sin6_addr)) {
		addr_unmap(&s);
		addr_unmap(&d);
	}
	n = proxy_header(hdr, sizeof(hdr), relay.proxy_version, (struct sockaddr *)&s, (struct sockaddr *)&d);

	c->proxy_hdr = n ? malloc(n) : NULL;
	if (!c->proxy_hdr)
		return -1;
	memcpy(c->proxy_hdr, hdr, n);
	c->proxy_len = (uint8_t)n;
	return 0;
}

/* A copy of an address, IPv4-mapped ones as the IPv4 address they are. */
static struct sockaddr_storage *relay_copy_addr(const struct sockaddr *sa)
{
	struct sockaddr_storage *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	memcpy(a, sa, sa->sa_family == AF_INET ? sizeof(struct sockaddr_in) :
		      sizeof(struct sockaddr_in6));
	addr_unmap(a);
	return a;
}

/* --connect-original: the client's destination as a target. */
static struct addr *relay_original(const struct sockaddr *dst)
{
	struct sockaddr_storage *a = relay_copy_addr(dst);
	struct addr *to;

	if (!a)
		return NULL;
	to = calloc(1, sizeof(*to));
	if (to) {
		to->ss = *a;
		to->len = a->ss_family == AF_INET ? sizeof(struct sockaddr_in) :
			  sizeof(struct sockaddr_in6);
	}
	free(a);
	return to;
}

/*
 * conn_new() - a connection for a client socket, not yet any worker's
 * @client_fd:	the client
 * @name:	its address, for the log
 * @target:	index into relay.targets
 * @src:	its address, @dst: the one it connected to (for the modes
 *		that need them)
 *
 * Only after relay_admit(), which counted it in relay_active().
 *
 * Return: the connection; or NULL when out of memory (the caller disposes
 * of @client_fd, and gives the count back: relay_count_release()).
 */
struct conn *conn_new(int client_fd, const char *name, unsigned int target,
		      const struct sockaddr *src, const struct sockaddr *dst)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c || (relay.transparent && !(c->src = relay_copy_addr(src))) ||
	    (relay.connect_original && !(c->orig = relay_original(dst))) ||
	    (relay.proxy_version && relay_proxy_header(c, src, dst))) {
		if (c)
			conn_free(c);
		return NULL;
	}
	c->fd[0] = client_fd;
	c->fd[1] = -1;
	c->target = (uint16_t)target;
	c->pipe_r[0] = c->pipe_r[1] = c->pipe_w[0] = c->pipe_w[1] = -1;
	c->state = CONN_NEW;
	strlcpy(c->name, name, sizeof(c->name));
	return c;
}
