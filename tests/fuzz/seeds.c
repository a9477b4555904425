// SPDX-License-Identifier: MIT
/*
 * seeds - write the fuzz targets' seed corpus (tests/fuzz/corpus/), and
 * check that the decoders accept every seed.
 *
 * A fuzzer that starts from nothing spends its first minutes finding the
 * magic, the version and the lengths of a record; seeds that already pass
 * them let a short CI run reach the code behind.  The binary seeds (the
 * rendezvous records, the PROXY headers) are made with the project's own
 * encoders, so `make fuzz-seeds` writes them again after a change of the
 * wire format; a seed that no longer decodes fails it.
 *   seeds DIR
 */
#include "addr.h"
#include "msg.h"
#include "netns.h"
#include "proxy.h"
#include "rendezvous.h"
#include "rules.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *top;
static int failed;

static void seed_write(const char *target, const char *name, const void *data, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", top, target);
	if (mkdir(path, 0755) && errno != EEXIST) {
		perror(path);
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/%s/%s", top, target, name);
	f = fopen(path, "w");
	if (!f || fwrite(data, 1, len, f) != len || fclose(f)) {
		perror(path);
		exit(1);
	}
}

static void seed_fail(const char *target, const char *name, const char *why)
{
	fprintf(stderr, "seeds: %s/%s is not accepted: %s\n", target, name, why ? why : "?");
	failed = 1;
}

/* fuzz_msg: one byte of fds that arrived, then the record. */
static void seed_msg(const char *name, unsigned int nfds, const uint8_t *rec, size_t len)
{
	uint8_t buf[1 + MSG_BUF_MAX];
	const char *why = NULL;
	struct msg m;

	if (!len || msg_decode(rec, len, nfds, &m, &why))
		seed_fail("msg", name, len ? why : "not encoded");
	buf[0] = (uint8_t)nfds;
	memcpy(buf + 1, rec, len);
	seed_write("msg", name, buf, len + 1);
}

static void seed_proxy(const char *name, const void *hdr, size_t len)
{
	struct proxy_info pi;
	const char *why = NULL;

	if (!len || proxy_parse(hdr, len, &pi, &why) != 1)
		seed_fail("proxy", name, len ? why : "not written");
	seed_write("proxy", name, hdr, len);
}

static void seed_text(const char *target, const char *name, const char *text, int ok)
{
	if (!ok)
		seed_fail(target, name, "refused");
	seed_write(target, name, text, strlen(text));
}

static struct sockaddr_in v4(const char *ip, unsigned int port)
{
	struct sockaddr_in s = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };

	inet_pton(AF_INET, ip, &s.sin_addr);
	return s;
}

static struct sockaddr_in6 v6(const char *ip, unsigned int port)
{
	struct sockaddr_in6 s = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port) };

	inet_pton(AF_INET6, ip, &s.sin6_addr);
	return s;
}

static void seeds_msg(void)
{
	struct sockaddr_in c4 = v4("192.0.2.7", 40000), l4 = v4("10.0.0.1", 80);
	struct sockaddr_in6 c6 = v6("2001:db8::7", 40000), l6 = v6("2001:db8::1", 443);
	uint8_t b[MSG_BUF_MAX];

	seed_msg("hello-listen", 0, b, msg_encode_hello(b, sizeof(b), MSG_ROLE_LISTEN, 1, 0));
	seed_msg("hello-connect-listeners", 0, b,
		 msg_encode_hello(b, sizeof(b), MSG_ROLE_CONNECT, 3, MSG_HELLO_TAKES_LISTENERS));
	seed_msg("conn-v4", 1, b, msg_encode_conn(b, sizeof(b), (struct sockaddr *)&c4,
						  (struct sockaddr *)&l4, 0));
	seed_msg("conn-v6", 1, b, msg_encode_conn(b, sizeof(b), (struct sockaddr *)&c6,
						  (struct sockaddr *)&l6, 2));
	seed_msg("listener", 1, b, msg_encode_listener(b, sizeof(b), 1));
	seed_msg("listener-back", 0, b, msg_encode_listener_back(b, sizeof(b), 1, MSG_BACK_STOPPING));
}

