/* SPDX-License-Identifier: MIT */
#ifndef NTB_NOTIFY_H
#define NTB_NOTIFY_H

/* Name of the variable by which the launcher hands its agents its own
 * readiness channel (an inherited unix datagram socket). */
#define NOTIFY_FD_ENV	"NTB_NOTIFY_FD"

int notify_open(void);
void notify_send(int fd, const char *state);
int notify_listen_fds(int *fds, unsigned int max);

#endif
