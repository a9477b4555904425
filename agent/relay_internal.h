/* SPDX-License-Identifier: MIT */
/*
 * relay_internal.h - what the files of ntb-connect's relay share, and
 * nothing else includes (the role's interface is relay.h).
 *
 * The relay is cut by job, each file read top to bottom:
 *   relay.c         workers, their event loop, hand-out of clients, counters
 *   relay_conn.c    slots, a connection's making and its one end
 *   relay_splice.c  the hot path: pipes, moving bytes, re-arming, idle order
 *   relay_target.c  connecting to the target (transparent source, keepalive)
 *   relay_accept.c  handed-over listening sockets and accepting on them
 * A call on the hot path stays inside relay_splice.c.
 */
#ifndef NTB_RELAY_INTERNAL_H
#define NTB_RELAY_INTERNAL_H

#include "relay.h"
#include "addr.h"
#include "guard.h"
#include "log.h"
#include "msg.h"
#include "proxy.h"

#include <assert.h>
#include <stdalign.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

#define RELAY_SLOT_CHUNK	1024
#define RELAY_SLOT_CHUNKS	4096	/* 4 M connections per worker */
#define RELAY_PIPE_DEFAULT	(64L * 1024)	/* the kernel's size of a new pipe */
#define RELAY_PIPE_SIZE		(256L * 1024)	/* a new pipe */
#define RELAY_PIPE_BULK		(1024L * 1024)	/* a pipe of a direction that fills it */
#define RELAY_PIPE_MIN		(2L * 4096)	/* the least the kernel gives a pipe */
#define RELAY_SMALL		4096	/* a read this size or less goes by recv/send */
#define RELAY_POOL_MAX		64
#define RELAY_EVENTS		64
#define RELAY_ACCEPT_BATCH	16	/* clients per listener event: fair to the relaying */
#define RELAY_WORKER_STACK	((size_t)256 * 1024)	/* no recursion, small frames */

/* What the fields of struct conn and struct relay_listener must hold. */
static_assert(RELAY_SMALL <= RELAY_PIPE_MIN, "what the target leaves of a small read fits an empty pipe");
static_assert(PROXY_HEADER_MAX <= UINT8_MAX, "proxy_len holds any header proxy_header() writes");
static_assert(MSG_MAX_FORWARDS - 1 <= UINT16_MAX, "a 16-bit target holds any forward's index");
static_assert((unsigned long long)RELAY_SLOT_CHUNK * RELAY_SLOT_CHUNKS - 1 <= UINT32_MAX,
	      "a slot index fits in an epoll tag's 32-bit index");

/*
 * A listening socket handed over by ntb-listen.  Written by the main
 * thread while no worker watches it (refs 0) or before the commands that
 * make workers watch it; freed by the last worker that drops it.
 */
struct relay_listener {
	int fd;
	uint16_t target;	/* index into relay.targets */
	uint32_t gen;		/* moves on with each new socket in this slot */
	int owner;		/* the caller's name for who sent it (a peer slot) */
	uint8_t dropping;	/* main thread: drop commands are queued */
	atomic_uint giving_up;	/* a worker asked the main thread to give it back */
	atomic_uint shut;	/* its sender shut it down: it wants it no more */
	atomic_uint refs;	/* workers still watching it */
	atomic_uint busy;	/* fd open: the slot is not free until it is closed */
};

/* A command for a worker about listener slot idx. */
#define RELAY_CMD_ADD	0x80000000u
/*
 * Commands a worker can have queued for one slot.  Each slot gets one ADD
 * and at most one DROP per socket (dropping), and is reused only after
 * every worker let go (refs 0, fd closed).  A worker lets go on a DROP,
 * or earlier by itself (listener_unwatch() from relay_accept()): then the
 * DROP still comes.  A worker holds back the next socket's refs until it
 * ran its ADD, so what can wait in its ring for one slot is the old
 * socket's DROP, the new one's ADD and the new one's DROP: three.
 */
