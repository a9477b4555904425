/* SPDX-License-Identifier: MIT */
#ifndef NTB_RELAY_H
#define NTB_RELAY_H

#include <stddef.h>

#include "addr.h"
#include "policy.h"
#include "route.h"

/* Most workers, the main thread included. */
#define RELAY_MAX_WORKERS	64
/* Handed-over listening sockets, all peers together. */
#define RELAY_LISTENERS		1024

struct relay_opts {
	const struct addr *targets;	/* -c, in order; the i-th serves listener i */
	unsigned int ntargets;
	int upstream_fd;		/* -C, or -1 */
	unsigned int workers;
	int connect_timeout_ms;
	unsigned int max_conns;
	int notify_fd;			/* eventfd written when the count drops to 0 */
	int idle_timeout_ms;		/* --idle-timeout, 0: none */
	int keepalive[3];		/* --keepalive IDLE,INTERVAL,COUNT; [0] 0: off */
	int proxy_version;		/* --proxy-protocol: 1 or 2; 0: off */
	int transparent;		/* --transparent-source */
	int connect_original;		/* --connect-original: each client's own destination */
	const struct route_table *routes;	/* with it: per target, the reply table */
	int main_epfd;			/* the main thread's epoll set: worker 0's too */
};

/* Target connect failures are counted by errno: these, and the rest. */
#define RELAY_ERRNOS	{ ECONNREFUSED, ETIMEDOUT, ENETUNREACH, EHOSTUNREACH, EADDRNOTAVAIL, \
			  EMFILE, ENFILE, ENOBUFS }
#define RELAY_NERRNOS	9	/* the list above, then "other" */

/*
 * Why a connection ended: each is counted (SIGUSR1, --stats) and named in
 * the connection's debug line, so a drained stop can be told from a reset
 * storm.  Clients refused before they became a connection are counted as
 * refusals, not here.
 */
enum relay_end {
	RELAY_END_CLIENT_CLOSED,	/* FIN both ways, the client's first */
	RELAY_END_TARGET_CLOSED,	/* FIN both ways, the target's first */
	RELAY_END_CLIENT_RESET,		/* the client reset, or its socket failed */
	RELAY_END_TARGET_RESET,		/* the target reset, or its socket failed */
	RELAY_END_REFUSED,		/* connect: ECONNREFUSED */
	RELAY_END_TIMED_OUT,		/* connect: no answer within --connect-timeout */
	RELAY_END_UNREACHABLE,		/* connect: ENETUNREACH, EHOSTUNREACH */
	RELAY_END_CONNECT_FAILED,	/* connect: any other error */
	RELAY_END_IDLE,			/* --idle-timeout */
	RELAY_END_POLICY,		/* refused by --transparent-source's checks */
	RELAY_END_FDS,			/* no fd for the target socket or a pipe */
	RELAY_END_WATCHDOG,		/* the client's socket blocked the worker */
	RELAY_END_ERROR,		/* a local failure: epoll, fcntl, the PROXY header */
	RELAY_NENDS
};

/* What the relay has done so far, summed over the workers. */
struct relay_totals {
	unsigned long long accepted;		/* on handed-over listening sockets */
	unsigned long long conns;		/* taken by a worker */
	unsigned long long refused_limit;	/* --max-connections */
	unsigned long long refused_fds;		/* no fd for a socket or pipe */
	unsigned long long connect_ok;
	unsigned long long connect_failed[RELAY_NERRNOS];
	unsigned long long idle_closed;		/* --idle-timeout */
	unsigned long long bytes[2];		/* [0] client to target, [1] back */
	unsigned long long resets;		/* connections that ended in a reset */
	unsigned long long ends[RELAY_NENDS];	/* connections ended, by reason */
};

int relay_init(const struct relay_opts *opts, struct policy *p);
void relay_start(void);
int relay_main_timeout(void);
int relay_main_event(uint64_t tag, uint32_t events);
void relay_main_expire(void);
void relay_submit(int client_fd, const char *client_name, unsigned int target,
		  const struct sockaddr *src, const struct sockaddr *dst);
void relay_close_received(int fd);
int relay_listener_add(int fd, unsigned int target, int owner);
int relay_listener_held(int owner, unsigned int target);
void relay_listeners_drop(int owner, void (*back)(int owner, unsigned int target));
void relay_listeners_orphaned(void (*back)(int owner, unsigned int target),
			      void (*back_given_up)(int owner, unsigned int target));
void relay_close_listener(int fd);
unsigned int relay_active(void);
unsigned int relay_worker_count(void);
void relay_totals(struct relay_totals *t);
void relay_errno_names(char *buf, size_t size, const unsigned long long *failed);
void relay_loads(char *buf, size_t size);
const char *relay_end_name(enum relay_end why);
void relay_end_names(char *buf, size_t size, const unsigned long long *ends);

#endif
