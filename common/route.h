/* SPDX-License-Identifier: MIT */
#ifndef NTB_ROUTE_H
#define NTB_ROUTE_H

#include <stdint.h>
#include <sys/socket.h>

#define ROUTE_MAX_LOCAL	64

struct route_prefix {
	int family;
	uint8_t addr[16];
	unsigned int len;	/* bits */
};

/* The table a "from TARGET" rule selects, and its local routes. */
struct route_table {
	unsigned int table;	/* 0: no such rule */
	struct route_prefix local[ROUTE_MAX_LOCAL];
	unsigned int n;
};

int route_reply_table(const struct sockaddr *target, struct route_table *t);
int route_covers(const struct route_table *t, const struct sockaddr *addr);
int route_local_open(void);
int route_is_local(int fd, const struct sockaddr *dst);

#endif
