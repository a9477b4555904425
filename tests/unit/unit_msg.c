// SPDX-License-Identifier: MIT
/* Unit tests: the rendezvous wire format, good records and every refusal. */
#include "msg.h"
#include "tap.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static int decode(const uint8_t *buf, size_t len, unsigned int nfds, struct msg *m,
		  const char **why)
{
	*why = NULL;
	return msg_decode(buf, len, nfds, m, why);
}

static void refused(const uint8_t *buf, size_t len, unsigned int nfds, const char *what)
{
	struct msg m;
	const char *why;

	CHECK(decode(buf, len, nfds, &m, &why) == -1 && why,
	      "refuses %s (%s)", what, why ? why : "no reason");
}

/*
 * A good record of a type that carries one fd, spoiled in the framing: no
 * fd, two, a byte short, a byte over.
 */
static void refused_framing(uint8_t *buf, size_t len, const char *type)
{
	char what[64];

	snprintf(what, sizeof(what), "%s without its fd", type);
	refused(buf, len, 0, what);
	snprintf(what, sizeof(what), "%s with two fds", type);
	refused(buf, len, 2, what);
	snprintf(what, sizeof(what), "truncated %s", type);
	refused(buf, len - 1, 1, what);
	snprintf(what, sizeof(what), "%s with a leftover byte", type);
	refused(buf, len + 1, 1, what);
}

