// SPDX-License-Identifier: MIT
/*
 * unit_rules - the --allow/--deny rules of ntb-connect --connect-original:
 * what parses, what is refused, and what each set decides.
 */
#include "addr.h"
#include "rules.h"
#include "tap.h"

#include <string.h>

static const struct {
	const char *text;
	int ok;
} parse[] = {
	{ "tcp://10.0.0.0/8", 1 },
	{ "tcp://10.0.0.0/8:80", 1 },
	{ "tcp://10.0.0.0/8:80-443", 1 },
	{ "tcp://192.0.2.7", 1 },
	{ "tcp://192.0.2.7:1-65535", 1 },
	{ "tcp://0.0.0.0/0", 1 },
	{ "tcp://[2001:db8::]/32:443", 1 },
	{ "tcp://[::]/0", 1 },
	{ "tcp://[fd77::2]", 1 },
	{ "udp://10.0.0.0/8", 0 },
	{ "10.0.0.0/8", 0 },
	{ "tcp://", 0 },
	{ "tcp://10.0.0.1/8", 0 },		/* host bits set */
	{ "tcp://10.0.0.0/33", 0 },
	{ "tcp://10.0.0.0/", 0 },
	{ "tcp://10.0.0.0/-1", 0 },
	{ "tcp://10.0.0.0/8:0", 0 },
	{ "tcp://10.0.0.0/8:65536", 0 },
	{ "tcp://10.0.0.0/8:90-80", 0 },
	{ "tcp://10.0.0.0/8:", 0 },
	{ "tcp://10.0.0.0/8:80x", 0 },
	{ "tcp://2001:db8::/32", 0 },		/* IPv6 without brackets */
	{ "tcp://[2001:db8::/32", 0 },
	{ "tcp://[2001:db8::]/129", 0 },
	{ "tcp://[10.0.0.1]", 0 },
	{ "tcp://host.example:80", 0 },
	{ "tcp://10.0.0.0/8 ", 0 },
	{ "tcp://10.0.0.0/8:80-443x", 0 },
};

static int decide(const struct rule_set *rs, const char *dst)
{
	struct addr a;
	const char *why;

	if (addr_parse(dst, &a))
		return -1;
	return rules_check(rs, (struct sockaddr *)&a.ss, &why);
}

/* rules_check_narrow(): the OCI hook's --allow-expose. */
static int narrow(const struct rule_set *rs, const char *dst)
{
	struct addr a;
	const char *why;

	if (addr_parse(dst, &a))
		return -1;
	return rules_check_narrow(rs, (struct sockaddr *)&a.ss, &why);
}

