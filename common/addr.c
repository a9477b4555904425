// SPDX-License-Identifier: MIT
/*
 * addr.c - the ADDR and number forms of the command lines.
 *
 * ADDR is "a.b.c.d:port" or "[v6]:port"; names are not resolved, so
 * nothing here touches DNS or files and it is safe to call anywhere.
 */
#include "addr.h"

#include <arpa/inet.h>
#include <bsd/stdlib.h>
#include <bsd/string.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

/**
 * addr_parse_uint() - parse a decimal number in [0, max]
 * @text:	the text
 * @max:	largest value accepted
 * @out:	the value
 *
 * Return: 0, or -1 if @text is not such a number.
 */
int addr_parse_uint(const char *text, long long max, long long *out)
{
	const char *err = NULL;
	long long v;

	/* strtonum() skips white space and takes a sign: neither is a number here. */
	if (!text || *text < '0' || *text > '9')
		return -1;
	v = strtonum(text, 0, max, &err);
	if (err)
		return -1;
	*out = v;
	return 0;
}

/**
 * addr_parse_keepalive() - parse --keepalive IDLE,INTERVAL,COUNT
 * @text:	three decimal numbers separated by commas
 * @out:	idle seconds (1..32767), interval seconds (1..32767), probes (1..127),
 *		the kernel's limits for TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT
 *
 * Return: 0, or -1 if @text is not that.
 */
int addr_parse_keepalive(const char *text, int out[3])
{
	static const long long max[3] = { 32767, 32767, 127 };
	char part[16];
	unsigned int i;

	for (i = 0; i < 3; i++) {
		const char *end = strchr(text, ',');
		size_t len = end ? (size_t)(end - text) : strlen(text);
		long long v;

		if ((i < 2) != (end != NULL) || len >= sizeof(part))
			return -1;
		memcpy(part, text, len);
		part[len] = '\0';
		if (addr_parse_uint(part, max[i], &v) || v < 1)
			return -1;
		out[i] = (int)v;
		text = end ? end + 1 : text + len;
	}
	return 0;
}

/**
 * addr_bytes() - the address bytes of an AF_INET or AF_INET6 socket address
 * @sa:		the address
 * @n:		their count: 4, 16, or 0 for another family
 * @port:	if not NULL, the port, host order
 *
 * Return: the bytes, or NULL for another family.
 */
const uint8_t *addr_bytes(const struct sockaddr *sa, unsigned int *n, unsigned int *port)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)(const void *)sa;

		*n = 4;
		if (port)
			*port = ntohs(s->sin_port);
		return (const uint8_t *)&s->sin_addr;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)(const void *)sa;

		*n = 16;
		if (port)
			*port = ntohs(s->sin6_port);
		return (const uint8_t *)&s->sin6_addr;
	}
	*n = 0;
	return NULL;
}

/**
 * addr_prefix_match() - do the first @bits bits of @a and @b agree?
 * @a:		address bytes
 * @b:		address bytes, as many
 * @bits:	the prefix length, within their size
 *
 * Return: 1 or 0.
 */
