// SPDX-License-Identifier: MIT
/* Unit tests: ADDR parsing and formatting, NS forms. */
#include "addr.h"
#include "netns.h"
#include "route.h"
#include "tap.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

static void good(const char *text, int family, unsigned int port, const char *back)
{
	struct addr a;
	char buf[ADDR_STRLEN];
	int rc = addr_parse(text, &a);

	CHECK(rc == 0, "addr_parse accepts '%s'", text);
	if (rc)
		return;
	CHECK(a.ss.ss_family == family, "'%s' has the right family", text);
	CHECK(ntohs(((struct sockaddr_in *)&a.ss)->sin_port) == port, "'%s' has port %u", text, port);
	addr_format((struct sockaddr *)&a.ss, a.len, buf, sizeof(buf));
	CHECK(!strcmp(buf, back), "'%s' formats back as '%s' (got '%s')", text, back, buf);
}

static void bad(const char *text)
{
	struct addr a;

	CHECK(addr_parse(text, &a) == -1, "addr_parse refuses '%s'", text ? text : "(null)");
}

static void ns_good(const char *text, enum netns_kind kind, const char *path, int fd)
{
	struct netns_spec s;
	const char *why = NULL;
	int rc = netns_spec_parse(text, &s, &why);

	CHECK(rc == 0 && s.kind == kind && (!path || !strcmp(s.path, path)) && s.fd == fd,
	      "NS '%s' parses (%s)", text, rc ? why : "ok");
}

static void ns_bad(const char *text)
{
	struct netns_spec s;
	const char *why = NULL;

	CHECK(netns_spec_parse(text, &s, &why) == -1 && why && *why,
	      "NS '%s' refused with a reason (%s)", text ? text : "(null)", why ? why : "none");
}

