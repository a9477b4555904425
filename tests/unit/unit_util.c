// SPDX-License-Identifier: MIT
/*
 * unit_util - the helpers the accept loops and the retries share: the
 * back-off (50 ms doubling to 2 s, and again from 50 ms after a success),
 * how an accept4() failure is read, and util_sooner()'s longest wait.
 */
#include "util.h"
#include "tap.h"

#include <errno.h>

int main(void)
{
	static const int steps[] = { 50, 100, 200, 400, 800, 1600, 2000, 2000 };
	long long before, when;
	unsigned int i;
	int ms = 0, ok = 1;

	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		before = util_now_ms();
		when = util_backoff(&ms);
		ok &= ms == steps[i] && when >= before + ms && when <= util_now_ms() + ms;
	}
	CHECK(ok, "back-off: 50 ms, doubled each time, 2 s at most; says when to try again");
	ms = 0;
	util_backoff(&ms);
	CHECK(ms == UTIL_BACKOFF_MIN_MS, "back-off: from 50 ms again after a success (0)");

	CHECK(util_accept_error(EAGAIN) == UTIL_ACCEPT_EMPTY, "accept: EAGAIN, nobody waiting");
	CHECK(util_accept_error(EINTR) == UTIL_ACCEPT_INTERRUPTED, "accept: EINTR, the caller's signal");
	CHECK(util_accept_error(ECONNABORTED) == UTIL_ACCEPT_NEXT &&
	      util_accept_error(EPROTO) == UTIL_ACCEPT_NEXT &&
	      util_accept_error(EHOSTUNREACH) == UTIL_ACCEPT_NEXT &&
	      util_accept_error(EPERM) == UTIL_ACCEPT_NEXT,
	      "accept: the client's own failure, take the next at once");
	CHECK(util_accept_error(EMFILE) == UTIL_ACCEPT_NO_FDS &&
	      util_accept_error(ENFILE) == UTIL_ACCEPT_NO_FDS, "accept: out of fds");
	CHECK(util_accept_error(ENOBUFS) == UTIL_ACCEPT_NO_MEMORY &&
	      util_accept_error(ENOMEM) == UTIL_ACCEPT_NO_MEMORY, "accept: out of memory, back off");
	CHECK(util_accept_error(EBADF) == UTIL_ACCEPT_BROKEN &&
	      util_accept_error(EINVAL) == UTIL_ACCEPT_BROKEN, "accept: the listening socket itself");

	CHECK(util_sooner(-1, 0) == -1 && util_sooner(5, 0) == 5, "sooner: no deadline");
	CHECK(util_sooner(-1, util_now_ms() + 10LL * UTIL_WAIT_MAX_MS) == UTIL_WAIT_MAX_MS,
	      "sooner: a far deadline waits a minute at most");
	CHECK(util_sooner(-1, 1) == 0 && util_sooner(7, util_now_ms() + 60000) == 7,
	      "sooner: a past deadline at once; an earlier time-out kept");
	return tap_done();
}
