// SPDX-License-Identifier: MIT
/*
 * guard.c - no blocking call on a socket a rendezvous peer can change.
 *
 * Theory of operation: a socket that arrives over the rendezvous shares
 * its open file with the sender, who can clear O_NONBLOCK or set a long
 * SO_LINGER on its own copy after the hand-off.  splice(2) then blocks in
 * the socket (SPLICE_F_NONBLOCK covers only the pipe), and close(2) can
 * wait for the linger time.  No flag we set can stop that: the sender can
 * undo it between our check and our call.  So every such call is bracketed
 * by guard_enter()/guard_leave(), and a watchdog thread looks at each
 * guard every GUARD_TICK_MS: a thread found inside the same call at two
 * ticks in a row is sent SIGURG.  The handler does nothing and is
 * installed without SA_RESTART, so the blocked call fails with EINTR, and
 * the caller ends that one connection.  A call on a socket we set up
 * ourselves never sleeps, so EINTR from it means the peer interfered.
 */
#include "guard.h"
#include "log.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#define GUARD_TICK_MS	100
#define GUARD_STACK	((size_t)64 * 1024)	/* its loop and a pthread_kill(), nothing deeper */

static struct guard *guard_list;
static unsigned int guard_count;

static void guard_nop(int sig)
{
	(void)sig;
}

/**
 * guard_init() - install the SIGURG handler (before the sandbox)
 */
void guard_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = guard_nop;	/* no SA_RESTART: the call must fail */
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGURG, &sa, NULL))
		log_die_errno(errno, "cannot install the SIGURG handler");
}

/**
 * guard_bind() - tie @g to the calling thread
 * @g:		the thread's guard
 */
void guard_bind(struct guard *g)
{
	g->thread = pthread_self();
}

/*
 *
 * syscalls: clock_nanosleep tgkill getpid
 */
static void *guard_watch(void *arg)
{
	struct timespec tick = { .tv_sec = 0, .tv_nsec = GUARD_TICK_MS * 1000000L };
	unsigned int i;

	(void)arg;
	for (;;) {
		nanosleep(&tick, NULL);
		for (i = 0; i < guard_count; i++) {
			struct guard *g = &guard_list[i];
			unsigned int s = atomic_load_explicit(&g->seq, memory_order_relaxed);

			/* Inside one call since the last tick? */
			if ((s & 1) && s == g->seen)
				pthread_kill(g->thread, SIGURG);
			g->seen = s;
		}
	}
	return NULL;
}

/**
 * guard_start() - start the watchdog over @n guards (after the sandbox)
 * @guards:	the guards, each bound to its thread
 * @n:		how many
 *
 * syscalls: clone
 */
void guard_start(struct guard *guards, unsigned int n)
{
	pthread_attr_t attr;
	pthread_t t;
	int rc;

	guard_list = guards;
	guard_count = n;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, GUARD_STACK);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&t, &attr, guard_watch, NULL);
	pthread_attr_destroy(&attr);
	if (rc)
		log_die_errno(rc, "cannot start the watchdog thread");
}
