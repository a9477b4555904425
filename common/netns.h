/* SPDX-License-Identifier: MIT */
#ifndef NTB_NETNS_H
#define NTB_NETNS_H

#include <stddef.h>

enum netns_kind {
	NETNS_PATH,	/* /proc/PID/ns/net, /run/netns/NAME, any nsfs file */
	NETNS_FD,	/* fd:N, inherited */
};

struct netns_spec {
	enum netns_kind kind;
	char path[256];
	int fd;
};

int netns_spec_parse(const char *text, struct netns_spec *out, const char **why);
int netns_open(const char *text);
int netns_check(int fd, const char *what);
int netns_join(int fd, const char *what);

#endif
