// SPDX-License-Identifier: MIT
/*
 * msg.c - encode and decode rendezvous records.
 *
 * Theory of operation: decoding is a pure function over a byte buffer and
 * the number of fds that came with it, so the unit tests and the fuzzer
 * reach every branch without sockets.  A record is accepted only if its
 * type is known, its length field matches its type's fixed size, the
 * packet holds exactly that many bytes (no leftovers), reserved fields are
 * zero and it carried exactly the fds its type requires.
 */
#include "msg.h"

#include <arpa/inet.h>
#include <assert.h>
#include <netinet/in.h>
#include <string.h>

static_assert(MSG_LISTENER_BACK_LEN == MSG_LISTENER_LEN,
	      "msg_decode() sizes LISTENER and LISTENER_BACK alike");

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

static void put_hdr(uint8_t *buf, enum msg_type type, uint16_t len)
{
	buf[0] = (uint8_t)type;
	buf[1] = 0;
	put16(buf + 2, len);
}

/**
 * msg_fds_expected() - how many fds a record of @type carries
 * @type:	record type
 *
 * Return: 1 for MSG_CONN and MSG_LISTENER, 0 otherwise.
 */
unsigned int msg_fds_expected(enum msg_type type)
{
	return type == MSG_CONN || type == MSG_LISTENER ? 1 : 0;
}

/**
 * msg_encode_hello() - build a HELLO record
 * @buf:	output
 * @size:	size of @buf
 * @role:	the sender's role
 * @forwards:	ntb-listen: its listening sockets; ntb-connect: its targets
 * @flags:	MSG_HELLO_* (ntb-connect only)
 *
 * Return: record length, or 0 if @buf is too small, @forwards is not
 * from 1 to MSG_MAX_FORWARDS or @flags has unknown bits.
 */
size_t msg_encode_hello(uint8_t *buf, size_t size, enum msg_role role, unsigned int forwards,
			unsigned int flags)
{
	if (size < MSG_HDR_LEN + MSG_HELLO_LEN || !forwards || forwards > MSG_MAX_FORWARDS ||
	    (flags & ~MSG_HELLO_TAKES_LISTENERS))
		return 0;
	put_hdr(buf, MSG_HELLO, MSG_HELLO_LEN);
	put32(buf + 4, MSG_MAGIC);
	put16(buf + 8, MSG_VERSION);
	put16(buf + 10, (uint16_t)role);
	put16(buf + 12, (uint16_t)forwards);
	put16(buf + 14, (uint16_t)flags);
	return MSG_HDR_LEN + MSG_HELLO_LEN;
}

/**
 * msg_encode_conn() - build a CONN record (the fd goes alongside)
 * @buf:	output
 * @size:	size of @buf
 * @client:	the client's address (getpeername of the accepted socket)
 * @local:	the address it connected to (getsockname)
 * @index:	the listener it came from, below MSG_MAX_FORWARDS
 *
 * Return: record length, or 0 if @buf is too small, @index too large or
 * the addresses are not both AF_INET or both AF_INET6.
 */
size_t msg_encode_conn(uint8_t *buf, size_t size, const struct sockaddr *client,
		       const struct sockaddr *local, unsigned int index)
{
	uint8_t *p = buf + MSG_HDR_LEN;

	if (size < MSG_HDR_LEN + MSG_CONN_LEN || client->sa_family != local->sa_family ||
	    index >= MSG_MAX_FORWARDS)
		return 0;
	memset(buf, 0, MSG_HDR_LEN + MSG_CONN_LEN);
	put_hdr(buf, MSG_CONN, MSG_CONN_LEN);
	put16(p + 6, (uint16_t)index);
	if (client->sa_family == AF_INET) {
		const struct sockaddr_in *c = (const struct sockaddr_in *)client;
		const struct sockaddr_in *l = (const struct sockaddr_in *)local;

		p[0] = 4;
		memcpy(p + 2, &c->sin_port, 2);
		memcpy(p + 4, &l->sin_port, 2);
		memcpy(p + 8, &c->sin_addr, 4);
		memcpy(p + 24, &l->sin_addr, 4);
	} else if (client->sa_family == AF_INET6) {
		const struct sockaddr_in6 *c = (const struct sockaddr_in6 *)client;
		const struct sockaddr_in6 *l = (const struct sockaddr_in6 *)local;

		p[0] = 6;
		memcpy(p + 2, &c->sin6_port, 2);
		memcpy(p + 4, &l->sin6_port, 2);
		memcpy(p + 8, &c->sin6_addr, 16);
		memcpy(p + 24, &l->sin6_addr, 16);
	} else {
		return 0;
	}
	return MSG_HDR_LEN + MSG_CONN_LEN;
}

