// SPDX-License-Identifier: MIT
/*
 * unit_proxy - the PROXY protocol header: what ntb-connect writes, byte
 * for byte (the examples of HAProxy's specification), and what
 * ntb-listen's --accept-proxy takes or refuses.
 */
#include "proxy.h"
#include "tap.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

static struct sockaddr_in v4(const char *a, unsigned int port)
{
	struct sockaddr_in s = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };

	inet_pton(AF_INET, a, &s.sin_addr);
	return s;
}

static struct sockaddr_in6 v6(const char *a, unsigned int port)
{
	struct sockaddr_in6 s = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port) };

	inet_pton(AF_INET6, a, &s.sin6_addr);
	return s;
}

static const char sig[] = "\r\n\r\n\0\r\nQUIT\n";

int main(void)
{
	struct sockaddr_in s4 = v4("192.168.0.1", 56324), d4 = v4("192.168.0.11", 443);
	struct sockaddr_in6 s6 = v6("2001:db8::1", 1234), d6 = v6("::1", 8080);
	uint8_t buf[PROXY_HEADER_MAX], v2[64];
	struct proxy_info pi;
	const char *why;
	size_t n;
	int rc;

	/* What we write. */
	n = proxy_header(buf, sizeof(buf), 1, (struct sockaddr *)&s4, (struct sockaddr *)&d4);
	CHECK(n == 47 && !memcmp(buf, "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n", 47),
	      "v1 TCP4 header as in the specification");
	n = proxy_header(buf, sizeof(buf), 1, (struct sockaddr *)&s6, (struct sockaddr *)&d6);
	CHECK(n == strlen("PROXY TCP6 2001:db8::1 ::1 1234 8080\r\n") &&
	      !memcmp(buf, "PROXY TCP6 2001:db8::1 ::1 1234 8080\r\n", n), "v1 TCP6 header");
	n = proxy_header(buf, sizeof(buf), 1, (struct sockaddr *)&s4, (struct sockaddr *)&d6);
	CHECK(n == 15 && !memcmp(buf, "PROXY UNKNOWN\r\n", 15), "v1 with two families: UNKNOWN");
	n = proxy_header(buf, sizeof(buf), 2, (struct sockaddr *)&s4, (struct sockaddr *)&d4);
	CHECK(n == 28 && !memcmp(buf, sig, 12) && buf[12] == 0x21 && buf[13] == 0x11 &&
	      buf[14] == 0 && buf[15] == 12 && !memcmp(buf + 16, &s4.sin_addr, 4) &&
	      !memcmp(buf + 20, &d4.sin_addr, 4) && buf[24] == 0xdc && buf[25] == 0x04 &&
	      buf[26] == 0x01 && buf[27] == 0xbb, "v2 TCP over IPv4, 28 bytes");
	n = proxy_header(buf, sizeof(buf), 2, (struct sockaddr *)&s6, (struct sockaddr *)&d6);
	CHECK(n == 52 && buf[13] == 0x21 && buf[15] == 36 && !memcmp(buf + 16, &s6.sin6_addr, 16),
	      "v2 TCP over IPv6, 52 bytes");
	n = proxy_header(buf, sizeof(buf), 2, (struct sockaddr *)&s6, (struct sockaddr *)&d4);
	CHECK(n == 16 && buf[12] == 0x20 && buf[13] == 0 && buf[15] == 0, "v2 with two families: LOCAL");
	CHECK(proxy_header(buf, 20, 1, (struct sockaddr *)&s4, (struct sockaddr *)&d4) == 0,
	      "v1 into too small a buffer: 0");
	CHECK(proxy_header(buf, sizeof(buf), 3, (struct sockaddr *)&s4, (struct sockaddr *)&d4) == 0,
	      "version 3: 0");

	/* What we read: each header we write reads back to its addresses. */
	n = proxy_header(buf, sizeof(buf), 1, (struct sockaddr *)&s4, (struct sockaddr *)&d4);
	rc = proxy_parse(buf, n, &pi, &why);
	CHECK(rc == 1 && pi.len == n && !pi.local && !memcmp(&pi.src, &s4, sizeof(s4)) &&
	      !memcmp(&pi.dst, &d4, sizeof(d4)), "v1 TCP4 reads back");
	n = proxy_header(v2, sizeof(v2), 2, (struct sockaddr *)&s6, (struct sockaddr *)&d6);
	memcpy(v2 + n, "GET /", 5);
	rc = proxy_parse(v2, n + 5, &pi, &why);
	CHECK(rc == 1 && pi.len == n && !memcmp(&pi.src, &s6, sizeof(s6)) &&
	      !memcmp(&pi.dst, &d6, sizeof(d6)), "v2 TCP6 reads back; data after it untouched");
	rc = proxy_parse(v2, 20, &pi, &why);
	CHECK(rc == 0 && !why, "v2 cut short: wait for more");
	rc = proxy_parse((const uint8_t *)"PROXY TCP4 1.2.3.4", 18, &pi, &why);
	CHECK(rc == 0 && !why, "v1 without its CRLF yet: wait for more");
	rc = proxy_parse((const uint8_t *)"PRO", 3, &pi, &why);
	CHECK(rc == 0, "three bytes of PROXY: wait for more");
	rc = proxy_parse((const uint8_t *)"PROXY UNKNOWN\r\n", 15, &pi, &why);
	CHECK(rc == 1 && pi.local && pi.len == 15, "v1 UNKNOWN: no addresses");
	v2[12] = 0x20;
	rc = proxy_parse(v2, n, &pi, &why);
	CHECK(rc == 1 && pi.local, "v2 LOCAL: no addresses");

	/* What we refuse. */
	{
		static const char *bad[] = {
			"GET / HTTP/1.1\r\n",
			"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
			"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
			"PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n",
			"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
			"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
			"PROXY TCP4 ::1 ::1 1 2\r\n",
			"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
			"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
			"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
			"PROXY TCP4 1.2.3.400 5.6.7.8 1 2\r\n",
		};
		unsigned int i;

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			rc = proxy_parse((const uint8_t *)bad[i], strlen(bad[i]), &pi, &why);
			CHECK(rc == -1 && why, "refused: %.*s", (int)strcspn(bad[i], "\r\n"), bad[i]);
		}
	}
	{
		char longline[200];

		memset(longline, 'x', sizeof(longline));
		memcpy(longline, "PROXY ", 6);
		rc = proxy_parse((const uint8_t *)longline, sizeof(longline), &pi, &why);
		CHECK(rc == -1 && why, "v1 line of 200 bytes without CRLF: refused");
	}
	n = proxy_header(v2, sizeof(v2), 2, (struct sockaddr *)&s4, (struct sockaddr *)&d4);
	v2[12] = 0x11;
	CHECK(proxy_parse(v2, n, &pi, &why) == -1, "v2 header of version 1: refused");
	v2[12] = 0x22;
	CHECK(proxy_parse(v2, n, &pi, &why) == -1, "v2 command 2: refused");
	v2[12] = 0x21;
	v2[13] = 0x12;
	CHECK(proxy_parse(v2, n, &pi, &why) == -1, "v2 UDP over IPv4: refused");
	v2[13] = 0x21;
	CHECK(proxy_parse(v2, n, &pi, &why) == -1, "v2 IPv6 with a 12-byte body: refused");
	v2[13] = 0x11;
	v2[14] = 0xff;
	CHECK(proxy_parse(v2, n, &pi, &why) == -1, "v2 longer than PROXY_V2_MAX: refused");
	return tap_done();
}