int main(void)
{
	struct rule_set rs;
	struct addr own;
	struct rule r;
	const char *why;
	unsigned int i;

	for (i = 0; i < sizeof(parse) / sizeof(parse[0]); i++) {
		int rc = rule_parse(parse[i].text, &r, &why);

		CHECK(parse[i].ok ? rc == 0 : rc == -1 && why, "rule '%s' %s", parse[i].text,
		      parse[i].ok ? "parses" : "is refused");
	}
	CHECK(!rule_parse("tcp://10.0.0.0/8:80-443", &r, &why) && r.len == 8 && r.port_lo == 80 &&
	      r.port_hi == 443, "prefix and port range read right");

	rules_init(&rs);
	CHECK(decide(&rs, "192.0.2.1:80") == 0, "default: deny");
	rules_add(&rs, "tcp://192.0.2.0/24:80-90", 1, &why);
	rules_add(&rs, "tcp://192.0.2.66/32", 0, &why);
	rules_add(&rs, "tcp://0.0.0.0/0:8080", 1, &why);
	rules_add(&rs, "tcp://[2001:db8::]/32:443", 1, &why);
	CHECK(decide(&rs, "192.0.2.1:80") == 1, "allowed by prefix and port");
	CHECK(decide(&rs, "192.0.2.1:91") == 0, "port outside the range: denied");
	CHECK(decide(&rs, "192.0.2.66:80") == 0, "deny wins over allow");
	CHECK(decide(&rs, "198.51.100.1:8080") == 1, "0.0.0.0/0:8080 allows any address on 8080");
	CHECK(decide(&rs, "127.0.0.1:8080") == 0, "loopback: built-in deny beats the allow");
	CHECK(decide(&rs, "169.254.1.1:8080") == 0, "link-local: built-in deny");
	CHECK(decide(&rs, "224.0.0.1:8080") == 0, "multicast: built-in deny");
	CHECK(decide(&rs, "255.255.255.255:8080") == 0, "broadcast: built-in deny");
	CHECK(decide(&rs, "0.0.0.0:8080") == 0, "unspecified: built-in deny");
	CHECK(decide(&rs, "[2001:db8::5]:443") == 1, "IPv6 allowed by prefix and port");
	CHECK(decide(&rs, "[2001:db9::5]:443") == 0, "IPv6 outside the prefix: denied");
	CHECK(decide(&rs, "[::1]:443") == 0, "::1: built-in deny");
	CHECK(decide(&rs, "[::ffff:192.0.2.1]:80") == 0, "IPv4-mapped: built-in deny");
	CHECK(decide(&rs, "[64:ff9b::c000:201]:80") == 0, "NAT64: built-in deny");
	CHECK(decide(&rs, "[fe80::1]:443") == 0, "IPv6 link-local: built-in deny");
	rules_add(&rs, "tcp://0.0.0.0/0:9000", 1, &why);
	rules_add(&rs, "tcp://[::]/0:9000", 1, &why);
	CHECK(decide(&rs, "198.51.100.1:9000") == 1 && decide(&rs, "[2001:db8::1]:9000") == 1,
	      "0.0.0.0/0:9000 and [::]/0:9000 allow other addresses");
	CHECK(decide(&rs, "100.64.0.1:9000") == 0 && decide(&rs, "100.127.255.254:9000") == 0,
	      "shared address space 100.64.0.0/10: built-in deny");
	CHECK(decide(&rs, "100.128.0.1:9000") == 1, "just past 100.64.0.0/10: allowed");
	CHECK(decide(&rs, "240.0.0.1:9000") == 0 && decide(&rs, "254.1.2.3:9000") == 0,
	      "class E 240.0.0.0/4: built-in deny");
	CHECK(decide(&rs, "[::c000:201]:9000") == 0, "IPv4-compatible ::/96: built-in deny");
	CHECK(decide(&rs, "[::1:0:0:1]:9000") == 1, "just past ::/96: allowed");
	CHECK(decide(&rs, "[64:ff9b:1::c000:201]:9000") == 0, "local-use NAT64 64:ff9b:1::/48: built-in deny");
	CHECK(decide(&rs, "[fd00:ec2::254]:9000") == 0, "AWS IPv6 metadata fd00:ec2::254: built-in deny");
	CHECK(decide(&rs, "[fd00:ec2::253]:9000") == 1, "its neighbour fd00:ec2::253: allowed");
	addr_parse("198.51.100.9:1", &own);
	rules_add_builtin(&rs, (struct sockaddr *)&own.ss);
	CHECK(decide(&rs, "198.51.100.9:8080") == 0, "the namespace's own address: built-in deny");
	rs.allow_builtin_denied = 1;
	CHECK(decide(&rs, "127.0.0.1:8080") == 1, "--allow-builtin-denied lets an allow cover loopback");
	CHECK(decide(&rs, "127.0.0.1:22") == 0, "but not where no allow covers it");

	/* Destinations are checked unmapped: a rule in mapped form would never match. */
	rules_init(&rs);
	CHECK(rules_add(&rs, "tcp://[::ffff:10.88.0.3]", 0, &why) == -1 && strstr(why, "IPv4-mapped"),
	      "an IPv4-mapped rule is refused, with why");
	CHECK(rules_add(&rs, "tcp://[::ffff:0:0]/96", 1, &why) == -1, "so is the mapped prefix itself");
	CHECK(rules_add(&rs, "tcp://[::fffe:0:0]/96", 1, &why) == 0 &&
	      rules_add(&rs, "tcp://[::]/64", 1, &why) == 0, "other IPv6 rules are taken");

	rules_init(&rs);
	CHECK(narrow(&rs, "192.0.2.1:80") == 0, "narrow: default deny");
	rules_add(&rs, "tcp://0.0.0.0/0", 1, &why);
	rules_add(&rs, "tcp://[::]/0", 1, &why);
	CHECK(narrow(&rs, "192.0.2.1:80") == 1, "narrow: a broad rule covers the world outside");
	CHECK(narrow(&rs, "127.0.0.1:7650") == 0, "narrow: 0.0.0.0/0 does not open loopback");
	CHECK(narrow(&rs, "169.254.169.254:80") == 0, "narrow: nor the metadata address");
	CHECK(narrow(&rs, "[::1]:7650") == 0, "narrow: [::]/0 does not open ::1");
	rules_add(&rs, "tcp://127.0.0.1:7650", 1, &why);
	CHECK(narrow(&rs, "127.0.0.1:7650") == 1, "narrow: a rule inside 127.0.0.0/8 opens it");
	CHECK(narrow(&rs, "127.0.0.1:7651") == 0, "narrow: exactly that port");
	CHECK(narrow(&rs, "127.0.0.2:7650") == 0, "narrow: exactly that address");
	rules_add(&rs, "tcp://169.0.0.0/8:80", 1, &why);
	CHECK(narrow(&rs, "169.254.169.254:80") == 0, "narrow: a rule wider than 169.254.0.0/16 does not lift it");
	addr_parse("198.51.100.9:1", &own);
	rules_add_builtin(&rs, (struct sockaddr *)&own.ss);
	rules_add(&rs, "tcp://198.51.100.0/24:80", 1, &why);
	CHECK(narrow(&rs, "198.51.100.9:80") == 0, "narrow: an own address stays denied under a /24");
	rules_add(&rs, "tcp://198.51.100.9:80", 1, &why);
	CHECK(narrow(&rs, "198.51.100.9:80") == 1, "narrow: a rule for exactly the own address opens it");
	rules_add(&rs, "tcp://127.0.0.1:7650", 0, &why);
	CHECK(narrow(&rs, "127.0.0.1:7650") == 0, "narrow: deny still wins");

	/* An own address inside a wider built-in range: the narrowest decides. */
	rules_init(&rs);
	rules_add(&rs, "tcp://100.64.0.0/10:5432", 1, &why);
	rules_add(&rs, "tcp://[fe80::]/10:5432", 1, &why);
	rules_add(&rs, "tcp://[::]/96:5432", 1, &why);
	CHECK(narrow(&rs, "100.101.1.2:5432") == 1, "narrow: a rule for 100.64.0.0/10 opens it");
	addr_parse("100.101.1.1:1", &own);
	rules_add_builtin(&rs, (struct sockaddr *)&own.ss);
	addr_parse("[fe80::1]:1", &own);
	rules_add_builtin(&rs, (struct sockaddr *)&own.ss);
	CHECK(narrow(&rs, "100.101.1.1:5432") == 0,
	      "narrow: but not the host's own address inside it");
	CHECK(narrow(&rs, "100.101.1.2:5432") == 1, "narrow: its neighbour still");
	CHECK(narrow(&rs, "[fe80::1]:5432") == 0, "narrow: nor an own fe80:: address under fe80::/10");
	CHECK(narrow(&rs, "[::1]:5432") == 0, "narrow: [::]/96 does not open ::1");
	rules_add(&rs, "tcp://100.101.1.1:5432", 1, &why);
	CHECK(narrow(&rs, "100.101.1.1:5432") == 1, "narrow: a rule for exactly the own address opens it");
	return tap_done();
}
