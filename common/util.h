/* SPDX-License-Identifier: MIT */
#ifndef NTB_UTIL_H
#define NTB_UTIL_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define NTB_VERSION "0.1.0"

/* util_sooner(): the longest wait it gives, so a far deadline is looked at again. */
#define UTIL_WAIT_MAX_MS	60000

/* util_backoff(): the first pause, doubled up to the last. */
#define UTIL_BACKOFF_MIN_MS	50
#define UTIL_BACKOFF_MAX_MS	2000

int util_signalfd(const sigset_t *set);
long long util_now_ms(void);
int util_cpu_count(void);
void util_epoll_add(int epfd, int fd, uint32_t events, uint64_t tag);
int util_is_tcp_socket(int fd, int listening, const char **why);
void util_reset_close(int fd);
void util_abort_close(int fd);
void util_linger_off(int fd);
int util_sooner(int timeout, long long when);
long long util_backoff(int *ms);

/* What a failed accept4() asks of its accept loop (util_accept_error()). */
enum util_accept_fail {
	UTIL_ACCEPT_EMPTY,		/* nobody waiting now: wait for the next wake-up */
	UTIL_ACCEPT_INTERRUPTED,	/* a signal: the caller knows whose */
	UTIL_ACCEPT_NEXT,		/* that client's own failure: take the next at once */
	UTIL_ACCEPT_NO_FDS,		/* shed a client with a spare fd, or back off */
	UTIL_ACCEPT_NO_MEMORY,		/* back off */
	UTIL_ACCEPT_BROKEN,		/* the listening socket itself: say so */
};
enum util_accept_fail util_accept_error(int err);
int util_set_nonblock(int fd);
void util_std_fds(void);
void util_raise_nofile(void);
void util_self_dir(char *dir, size_t size);
int util_check_stream_socket(int fd, int want_listening, const char **why);
long long util_arg_number(const char *opt, const char *text, long long min, long long max);
int util_arg_fd(const char *opt, const char *text);
int util_arg_socket(const char *opt, const char *text, int listening);
int util_parse_uid(const char *text, uid_t *uid);

#endif