#define RELAY_CMDS_PER_SLOT	3
#define RELAY_CMD_RING		(RELAY_CMDS_PER_SLOT * RELAY_LISTENERS)
static_assert(RELAY_LISTENERS <= (RELAY_CMD_ADD >> 1), "slot indexes fit beside the ADD bit");
static_assert(RELAY_CMD_RING / RELAY_LISTENERS >= RELAY_CMDS_PER_SLOT,
	      "the command ring holds what every slot can have waiting");

/*
 * A connection's life, changed only by conn_set_state(), which holds each
 * change against conn_moves[] and logs it at debug level.  Per direction,
 * the flags of struct conn say the rest (EOF seen, FIN passed on, EPOLLOUT
 * asked for).
 */
enum conn_state {
	CONN_NEW,		/* made for a client, no worker has begun it */
	CONN_CONNECTING,	/* the target's connect is under way */
	CONN_RELAYING,		/* both ways open */
	CONN_HALF_CLOSED,	/* one side's FIN passed on, the other way flows */
	CONN_ENDED,		/* conn_end(): about to be freed */
	CONN_NSTATES
};

/*
 * May a socket have bytes to read?  Edge-triggered: yes after an event,
 * no after EAGAIN into an empty pipe.  EAGAIN into a pipe that holds bytes
 * may mean the pipe ran out of slots, not the socket out of bytes: read
 * again once the pipe has moved some out.
 */
enum relay_rd {
	RELAY_RD_NO,
	RELAY_RD_YES,
	RELAY_RD_AFTER_OUT,
};

struct conn {
	int fd[2];		/* 0: client, 1: target */
	int pipe_r[2], pipe_w[2];	/* direction d, -1 when idle */
	uint32_t pipe_cap[2];	/* what direction d's pipe holds, while it has one */
	size_t inpipe[2];	/* bytes in direction d's pipe */
	uint8_t state;		/* enum conn_state */
	uint8_t first_fin;	/* 1 + the side whose FIN came first, or 0 */
	uint8_t fail_why;	/* 1 + enum relay_end, when a failure knows better than its side */
	uint8_t rd_eof[2];	/* fd[d] gave EOF */
	uint8_t readable[2];	/* enum relay_rd: may fd[d] have bytes to read? */
	uint8_t wr_shut[2];	/* fd[!d] was shut for writing after d's EOF */
	uint8_t out_armed[2];	/* EPOLLOUT is in fd[side]'s interest */
	uint8_t bulk[2];	/* direction d splices; 0: it reads small (relay_small()) */
	uint8_t rdhup[2];	/* an event said fd[side] has its FIN */
	uint8_t watched[2];	/* fd[side] is in the worker's epoll set */
	uint32_t slot, gen;	/* what epoll knows this connection by */
	uint16_t target;	/* index into relay.targets */
	long long deadline;	/* connect time-out, CLOCK_MONOTONIC ms */
	STAILQ_ENTRY(conn) incoming;	/* worker's incoming list, until it begins */
	TAILQ_ENTRY(conn) connecting;	/* worker's connecting list, while CONN_CONNECTING */
	long long last_active;	/* --idle-timeout: when bytes last moved */
	TAILQ_ENTRY(conn) idle;	/* worker's idle list, while idle_listed */
	uint8_t idle_listed;
	uint8_t ours;		/* accepted by this process: nobody else holds the client */
	uint8_t proxy_len;	/* --proxy-protocol: bytes of proxy_hdr */
	uint8_t *proxy_hdr;	/* the header to send first, or NULL */
	struct sockaddr_storage *src;	/* --transparent-source: the client's address */
	struct addr *orig;	/* --connect-original: where the client was going */
	char name[ADDR_STRLEN];	/* client address, for the log */
};

STAILQ_HEAD(conn_queue, conn);
TAILQ_HEAD(conn_list, conn);

struct slot {
	struct conn *c;		/* NULL: free */
	uint32_t gen;		/* bumped when the connection ends */
	uint32_t next_free;
};

/*
 * A worker's counters.  Only the worker writes them; the main thread reads
 * them for the stats line, so they are atomics read and written relaxed.
 */
