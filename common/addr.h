/* SPDX-License-Identifier: MIT */
#ifndef NTB_ADDR_H
#define NTB_ADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Longest "[v6%scope]:port" plus NUL. */
#define ADDR_STRLEN 64

struct addr {
	struct sockaddr_storage ss;
	socklen_t len;
};

int addr_parse(const char *text, struct addr *out);
int addr_parse_range(const char *text, struct addr *first, unsigned int *count);
int addr_append(const char *text, struct addr *list, unsigned int max, unsigned int *n);
unsigned int addr_port(const struct addr *a);
void addr_set_port(struct addr *a, unsigned int port);
void addr_format(const struct sockaddr *sa, socklen_t len, char *buf, size_t size);
int addr_parse_keepalive(const char *text, int out[3]);
void addr_unmap(struct sockaddr_storage *ss);
const uint8_t *addr_bytes(const struct sockaddr *sa, unsigned int *n, unsigned int *port);
int addr_prefix_match(const uint8_t *a, const uint8_t *b, unsigned int bits);
int addr_parse_fd(const char *text, int *fd);
int addr_parse_fd_form(const char *text, const char *empty, int *fd, const char **why);
int addr_parse_uint(const char *text, long long max, long long *out);

#endif