int main(void)
{
	uint8_t buf[MSG_BUF_MAX], tmp[MSG_BUF_MAX];
	struct sockaddr_in c4 = { .sin_family = AF_INET, .sin_port = htons(40000) };
	struct sockaddr_in l4 = { .sin_family = AF_INET, .sin_port = htons(80) };
	struct sockaddr_in6 c6 = { .sin6_family = AF_INET6, .sin6_port = htons(1234) };
	struct sockaddr_in6 l6 = { .sin6_family = AF_INET6, .sin6_port = htons(443) };
	struct sockaddr_un_like { unsigned short family; } unix_sa = { AF_UNIX };
	const char *why;
	struct msg m;
	size_t len;
	unsigned int i;

	inet_pton(AF_INET, "10.1.2.3", &c4.sin_addr);
	inet_pton(AF_INET, "127.0.0.1", &l4.sin_addr);
	inet_pton(AF_INET6, "fd00::1", &c6.sin6_addr);
	inet_pton(AF_INET6, "::1", &l6.sin6_addr);

	/* HELLO round trip. */
	len = msg_encode_hello(buf, sizeof(buf), MSG_ROLE_LISTEN, 7, 0);
	CHECK(len == MSG_HDR_LEN + MSG_HELLO_LEN, "HELLO is %zu bytes", len);
	CHECK(decode(buf, len, 0, &m, &why) == 0 && m.type == MSG_HELLO &&
	      m.u.hello.version == MSG_VERSION && m.u.hello.role == MSG_ROLE_LISTEN &&
	      m.u.hello.forwards == 7, "HELLO decodes, with its count of forwards");
	CHECK(msg_encode_hello(buf, 5, MSG_ROLE_LISTEN, 1, 0) == 0, "HELLO needs room");
	CHECK(msg_encode_hello(buf, sizeof(buf), MSG_ROLE_LISTEN, 0, 0) == 0 &&
	      msg_encode_hello(buf, sizeof(buf), MSG_ROLE_LISTEN, MSG_MAX_FORWARDS + 1, 0) == 0,
	      "HELLO counts 1 to MSG_MAX_FORWARDS forwards");
	len = msg_encode_hello(buf, sizeof(buf), MSG_ROLE_LISTEN, 7, 0);
	refused(buf, len, 1, "HELLO with an fd");
	len = msg_encode_hello(buf, sizeof(buf), MSG_ROLE_CONNECT, 1, 0);
	memcpy(tmp, buf, len);
	tmp[4] ^= 1;
	refused(tmp, len, 0, "HELLO with a bad magic");
	memcpy(tmp, buf, len);
	tmp[9] = 1;
	refused(tmp, len, 0, "HELLO of version 1");
	memcpy(tmp, buf, len);
	tmp[13] = 0;
	refused(tmp, len, 0, "HELLO counting no forwards");
	memcpy(tmp, buf, len);
	tmp[12] = 0x04;
	tmp[13] = 0x01;
	refused(tmp, len, 0, "HELLO counting 1025 forwards");
	memcpy(tmp, buf, len);
	tmp[15] = 2;
	refused(tmp, len, 0, "HELLO with an unknown flag");
	memcpy(tmp, buf, len);
	tmp[14] = 0x80;
	refused(tmp, len, 0, "HELLO with an unknown flag in the high byte");
	CHECK(msg_encode_hello(tmp, sizeof(tmp), MSG_ROLE_CONNECT, 1, 2) == 0,
	      "HELLO is not encoded with an unknown flag");
	len = msg_encode_hello(buf, sizeof(buf), MSG_ROLE_CONNECT, 3, MSG_HELLO_TAKES_LISTENERS);
	CHECK(decode(buf, len, 0, &m, &why) == 0 && m.u.hello.flags == MSG_HELLO_TAKES_LISTENERS &&
	      m.u.hello.forwards == 3, "HELLO carries the takes-listeners flag");
	len = msg_encode_hello(buf, sizeof(buf), MSG_ROLE_CONNECT, 1, 0);
	{
		/* What a version 1 peer sends: 8 bytes, no count. */
		static const uint8_t v1[] = { 1, 0, 0, 8, 0x4e, 0x54, 0x42, 0x21, 0, 1, 0, 1 };

		refused(v1, sizeof(v1), 0, "a version 1 HELLO");
	}
	memcpy(tmp, buf, len);
	tmp[11] = 9;
	refused(tmp, len, 0, "HELLO with an unknown role");
	len = msg_encode_hello(buf, sizeof(buf), MSG_ROLE_CONNECT, 1, 0);
	memcpy(tmp, buf, len);
	tmp[9] = 2;
	refused(tmp, len, 0, "HELLO of version 2 (no LISTENER records)");

	/* LISTENER: an index, two reserved bytes, one fd. */
	len = msg_encode_listener(buf, sizeof(buf), 1023);
	CHECK(len == MSG_HDR_LEN + MSG_LISTENER_LEN, "LISTENER is %zu bytes", len);
	CHECK(decode(buf, len, 1, &m, &why) == 0 && m.type == MSG_LISTENER &&
	      m.u.listener.index == 1023, "LISTENER carries its forward's index");
	CHECK(msg_encode_listener(tmp, sizeof(tmp), MSG_MAX_FORWARDS) == 0 &&
	      msg_encode_listener(tmp, MSG_HDR_LEN + 3, 0) == 0,
	      "LISTENER refuses an index past the last, and a short buffer");
	refused_framing(buf, len, "LISTENER");
	memcpy(tmp, buf, len);
	tmp[MSG_HDR_LEN + 3] = 1;
	refused(tmp, len, 1, "LISTENER with a reserved byte set");
	memcpy(tmp, buf, len);
	tmp[MSG_HDR_LEN] = 0x04;
	tmp[MSG_HDR_LEN + 1] = 0x00;
	refused(tmp, len, 1, "LISTENER naming forward 1024");
	memcpy(tmp, buf, len);
	tmp[3] = MSG_CONN_LEN;
	refused(tmp, len, 1, "LISTENER whose length field says CONN");

	memcpy(tmp, buf, len);
	tmp[9] = 3;
	refused(tmp, len, 0, "HELLO of version 3 (no LISTENER_BACK records)");

	/* LISTENER_BACK: an index and a reason, no fd. */
	len = msg_encode_listener_back(buf, sizeof(buf), 1023, MSG_BACK_STOPPING);
	CHECK(len == MSG_HDR_LEN + MSG_LISTENER_BACK_LEN, "LISTENER_BACK is %zu bytes", len);
	CHECK(decode(buf, len, 0, &m, &why) == 0 && m.type == MSG_LISTENER_BACK &&
	      m.u.back.index == 1023 && m.u.back.reason == MSG_BACK_STOPPING,
	      "LISTENER_BACK carries its forward's index and its reason");
	CHECK(msg_encode_listener_back(tmp, sizeof(tmp), MSG_MAX_FORWARDS, MSG_BACK_REFUSED) == 0 &&
	      msg_encode_listener_back(tmp, MSG_HDR_LEN + 3, 0, MSG_BACK_REFUSED) == 0 &&
	      msg_encode_listener_back(tmp, sizeof(tmp), 0, (enum msg_back_reason)0) == 0 &&
	      msg_encode_listener_back(tmp, sizeof(tmp), 0, (enum msg_back_reason)(MSG_BACK_MAX + 1)) == 0,
	      "LISTENER_BACK refuses an index past the last, a short buffer, an unknown reason");
	refused(buf, len, 1, "LISTENER_BACK with an fd");
	refused(buf, len - 1, 0, "truncated LISTENER_BACK");
	refused(buf, len + 1, 0, "LISTENER_BACK with a leftover byte");
	memcpy(tmp, buf, len);
	tmp[MSG_HDR_LEN] = 0x04;
	tmp[MSG_HDR_LEN + 1] = 0x00;
	refused(tmp, len, 0, "LISTENER_BACK naming forward 1024");
	memcpy(tmp, buf, len);
	tmp[MSG_HDR_LEN + 3] = 0;
	refused(tmp, len, 0, "LISTENER_BACK with reason 0");
	memcpy(tmp, buf, len);
	tmp[MSG_HDR_LEN + 3] = MSG_BACK_MAX + 1;
	refused(tmp, len, 0, "LISTENER_BACK with an unknown reason");
	memcpy(tmp, buf, len);
	tmp[MSG_HDR_LEN + 2] = 1;
	refused(tmp, len, 0, "LISTENER_BACK with a reason in the high byte");
	memcpy(tmp, buf, len);
	tmp[1] = 1;
	refused(tmp, len, 0, "LISTENER_BACK with header flags");
	memcpy(tmp, buf, len);
	tmp[3] = MSG_CONN_LEN;
	refused(tmp, len, 0, "LISTENER_BACK whose length field says CONN");
	CHECK(strcmp(msg_back_reason_text(MSG_BACK_STOPPING), "stopping") == 0 &&
	      strcmp(msg_back_reason_text(99), "unknown reason") == 0,
	      "LISTENER_BACK reasons have words");

	/* CONN round trips, v4 and v6. */
	len = msg_encode_conn(buf, sizeof(buf), (struct sockaddr *)&c4, (struct sockaddr *)&l4, 1023);
	CHECK(len == MSG_HDR_LEN + MSG_CONN_LEN, "CONN is %zu bytes", len);
	CHECK(decode(buf, len, 1, &m, &why) == 0 && m.u.conn.index == 1023,
	      "CONN carries its listener index");
	CHECK(msg_encode_conn(tmp, sizeof(tmp), (struct sockaddr *)&c4, (struct sockaddr *)&l4,
			      MSG_MAX_FORWARDS) == 0, "CONN refuses an index past the last");
	memcpy(tmp, buf, len);
	tmp[MSG_HDR_LEN + 6] = 0x04;
	tmp[MSG_HDR_LEN + 7] = 0x00;
	refused(tmp, len, 1, "CONN naming listener 1024");
	len = msg_encode_conn(buf, sizeof(buf), (struct sockaddr *)&c4, (struct sockaddr *)&l4, 0);
	CHECK(decode(buf, len, 1, &m, &why) == 0 && m.type == MSG_CONN &&
	      m.u.conn.len == sizeof(struct sockaddr_in) &&
	      !memcmp(&((struct sockaddr_in *)&m.u.conn.client)->sin_addr, &c4.sin_addr, 4) &&
	      ((struct sockaddr_in *)&m.u.conn.client)->sin_port == c4.sin_port &&
	      ((struct sockaddr_in *)&m.u.conn.local)->sin_port == l4.sin_port,
	      "IPv4 CONN decodes to the same addresses");
	refused_framing(buf, len, "CONN");
	memcpy(tmp, buf, len);
	tmp[MSG_HDR_LEN + 12] = 1;
	refused(tmp, len, 1, "IPv4 CONN with bytes past the address");
	memcpy(tmp, buf, len);
	tmp[MSG_HDR_LEN] = 5;
	refused(tmp, len, 1, "CONN with family 5");
	memcpy(tmp, buf, len);
	tmp[MSG_HDR_LEN + 1] = 1;
	refused(tmp, len, 1, "CONN with a reserved byte set");

	len = msg_encode_conn(buf, sizeof(buf), (struct sockaddr *)&c6, (struct sockaddr *)&l6, 0);
	CHECK(decode(buf, len, 1, &m, &why) == 0 &&
	      !memcmp(&((struct sockaddr_in6 *)&m.u.conn.client)->sin6_addr, &c6.sin6_addr, 16) &&
	      !memcmp(&((struct sockaddr_in6 *)&m.u.conn.local)->sin6_addr, &l6.sin6_addr, 16),
	      "IPv6 CONN decodes to the same addresses");
	CHECK(msg_encode_conn(buf, sizeof(buf), (struct sockaddr *)&c4, (struct sockaddr *)&l6, 0) == 0,
	      "CONN refuses mixed families");
	CHECK(msg_encode_conn(buf, sizeof(buf), (struct sockaddr *)&unix_sa,
			      (struct sockaddr *)&unix_sa, 0) == 0, "CONN refuses AF_UNIX");
	CHECK(msg_encode_conn(buf, 10, (struct sockaddr *)&c4, (struct sockaddr *)&l4, 0) == 0,
	      "CONN needs room");

	/* Header faults. */
	refused(buf, 0, 0, "an empty record");
	refused(buf, 3, 0, "a record shorter than a header");
	memcpy(tmp, buf, len);
	tmp[0] = 3;
	refused(tmp, len, 1, "an unknown type");
	tmp[0] = 0;
	refused(tmp, len, 1, "type 0");
	memcpy(tmp, buf, len);
	tmp[1] = 0x80;
	refused(tmp, len, 1, "header flags set");
	memcpy(tmp, buf, len);
	tmp[3]++;
	refused(tmp, len, 1, "a length field that does not match the type");
	memset(tmp, 0xff, sizeof(tmp));
	refused(tmp, sizeof(tmp), 0, "a record of 0xff bytes");
	refused(tmp, (size_t)MSG_HDR_LEN + 0x10000, 0, "an oversized record");

	/* Every prefix of a valid record is refused, never read past. */
	len = msg_encode_conn(buf, sizeof(buf), (struct sockaddr *)&c6, (struct sockaddr *)&l6, 0);
	for (i = 0; i < len; i++)
		if (decode(buf, i, 1, &m, &why) == 0)
			break;
	CHECK(i == len, "no proper prefix of a CONN decodes");
	return tap_done();
}