struct tally {
	atomic_ullong accepted, conns, refused_limit, refused_fds, connect_ok;
	atomic_ullong connect_failed[RELAY_NERRNOS];
	atomic_ullong idle_closed, bytes[2], resets;
	atomic_ullong ends[RELAY_NENDS];
};

struct worker {
	pthread_t thread;
	int epfd;
	int evfd;
	pthread_mutex_t lock;
	struct conn_queue incoming;	/* handed over by the main thread, under lock */
	struct conn_list connecting;	/* FIFO: deadlines in order */
	int pool[RELAY_POOL_MAX][3];	/* read end, write end, capacity */
	unsigned int pooled;
	struct slot *slots[RELAY_SLOT_CHUNKS];
	uint32_t nslots;		/* slots made so far */
	uint32_t free_slot;		/* head of the free list, or UINT32_MAX */
	struct log_limit lines;		/* this worker's per-connection lines */
	/* Listener commands from the main thread, under lock: a ring. */
	uint32_t cmds[RELAY_CMD_RING];
	unsigned int cmd_head, cmd_len;
	int test_unwatchable;		/* test hook: listeners cannot be watched here */
	int test_stall;			/* test hook: 1 armed, 2 stalling, 0 done or off */
	int test_no_spare;		/* test hook: every spare pipe is lost */
	int spare[2];			/* a pipe to close when out of fds, or -1 */
	uint32_t lwatch[RELAY_LISTENERS];	/* generation + 1 of each watched listener, or 0 */
	long long accept_resume;	/* accepting paused after EMFILE until then, or 0 */
	int pause_ms;
	struct conn_list idle;		/* relaying connections, least recently active first */
	struct tally tally;
	/*
	 * Connections given to this worker and not ended yet, queued ones
	 * included: what relay_pick() weighs.  Every thread that hands one
	 * over adds to it, so it has a cache line of its own.
	 */
	alignas(64) atomic_uint load;
};

/* Add @n to a counter only this thread writes. */
static inline void tally_add(atomic_ullong *v, unsigned long long n)
{
	atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

/* Shared by the relay files; each is defined in the one named. */
extern struct relay_opts relay;
extern struct worker relay_workers[RELAY_MAX_WORKERS];
extern struct guard relay_guards[RELAY_MAX_WORKERS];
extern unsigned int relay_nworkers;
extern atomic_uint relay_count;
extern int relay_pipe_size, relay_pipe_bulk;

/* relay.c */
void relay_tally_connect_failed(struct worker *w, int err);
int relay_admit(struct worker *w, const char *name);
struct worker *relay_pick(struct worker *w);
void relay_hand(struct worker *to, struct conn *c);

/* relay_splice.c */
void relay_pipe_put(struct worker *w, struct conn *c, int d);
void relay_idle_unlink(struct worker *w, struct conn *c);
void relay_idle_touch(struct worker *w, struct conn *c);
int relay_sock_error(int fd);
void relay_conn_event(struct worker *w, struct conn *c, int side, uint32_t events);
int relay_watch(struct worker *w, struct conn *c, int side, int want_out);

/* relay_conn.c */
void conn_set_state(struct conn *c, enum conn_state to);
int conn_slot_take(struct worker *w, struct conn *c);
struct conn *conn_slot_find(struct worker *w, uint64_t tag);
void relay_count_drop(struct worker *w);
void relay_count_release(void);
void conn_free(struct conn *c);
const struct addr *conn_target(const struct conn *c);
void conn_end(struct worker *w, struct conn *c, int reset_side, enum relay_end why);
enum relay_end conn_connect_why(int err);
struct conn *conn_new(int client_fd, const char *name, unsigned int target,
		      const struct sockaddr *src, const struct sockaddr *dst);

/* relay_target.c */
void relay_connect_done(struct worker *w, struct conn *c, uint32_t events);
void relay_begin(struct worker *w, struct conn *c);

/* relay_accept.c */
void relay_listener_command(struct worker *w, uint32_t cmd);
void relay_accept_resume(struct worker *w);
void relay_spare_make(struct worker *w);
void relay_accept(struct worker *w, uint32_t idx);

#endif
