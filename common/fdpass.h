/* SPDX-License-Identifier: MIT */
#ifndef NTB_FDPASS_H
#define NTB_FDPASS_H

#include <stddef.h>
#include <sys/types.h>

/* Most fds we are willing to see in one packet; more are surplus. */
#define FDPASS_MAX 4

struct fdpass_in {
	size_t len;			/* bytes of the record */
	unsigned int nfds;		/* fds received (all CLOEXEC) */
	int fds[FDPASS_MAX];
	int truncated;			/* data or control data was cut */
};

ssize_t fdpass_send(int sock, const void *buf, size_t len, int fd);
ssize_t fdpass_recv(int sock, void *buf, size_t size, struct fdpass_in *in);
int fdpass_at_eof(int sock);
void fdpass_close_all(struct fdpass_in *in);

#endif