int addr_prefix_match(const uint8_t *a, const uint8_t *b, unsigned int bits)
{
	unsigned int whole = bits / 8, rest = bits % 8;

	if (memcmp(a, b, whole) != 0)
		return 0;
	return !rest || ((a[whole] ^ b[whole]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

/**
 * addr_unmap() - an IPv4-mapped IPv6 address (::ffff:a.b.c.d, as a
 * dual-stack socket gives an IPv4 peer) as the IPv4 address it is
 * @ss:		the address, changed in place; others are left as they are
 */
void addr_unmap(struct sockaddr_storage *ss)
{
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in s4 = { .sin_family = AF_INET };

	if (ss->ss_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
		return;
	s4.sin_port = s6->sin6_port;
	memcpy(&s4.sin_addr, &s6->sin6_addr.s6_addr[12], 4);
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, &s4, sizeof(s4));
}

/**
 * addr_parse_fd() - parse a file descriptor number
 * @text:	decimal fd number
 * @fd:		the number
 *
 * Return: 0, or -1 if @text is not a number in [0, INT_MAX].
 */
int addr_parse_fd(const char *text, int *fd)
{
	long long v;

	if (addr_parse_uint(text, 0x7fffffff, &v))
		return -1;
	*fd = (int)v;
	return 0;
}

/**
 * addr_parse_fd_form() - the fd:N form of an argument that has others too
 * @text:	the argument (a namespace, a rendezvous)
 * @empty:	what is wrong with an empty one ("empty namespace")
 * @fd:		the number if @text is fd:N, else -1
 * @why:	if @text is empty, or fd: without a number, what is wrong
 *
 * Return: 1 if @text is fd:N, 0 if it is another form, -1 if it is empty
 * or fd: without a good number.
 */
int addr_parse_fd_form(const char *text, const char *empty, int *fd, const char **why)
{
	*fd = -1;
	if (!text || !*text) {
		*why = empty;
		return -1;
	}
	if (strncmp(text, "fd:", 3) != 0)
		return 0;
	if (addr_parse_fd(text + 3, fd)) {
		*why = "fd: needs a file descriptor number";
		return -1;
	}
	return 1;
}

/**
 * addr_parse_range() - parse "ADDR:PORT" or "ADDR:FIRST-LAST"
 * @text:	the address, a port range allowed ("127.0.0.1:8000-8009")
 * @first:	the address with the first port
 * @count:	how many ports, 1 for a single one
 *
 * Return: 0, or -1 if @text is malformed or the range runs backwards.
 */
int addr_parse_range(const char *text, struct addr *first, unsigned int *count)
{
	char head[ADDR_STRLEN + 8];
	const char *dash = strrchr(text, '-');
	const char *colon = strrchr(text, ':');
	long long last;
	unsigned int port;

	if (!dash || !colon || dash < colon) {
		*count = 1;
		return addr_parse(text, first);
	}
	if ((size_t)(dash - text) >= sizeof(head))
		return -1;
	memcpy(head, text, (size_t)(dash - text));
	head[dash - text] = '\0';
	if (addr_parse(head, first) || addr_parse_uint(dash + 1, 65535, &last))
		return -1;
	port = addr_port(first);
	if (last < port)
		return -1;
	*count = (unsigned int)(last - port + 1);
	return 0;
}

/**
 * addr_append() - parse @text (a port range allowed) onto a list
 * @text:	the address
 * @list:	the list
 * @max:	its size
 * @n:		in: entries used; out: after appending one per port
 *
 * Return: 0, or -1 if @text is malformed or the list would overflow.
 */
int addr_append(const char *text, struct addr *list, unsigned int max, unsigned int *n)
{
	struct addr first;
	unsigned int count, i;

	if (addr_parse_range(text, &first, &count) || count > max - *n)
		return -1;
	for (i = 0; i < count; i++) {
		list[*n] = first;
		addr_set_port(&list[*n], addr_port(&first) + i);
		(*n)++;
	}
	return 0;
}

/**
 * addr_port() - the port of an AF_INET or AF_INET6 address
 * @a:		the address
 *
 * Return: the port, host order.
 */
unsigned int addr_port(const struct addr *a)
{
	if (a->ss.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
	return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
}

/**
 * addr_set_port() - change the port of an AF_INET or AF_INET6 address
 * @a:		the address
 * @port:	the port, host order
 */
void addr_set_port(struct addr *a, unsigned int port)
{
	if (a->ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&a->ss)->sin6_port = htons((uint16_t)port);
	else
		((struct sockaddr_in *)&a->ss)->sin_port = htons((uint16_t)port);
}

/**
 * addr_parse() - parse "IPv4:port" or "[IPv6]:port"
 * @text:	the address as given on the command line
 * @out:	the socket address
 *
 * Port 0 is refused: a forwarder needs a known port on both sides.
 *
 * Return: 0, or -1 if @text is malformed.
 */
int addr_parse(const char *text, struct addr *out)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port_text;
	long long port;
	size_t hostlen;

	memset(out, 0, sizeof(*out));
	if (!text)
		return -1;

	if (text[0] == '[') {
		const char *close = strchr(text, ']');

		if (!close || close[1] != ':')
			return -1;
		hostlen = (size_t)(close - text - 1);
		port_text = close + 2;
		if (hostlen == 0 || hostlen >= sizeof(host))
			return -1;
		memcpy(host, text + 1, hostlen);
		host[hostlen] = '\0';
	} else {
		const char *colon = strrchr(text, ':');

		/* A bare IPv6 address would have more than one colon. */
		if (!colon || strchr(text, ':') != colon)
			return -1;
		hostlen = (size_t)(colon - text);
		port_text = colon + 1;
		if (hostlen == 0 || hostlen >= sizeof(host))
			return -1;
		memcpy(host, text, hostlen);
		host[hostlen] = '\0';
	}

	if (addr_parse_uint(port_text, 65535, &port) || port == 0)
		return -1;

	if (text[0] == '[') {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->ss;

		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return -1;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		out->len = sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&out->ss;

		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			return -1;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		out->len = sizeof(*sin);
	}
	return 0;
}

/**
 * addr_format() - print a socket address in the ADDR form
 * @sa:		the address
 * @len:	its length
 * @buf:	output
 * @size:	size of @buf, ADDR_STRLEN is enough
 */
void addr_format(const struct sockaddr *sa, socklen_t len, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(buf, size, "%s:%u", host, ntohs(sin->sin_port));
	} else if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		snprintf(buf, size, "[%s]:%u", host, ntohs(sin6->sin6_port));
	} else {
		strlcpy(buf, "?", size);
	}
}
