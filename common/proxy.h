/* SPDX-License-Identifier: MIT */
#ifndef NTB_PROXY_H
#define NTB_PROXY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define PROXY_V1_MAX	107	/* the longest v1 line, CRLF included */
#define PROXY_V2_MAX	1024	/* the longest v2 header we take (TLVs included) */
#define PROXY_V2_FIXED	16	/* v2: signature, version and command, family, length */
#define PROXY_V2_INET	12	/* v2: two IPv4 addresses, two ports */
#define PROXY_V2_INET6	36	/* v2: two IPv6 addresses, two ports */
#define PROXY_HEADER_MAX 108	/* room for any header proxy_header() writes */

struct proxy_info {
	size_t len;			/* bytes of the header */
	int local;			/* no addresses (v1 UNKNOWN, v2 LOCAL/UNSPEC) */
	struct sockaddr_storage src;	/* the client */
	struct sockaddr_storage dst;	/* what it connected to */
};

size_t proxy_header(uint8_t *buf, size_t size, int version, const struct sockaddr *src,
		    const struct sockaddr *dst);
int proxy_parse(const uint8_t *buf, size_t len, struct proxy_info *out, const char **why);

#endif