/**
 * msg_encode_listener() - build a LISTENER record (the fd goes alongside)
 * @buf:	output
 * @size:	size of @buf
 * @index:	the forward it serves, below MSG_MAX_FORWARDS
 *
 * Return: record length, or 0 if @buf is too small or @index too large.
 */
size_t msg_encode_listener(uint8_t *buf, size_t size, unsigned int index)
{
	if (size < MSG_HDR_LEN + MSG_LISTENER_LEN || index >= MSG_MAX_FORWARDS)
		return 0;
	put_hdr(buf, MSG_LISTENER, MSG_LISTENER_LEN);
	put16(buf + 4, (uint16_t)index);
	put16(buf + 6, 0);
	return MSG_HDR_LEN + MSG_LISTENER_LEN;
}

/**
 * msg_encode_listener_back() - build a LISTENER_BACK record (no fd): the
 * listening socket of forward @index is ntb-listen's alone again
 * @buf:	output
 * @size:	size of @buf
 * @index:	the index of the LISTENER record, below MSG_MAX_FORWARDS
 * @reason:	why
 *
 * Return: record length, or 0 if @buf is too small, @index too large or
 * @reason unknown.
 */
size_t msg_encode_listener_back(uint8_t *buf, size_t size, unsigned int index,
				enum msg_back_reason reason)
{
	if (size < MSG_HDR_LEN + MSG_LISTENER_BACK_LEN || index >= MSG_MAX_FORWARDS ||
	    reason < MSG_BACK_REFUSED || reason > MSG_BACK_MAX)
		return 0;
	put_hdr(buf, MSG_LISTENER_BACK, MSG_LISTENER_BACK_LEN);
	put16(buf + 4, (uint16_t)index);
	put16(buf + 6, (uint16_t)reason);
	return MSG_HDR_LEN + MSG_LISTENER_BACK_LEN;
}

/**
 * msg_back_reason_text() - a LISTENER_BACK reason in words, for a log line
 * @reason:	enum msg_back_reason
 *
 * Return: a static string.
 */
const char *msg_back_reason_text(unsigned int reason)
{
	switch (reason) {
	case MSG_BACK_REFUSED:
		return "refused";
	case MSG_BACK_STOPPING:
		return "stopping";
	case MSG_BACK_DROPPED:
		return "no worker could watch it";
	default:
		return "unknown reason";
	}
}

static int all_zero(const uint8_t *p, size_t n)
{
	while (n--)
		if (*p++)
			return 0;
	return 1;
}

static int decode_conn(const uint8_t *p, struct msg *out, const char **why)
{
	memset(&out->u.conn, 0, sizeof(out->u.conn));
	if (p[1]) {
		*why = "reserved bytes of CONN are not zero";
		return -1;
	}
	out->u.conn.index = get16(p + 6);
	if (out->u.conn.index >= MSG_MAX_FORWARDS) {
		*why = "CONN names a listener past the largest index";
		return -1;
	}
	if (p[0] == 4) {
		struct sockaddr_in *c = (struct sockaddr_in *)&out->u.conn.client;
		struct sockaddr_in *l = (struct sockaddr_in *)&out->u.conn.local;

		if (!all_zero(p + 12, 12) || !all_zero(p + 28, 12)) {
			*why = "IPv4 CONN has bytes past its addresses";
			return -1;
		}
		c->sin_family = l->sin_family = AF_INET;
		memcpy(&c->sin_port, p + 2, 2);
		memcpy(&l->sin_port, p + 4, 2);
		memcpy(&c->sin_addr, p + 8, 4);
		memcpy(&l->sin_addr, p + 24, 4);
		out->u.conn.len = sizeof(*c);
	} else if (p[0] == 6) {
		struct sockaddr_in6 *c = (struct sockaddr_in6 *)&out->u.conn.client;
		struct sockaddr_in6 *l = (struct sockaddr_in6 *)&out->u.conn.local;

		c->sin6_family = l->sin6_family = AF_INET6;
		memcpy(&c->sin6_port, p + 2, 2);
		memcpy(&l->sin6_port, p + 4, 2);
		memcpy(&c->sin6_addr, p + 8, 16);
		memcpy(&l->sin6_addr, p + 24, 16);
		out->u.conn.len = sizeof(*c);
	} else {
		*why = "CONN has an unknown address family";
		return -1;
	}
	return 0;
}