static void seeds_proxy(void)
{
	struct sockaddr_in s4 = v4("192.0.2.7", 40000), d4 = v4("10.0.0.1", 80);
	struct sockaddr_in6 s6 = v6("2001:db8::7", 40000), d6 = v6("2001:db8::1", 443);
	static const char unknown[] = "PROXY UNKNOWN\r\n";
	/* v2 LOCAL (a health check), and v2 TCP4 with one TLV (a PP2_TYPE_AUTHORITY). */
	static const uint8_t sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };
	uint8_t b[PROXY_HEADER_MAX + 16];
	size_t n;

	seed_proxy("v1-tcp4", b, proxy_header(b, sizeof(b), 1, (struct sockaddr *)&s4, (struct sockaddr *)&d4));
	seed_proxy("v1-tcp6", b, proxy_header(b, sizeof(b), 1, (struct sockaddr *)&s6, (struct sockaddr *)&d6));
	seed_proxy("v1-unknown", unknown, sizeof(unknown) - 1);
	seed_proxy("v2-tcp4", b, proxy_header(b, sizeof(b), 2, (struct sockaddr *)&s4, (struct sockaddr *)&d4));
	seed_proxy("v2-tcp6", b, proxy_header(b, sizeof(b), 2, (struct sockaddr *)&s6, (struct sockaddr *)&d6));
	memcpy(b, sig, sizeof(sig));
	b[12] = 0x20;		/* version 2, LOCAL */
	b[13] = 0x00;		/* AF_UNSPEC */
	b[14] = 0;
	b[15] = 0;
	seed_proxy("v2-local", b, 16);
	n = proxy_header(b, sizeof(b), 2, (struct sockaddr *)&s4, (struct sockaddr *)&d4);
	if (n) {
		b[n++] = 0x02;	/* PP2_TYPE_AUTHORITY, 4 bytes */
		b[n++] = 0;
		b[n++] = 4;
		memcpy(b + n, "host", 4);
		n += 4;
		b[15] = (uint8_t)(b[15] + 7);	/* the length covers the TLV */
	}
	seed_proxy("v2-tcp4-tlv", b, n);
}

static void seeds_text(void)
{
	static const char *addrs[] = { "127.0.0.1:80", "[::1]:8080", "0.0.0.0:8000-8010",
				       "[2001:db8::1]:1-65535" };
	static const char *rules[] = { "tcp://10.0.0.0/8:80-443", "tcp://[2001:db8::]/32:443",
				       "tcp://192.0.2.1", "tcp://[::]/0" };
	static const char *ns[] = { "/run/netns/b", "/proc/1/ns/net", "pid:1", "name:web", "fd:3" };
	static const char *rdv[] = { "@ntb-web", "/run/ntb/web.sock", "fd:4" };
	struct netns_spec nss;
	struct rdv_spec rs;
	struct addr a;
	struct rule r;
	const char *why;
	unsigned int i, count;
	char name[32];
	int ka[3], fd;

	for (i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		snprintf(name, sizeof(name), "addr-%u", i);
		seed_text("addr", name, addrs[i], !addr_parse_range(addrs[i], &a, &count));
	}
	seed_text("addr", "keepalive", "60,10,5", !addr_parse_keepalive("60,10,5", ka));
	seed_text("addr", "fd", "3", !addr_parse_fd("3", &fd));
	for (i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		snprintf(name, sizeof(name), "rule-%u", i);
		seed_text("rules", name, rules[i], !rule_parse(rules[i], &r, &why));
	}
	for (i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		snprintf(name, sizeof(name), "netns-%u", i);
		seed_text("spec", name, ns[i], !netns_spec_parse(ns[i], &nss, &why));
	}
	for (i = 0; i < sizeof(rdv) / sizeof(rdv[0]); i++) {
		snprintf(name, sizeof(name), "rdv-%u", i);
		seed_text("spec", name, rdv[i], !rdv_parse(rdv[i], &rs, &why));
	}
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: seeds DIR\n");
		return 2;
	}
	top = argv[1];
	seeds_msg();
	seeds_proxy();
	seeds_text();
	return failed;
}