int main(void)
{
	long long v;
	int fd;

	good("127.0.0.1:80", AF_INET, 80, "127.0.0.1:80");
	good("0.0.0.0:65535", AF_INET, 65535, "0.0.0.0:65535");
	good("[::1]:8080", AF_INET6, 8080, "[::1]:8080");
	good("[fd00::a:b]:1", AF_INET6, 1, "[fd00::a:b]:1");
	good("[::ffff:10.0.0.1]:443", AF_INET6, 443, "[::ffff:10.0.0.1]:443");
	bad("");
	bad(NULL);
	bad("127.0.0.1");
	bad("127.0.0.1:");
	bad("127.0.0.1:0");
	bad("127.0.0.1:65536");
	bad("127.0.0.1:-1");
	bad("127.0.0.1:+80");
	bad("127.0.0.1:80x");
	bad("127.0.0.1: 80");
	bad("256.0.0.1:80");
	bad("localhost:80");
	bad("::1:80");
	bad("[::1]80");
	bad("[::1]");
	bad("[]:80");
	bad("[127.0.0.1]:80");
	bad("[::1:80");
	bad(":80");
	bad("1.2.3.4:99999999999999999999");

	CHECK(addr_parse_fd("3", &fd) == 0 && fd == 3, "fd '3' parses");
	CHECK(addr_parse_fd("-1", &fd) == -1, "fd '-1' refused");
	CHECK(addr_parse_fd("2147483648", &fd) == -1, "fd past INT_MAX refused");
	CHECK(addr_parse_fd("3a", &fd) == -1, "fd '3a' refused");
	{
		/* --keepalive IDLE,INTERVAL,COUNT: what the kernel accepts, no more. */
		static const struct {
			const char *text;
			int ok, v[3];
		} ka[] = {
			{ "60,10,5", 1, { 60, 10, 5 } },
			{ "1,1,1", 1, { 1, 1, 1 } },
			{ "32767,32767,127", 1, { 32767, 32767, 127 } },
			{ "32768,1,1", 0, { 0 } },
			{ "1,1,128", 0, { 0 } },
			{ "0,1,1", 0, { 0 } },
			{ "60,10", 0, { 0 } },
			{ "60,10,5,1", 0, { 0 } },
			{ "60,,5", 0, { 0 } },
			{ ",10,5", 0, { 0 } },
			{ "60,10,", 0, { 0 } },
			{ "60,-1,5", 0, { 0 } },
			{ "60, 10,5", 0, { 0 } },
			{ "60,10,5x", 0, { 0 } },
			{ "", 0, { 0 } },
			{ "99999999999999999999,1,1", 0, { 0 } },
		};
		unsigned int i;

		for (i = 0; i < sizeof(ka) / sizeof(ka[0]); i++) {
			int out[3] = { 0, 0, 0 };
			int rc = addr_parse_keepalive(ka[i].text, out);

			CHECK(ka[i].ok ? rc == 0 && !memcmp(out, ka[i].v, sizeof(out)) : rc == -1,
			      "keepalive '%s' %s", ka[i].text, ka[i].ok ? "parses" : "refused");
		}
	}
	CHECK(addr_parse_uint("", 10, &v) == -1, "empty number refused");
	CHECK(addr_parse_uint("\t5", 10, &v) == -1 && addr_parse_uint("\n+5", 10, &v) == -1 &&
	      addr_parse_uint("\v-0", 10, &v) == -1, "leading white space refused, signed or not");
	CHECK(addr_parse_uint("5", 10, &v) == 0 && v == 5, "a plain number parses");

	ns_good("/proc/1/ns/net", NETNS_PATH, "/proc/1/ns/net", -1);
	ns_good("/run/netns/x", NETNS_PATH, "/run/netns/x", -1);
	ns_good("pid:42", NETNS_PATH, "/proc/42/ns/net", -1);
	ns_good("name:blue", NETNS_PATH, "/run/netns/blue", -1);
	ns_good("fd:7", NETNS_FD, NULL, 7);
	ns_bad("");
	ns_bad(NULL);
	ns_bad("pid:");
	ns_bad("pid:0");
	ns_bad("pid:x");
	ns_bad("name:");
	ns_bad("name:../etc");
	ns_bad("name:..");
	ns_bad("fd:");
	ns_bad("fd:-3");
	{
		/* route_covers(): the local prefixes of --transparent-source's reply table. */
		struct route_table t = { .table = 100, .n = 3 };
		struct addr probe;

		t.local[0] = (struct route_prefix){ .family = AF_INET, .len = 24, .addr = { 10, 77, 0, 0 } };
		t.local[1] = (struct route_prefix){ .family = AF_INET6, .len = 64,
						    .addr = { 0xfd, 0x77 } };
		t.local[2] = (struct route_prefix){ .family = AF_INET, .len = 0 };
		t.n = 2;
		CHECK(!addr_parse("10.77.0.9:1", &probe) && route_covers(&t, (struct sockaddr *)&probe.ss),
		      "10.77.0.9 is within local 10.77.0.0/24");
		CHECK(!addr_parse("10.77.1.9:1", &probe) && !route_covers(&t, (struct sockaddr *)&probe.ss),
		      "10.77.1.9 is not");
		CHECK(!addr_parse("[fd77::5]:1", &probe) && route_covers(&t, (struct sockaddr *)&probe.ss),
		      "fd77::5 is within local fd77::/64");
		CHECK(!addr_parse("[fd78::5]:1", &probe) && !route_covers(&t, (struct sockaddr *)&probe.ss),
		      "fd78::5 is not");
		t.n = 3;
		CHECK(!addr_parse("192.0.2.1:1", &probe) && route_covers(&t, (struct sockaddr *)&probe.ss),
		      "a local 0.0.0.0/0 covers every IPv4 address");
		CHECK(!addr_parse("[2001:db8::1]:1", &probe) && !route_covers(&t, (struct sockaddr *)&probe.ss),
		      "but no IPv6 address");
	}
	return tap_done();
}
