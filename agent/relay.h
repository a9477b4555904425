/* SPDX-License-Identifier: MIT */
#ifndef NTB_RELAY_H
#define NTB_RELAY_H

#include <stddef.h>

#include "addr.h"
#include "policy.h"

/* Most workers, the main thread included. */
#define RELAY_MAX_WORKERS	64

struct relay_opts {
	const struct addr *targets;	/* -c, in order; the i-th serves listener i */
	unsigned int ntargets;
	int upstream_fd;		/* -C, or -1 */
	unsigned int workers;
	int connect_timeout_ms;
	unsigned int max_conns;
	int notify_fd;			/* eventfd written when the count drops to 0 */
};

int relay_init(const struct relay_opts *opts, struct policy *p);
void relay_start(void);
int relay_main_fd(void);
int relay_main_timeout(void);
void relay_main_run(void);
void relay_submit(int client_fd, const char *client_name, unsigned int target);
void relay_close_received(int fd);
unsigned int relay_active(void);
unsigned int relay_worker_count(void);

#endif