/**
 * msg_decode() - check and decode one received record
 * @buf:	the packet as received
 * @len:	its length in bytes
 * @nfds:	how many fds arrived with it
 * @out:	the decoded record
 * @why:	on failure, a static string naming the fault
 *
 * Return: 0 if the record is well-formed, -1 otherwise.
 */
int msg_decode(const uint8_t *buf, size_t len, unsigned int nfds, struct msg *out,
	       const char **why)
{
	size_t want;
	uint16_t plen;

	if (len < MSG_HDR_LEN) {
		*why = "record shorter than its header";
		return -1;
	}
	if (len > MSG_HDR_LEN + 0xffff) {
		*why = "record longer than any record";
		return -1;
	}
	plen = get16(buf + 2);
	if (buf[1]) {
		*why = "header flags are not zero";
		return -1;
	}
	switch (buf[0]) {
	case MSG_HELLO:
		want = MSG_HELLO_LEN;
		break;
	case MSG_CONN:
		want = MSG_CONN_LEN;
		break;
	case MSG_LISTENER:
	case MSG_LISTENER_BACK:	/* same size: see the static_assert */
		want = MSG_LISTENER_LEN;
		break;
	default:
		*why = "unknown record type";
		return -1;
	}
	if (plen != want) {
		*why = "length field does not match the record type";
		return -1;
	}
	if (len < MSG_HDR_LEN + want) {
		*why = "record truncated";
		return -1;
	}
	if (len > MSG_HDR_LEN + want) {
		*why = "leftover bytes after the record";
		return -1;
	}
	if (nfds != msg_fds_expected((enum msg_type)buf[0])) {
		*why = nfds ? "unexpected file descriptors with the record"
			    : "record came without its file descriptor";
		return -1;
	}

	out->type = (enum msg_type)buf[0];
	if (out->type == MSG_HELLO) {
		if (get32(buf + 4) != MSG_MAGIC) {
			*why = "HELLO has a bad magic number";
			return -1;
		}
		out->u.hello.version = get16(buf + 8);
		out->u.hello.role = get16(buf + 10);
		out->u.hello.forwards = get16(buf + 12);
		if (out->u.hello.version != MSG_VERSION) {
			*why = "HELLO has an unsupported protocol version";
			return -1;
		}
		if (!out->u.hello.forwards || out->u.hello.forwards > MSG_MAX_FORWARDS) {
			*why = "HELLO counts no forwards, or too many";
			return -1;
		}
		out->u.hello.flags = get16(buf + 14);
		if (out->u.hello.flags & ~MSG_HELLO_TAKES_LISTENERS) {
			*why = "HELLO has unknown flags";
			return -1;
		}
		if (out->u.hello.role != MSG_ROLE_LISTEN && out->u.hello.role != MSG_ROLE_CONNECT) {
			*why = "HELLO has an unknown role";
			return -1;
		}
		return 0;
	}
	if (out->type == MSG_LISTENER) {
		out->u.listener.index = get16(buf + 4);
		if (get16(buf + 6)) {
			*why = "reserved bytes of LISTENER are not zero";
			return -1;
		}
		if (out->u.listener.index >= MSG_MAX_FORWARDS) {
			*why = "LISTENER names a forward past the largest index";
			return -1;
		}
		return 0;
	}
	if (out->type == MSG_LISTENER_BACK) {
		out->u.back.index = get16(buf + 4);
		out->u.back.reason = get16(buf + 6);
		if (out->u.back.index >= MSG_MAX_FORWARDS) {
			*why = "LISTENER_BACK names a forward past the largest index";
			return -1;
		}
		if (out->u.back.reason < MSG_BACK_REFUSED || out->u.back.reason > MSG_BACK_MAX) {
			*why = "LISTENER_BACK has an unknown reason";
			return -1;
		}
		return 0;
	}
	return decode_conn(buf + MSG_HDR_LEN, out, why);
}
