/* SPDX-License-Identifier: MIT */
#ifndef NTB_GUARD_H
#define NTB_GUARD_H

#include <pthread.h>
#include <stdatomic.h>

/*
 * A guard marks the calls of one thread that touch a file shared with a
 * rendezvous peer.  The sequence is odd while such a call runs.
 */
struct guard {
	atomic_uint seq;
	pthread_t thread;
	unsigned int seen;	/* watchdog's copy of seq at its last tick */
};

/* Around every splice(2) and close(2) of a received socket. */
static inline void guard_enter(struct guard *g)
{
	atomic_store_explicit(&g->seq, atomic_load_explicit(&g->seq, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

static inline void guard_leave(struct guard *g)
{
	guard_enter(g);
}

void guard_init(void);
void guard_bind(struct guard *g);
void guard_start(struct guard *guards, unsigned int n);

#endif
