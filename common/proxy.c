// SPDX-License-Identifier: MIT
/*
 * proxy.c - the PROXY protocol (HAProxy's, versions 1 and 2): the header
 * ntb-connect writes before a client's first byte, so that the server
 * learns who the client is, and the one ntb-listen reads from a front
 * proxy.  Pure: no I/O, no allocation; table-tested and fuzzed.
 *
 * Version 1 is one text line, "PROXY TCP4 SRC DST SPORT DPORT\r\n", at
 * most 107 bytes.  Version 2 is binary: a 12-byte signature, version and
 * command, family and protocol, a 16-bit length, then the addresses (and
 * optional TLVs, which are skipped).
 */
#include "proxy.h"
#include "addr.h"

#include <arpa/inet.h>
#include <assert.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

/* v1 is written with snprintf(): its longest line and the NUL. */
static_assert(PROXY_HEADER_MAX >= PROXY_V1_MAX + 1, "room for the longest v1 line");
static_assert(PROXY_HEADER_MAX >= PROXY_V2_FIXED + PROXY_V2_INET6, "room for a v2 IPv6 header");

static const uint8_t proxy_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
};

/* The same family for both, or 0 (an IPv4 client of a dual-stack
 * listener comes as ::ffff:a.b.c.d on both sides, so that cannot differ). */
static int proxy_family(const struct sockaddr *src, const struct sockaddr *dst)
{
	if (!src || !dst || src->sa_family != dst->sa_family)
		return 0;
	return src->sa_family == AF_INET || src->sa_family == AF_INET6 ? src->sa_family : 0;
}

/**
 * proxy_header() - the header announcing a connection from @src to @dst
 * @buf:	where to write it
 * @size:	room in @buf (PROXY_HEADER_MAX is always enough)
 * @version:	1 or 2
 * @src:	the client's address
 * @dst:	the address the client connected to
 *
 * Addresses of two families, or of neither IPv4 nor IPv6, give the
 * header for "unknown" (v1) or LOCAL (v2): the server then uses the
 * connection's own addresses.
 *
 * Return: its length, or 0 if @size is too small or @version unknown.
 */
size_t proxy_header(uint8_t *buf, size_t size, int version, const struct sockaddr *src,
		    const struct sockaddr *dst)
{
	int fam = proxy_family(src, dst);

	if (version == 1) {
		char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
		const void *sa, *da;
		unsigned int sp, dp;
		int n;

		if (!fam) {
			n = snprintf((char *)buf, size, "PROXY UNKNOWN\r\n");
			return n > 0 && (size_t)n < size ? (size_t)n : 0;
		}
		if (fam == AF_INET) {
			const struct sockaddr_in *s4 = (const void *)src, *d4 = (const void *)dst;

			sa = &s4->sin_addr;
			da = &d4->sin_addr;
			sp = ntohs(s4->sin_port);
			dp = ntohs(d4->sin_port);
		} else {
			const struct sockaddr_in6 *s6 = (const void *)src, *d6 = (const void *)dst;

			sa = &s6->sin6_addr;
			da = &d6->sin6_addr;
			sp = ntohs(s6->sin6_port);
			dp = ntohs(d6->sin6_port);
		}
		if (!inet_ntop(fam, sa, s, sizeof(s)) || !inet_ntop(fam, da, d, sizeof(d)))
			return 0;
		n = snprintf((char *)buf, size, "PROXY %s %s %s %u %u\r\n",
			     fam == AF_INET ? "TCP4" : "TCP6", s, d, sp, dp);
		return n > 0 && (size_t)n < size ? (size_t)n : 0;
	}
	if (version == 2) {
		size_t alen = fam == AF_INET ? PROXY_V2_INET : fam == AF_INET6 ? PROXY_V2_INET6 : 0;
		uint8_t *p = buf + PROXY_V2_FIXED;

		if (size < PROXY_V2_FIXED + alen)
			return 0;
		memcpy(buf, proxy_sig, sizeof(proxy_sig));
		buf[12] = fam ? 0x21 : 0x20;	/* version 2; PROXY, or LOCAL */
		buf[13] = fam == AF_INET ? 0x11 : fam == AF_INET6 ? 0x21 : 0x00;
		buf[14] = (uint8_t)(alen >> 8);
		buf[15] = (uint8_t)alen;
		if (fam == AF_INET) {
			const struct sockaddr_in *s4 = (const void *)src, *d4 = (const void *)dst;

			memcpy(p, &s4->sin_addr, 4);
			memcpy(p + 4, &d4->sin_addr, 4);
			memcpy(p + 8, &s4->sin_port, 2);
			memcpy(p + 10, &d4->sin_port, 2);
		} else if (fam == AF_INET6) {
			const struct sockaddr_in6 *s6 = (const void *)src, *d6 = (const void *)dst;

			memcpy(p, &s6->sin6_addr, 16);
			memcpy(p + 16, &d6->sin6_addr, 16);
			memcpy(p + 32, &s6->sin6_port, 2);
			memcpy(p + 34, &d6->sin6_port, 2);
		}
		return PROXY_V2_FIXED + alen;
	}
	return 0;
}

/* Parse one v1 address and port into @out (family @fam). */
static int proxy_v1_addr(int fam, const char *addr, const char *port, struct sockaddr_storage *out)
{
	long long p;

	memset(out, 0, sizeof(*out));
	if (addr_parse_uint(port, 65535, &p) || (port[0] == '0' && port[1]))
		return -1;
	if (fam == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)out;

		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)p);
		return inet_pton(AF_INET, addr, &a->sin_addr) == 1 ? 0 : -1;
	}
	{
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)out;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)p);
		return inet_pton(AF_INET6, addr, &a->sin6_addr) == 1 ? 0 : -1;
	}
}

static int proxy_parse_v1(const uint8_t *buf, size_t len, struct proxy_info *out, const char **why)
{
	char line[PROXY_V1_MAX + 1], *f[7], *save = NULL, *tok;
	const uint8_t *end = memchr(buf, '\n', len < PROXY_V1_MAX ? len : PROXY_V1_MAX);
	size_t n;
	int nf = 0, fam;

	if (!end) {
		*why = len >= PROXY_V1_MAX ? "PROXY v1 line longer than 107 bytes" : NULL;
		return len >= PROXY_V1_MAX ? -1 : 0;
	}
	n = (size_t)(end - buf) + 1;
	if (n < 2 || end[-1] != '\r') {
		*why = "PROXY v1 line does not end in CRLF";
		return -1;
	}
	memcpy(line, buf, n - 2);
	line[n - 2] = '\0';
	if (strlen(line) != n - 2) {
		*why = "NUL in a PROXY v1 line";
		return -1;
	}
	for (tok = strtok_r(line, " ", &save); tok && nf < 7; tok = strtok_r(NULL, " ", &save))
		f[nf++] = tok;
	out->len = n;
	if (nf >= 2 && !strcmp(f[1], "UNKNOWN")) {
		out->local = 1;		/* what follows UNKNOWN is to be ignored */
		return 1;
	}
	if (nf != 6 || strcmp(f[0], "PROXY") != 0) {
		*why = "malformed PROXY v1 line";
		return -1;
	}
	fam = !strcmp(f[1], "TCP4") ? AF_INET : !strcmp(f[1], "TCP6") ? AF_INET6 : 0;
	if (!fam) {
		*why = "PROXY v1 protocol is neither TCP4 nor TCP6";
		return -1;
	}
	if (proxy_v1_addr(fam, f[2], f[4], &out->src) || proxy_v1_addr(fam, f[3], f[5], &out->dst)) {
		*why = "bad address or port in a PROXY v1 line";
		return -1;
	}
	out->local = 0;
	return 1;
}

static int proxy_parse_v2(const uint8_t *buf, size_t len, struct proxy_info *out, const char **why)
{
	size_t body, need;
	int cmd, fam;

	if (len < PROXY_V2_FIXED)
		return 0;
	if ((buf[12] >> 4) != 2) {
		*why = "PROXY v2 header of another version";
		return -1;
	}
	cmd = buf[12] & 0x0f;
	body = (size_t)buf[14] << 8 | buf[15];
	need = PROXY_V2_FIXED + body;
	if (need > PROXY_V2_MAX) {
		*why = "PROXY v2 header longer than we accept";
		return -1;
	}
	if (cmd > 1) {
		*why = "PROXY v2 command is neither LOCAL nor PROXY";
		return -1;
	}
	if (len < need)
		return 0;
	out->len = need;
	if (cmd == 0) {
		out->local = 1;		/* LOCAL: the front proxy's own connection */
		return 1;
	}
	fam = buf[13];
	if (fam == 0x11 && body >= PROXY_V2_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)&out->src, *d = (struct sockaddr_in *)&out->dst;

		memset(&out->src, 0, sizeof(out->src));
		memset(&out->dst, 0, sizeof(out->dst));
		s->sin_family = d->sin_family = AF_INET;
		memcpy(&s->sin_addr, buf + 16, 4);
		memcpy(&d->sin_addr, buf + 20, 4);
		memcpy(&s->sin_port, buf + 24, 2);
		memcpy(&d->sin_port, buf + 26, 2);
	} else if (fam == 0x21 && body >= PROXY_V2_INET6) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&out->src;
		struct sockaddr_in6 *d = (struct sockaddr_in6 *)&out->dst;

		memset(&out->src, 0, sizeof(out->src));
		memset(&out->dst, 0, sizeof(out->dst));
		s->sin6_family = d->sin6_family = AF_INET6;
		memcpy(&s->sin6_addr, buf + 16, 16);
		memcpy(&d->sin6_addr, buf + 32, 16);
		memcpy(&s->sin6_port, buf + 48, 2);
		memcpy(&d->sin6_port, buf + 50, 2);
	} else if (fam == 0x00) {
		out->local = 1;		/* UNSPEC: addresses unknown */
		return 1;
	} else {
		*why = "PROXY v2 family is not TCP over IPv4 or IPv6, or too short for it";
		return -1;
	}
	out->local = 0;
	return 1;
}

/**
 * proxy_parse() - read a PROXY header (v1 or v2) at the start of @buf
 * @buf:	the bytes received so far (peeked, not consumed)
 * @len:	how many
 * @out:	on success, the header's length and addresses
 * @why:	on failure, what is wrong
 *
 * Return: 1 with @out filled (out->local: no addresses to use), 0 if more
 * bytes are needed (@why NULL), -1 if the bytes are no PROXY header.
 */
int proxy_parse(const uint8_t *buf, size_t len, struct proxy_info *out, const char **why)
{
	size_t k = len < sizeof(proxy_sig) ? len : sizeof(proxy_sig);

	*why = NULL;
	if (!memcmp(buf, proxy_sig, k)) {
		if (len < sizeof(proxy_sig))
			return 0;
		return proxy_parse_v2(buf, len, out, why);
	}
	k = len < 6 ? len : 6;
	if (!memcmp(buf, "PROXY ", k)) {
		if (len < 6)
			return 0;
		return proxy_parse_v1(buf, len, out, why);
	}
	*why = "no PROXY header";
	return -1;
}
