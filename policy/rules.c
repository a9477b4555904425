// SPDX-License-Identifier: MIT
/*
 * rules.c - where a client may reach when the destination is the client's
 * choice (ntb-connect --connect-original): --allow and --deny rules, a
 * built-in deny list, default deny.  Pure: no I/O; table-tested and fuzzed.
 *
 * A rule is tcp://ADDR[/LEN][:PORT[-PORT]], the address IPv4 or [IPv6]:
 *     tcp://10.0.0.0/8:80-443   tcp://192.0.2.7   tcp://[2001:db8::]/32:443
 * Deny wins over allow.  The built-in list (unspecified, loopback,
 * link-local, multicast, broadcast, IPv4-mapped, IPv4-compatible and
 * NAT64 prefixes, shared address space, class E, cloud metadata) is
 * denied even when an --allow covers it, unless --allow-builtin-denied;
 * so is whatever is local to the connecting namespace, which the caller
 * asks the kernel per connection (route_is_local()).
 */
#include "rules.h"
#include "addr.h"

#include <arpa/inet.h>
#include <bsd/string.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The built-in deny list: text, as a rule would give it. */
static const char *const rules_builtin_text[] = {
	"tcp://0.0.0.0/8", "tcp://127.0.0.0/8", "tcp://169.254.0.0/16", "tcp://224.0.0.0/4",
	"tcp://255.255.255.255/32", "tcp://[::]/128", "tcp://[::1]/128", "tcp://[fe80::]/10",
	"tcp://[ff00::]/8", "tcp://[::ffff:0:0]/96", "tcp://[64:ff9b::]/96",
	/*
	 * Shared address space (carrier-grade NAT, and where some clouds put
	 * their metadata and DNS), the reserved class E, the deprecated
	 * IPv4-compatible IPv6 prefix, local-use NAT64, and AWS's IPv6
	 * instance metadata service.
	 */
	"tcp://100.64.0.0/10", "tcp://240.0.0.0/4", "tcp://[::]/96", "tcp://[64:ff9b:1::]/48",
	"tcp://[fd00:ec2::254]/128",
};

/**
 * rule_parse() - parse one tcp://ADDR[/LEN][:PORT[-PORT]]
 * @text:	the rule
 * @out:	the rule (allow is left to the caller)
 * @why:	on failure, what is wrong
 *
 * Return: 0, or -1.
 */
int rule_parse(const char *text, struct rule *out, const char **why)
{
	char addr[INET6_ADDRSTRLEN + 2];
	const char *p, *rest;
	long long v;
	size_t n;
	int v6;

	memset(out, 0, sizeof(*out));
	if (strncmp(text, "tcp://", 6) != 0) {
		*why = "a rule starts with tcp://";
		return -1;
	}
	p = text + 6;
	v6 = *p == '[';
	if (v6) {
		const char *end = strchr(p, ']');

		if (!end) {
			*why = "an IPv6 address goes in [brackets]";
			return -1;
		}
		n = (size_t)(end - p - 1);
		p++;
		rest = end + 1;
	} else {
		n = strcspn(p, "/:");
		rest = p + n;
	}
	if (!n || n >= sizeof(addr)) {
		*why = "no address, or too long a one";
		return -1;
	}
	memcpy(addr, p, n);
	addr[n] = '\0';
	out->family = v6 ? AF_INET6 : AF_INET;
	if (inet_pton(out->family, addr, out->addr) != 1) {
		*why = v6 ? "not an IPv6 address" : "not an IPv4 address (IPv6 goes in [brackets])";
		return -1;
	}
	out->len = v6 ? 128 : 32;
	if (*rest == '/') {
		char num[8];

		rest++;
		n = strcspn(rest, ":");
		if (!n || n >= sizeof(num)) {
			*why = "bad prefix length";
			return -1;
		}
		memcpy(num, rest, n);
		num[n] = '\0';
		if (addr_parse_uint(num, out->len, &v)) {
			*why = "bad prefix length";
			return -1;
		}
		out->len = (unsigned int)v;
		rest += n;
	}
	out->port_lo = 1;
	out->port_hi = 65535;
	if (*rest == ':') {
		struct addr dummy;
		char spec[32];
		unsigned int count;

		/* The port part as addr_parse_range() reads it, on a stand-in address. */
		if (snprintf(spec, sizeof(spec), "0.0.0.0:%s", rest + 1) >= (int)sizeof(spec) ||
		    addr_parse_range(spec, &dummy, &count)) {
			*why = "bad port or port range (1-65535, FIRST-LAST)";
			return -1;
		}
		out->port_lo = (uint16_t)addr_port(&dummy);
		out->port_hi = (uint16_t)(out->port_lo + count - 1);
	} else if (*rest) {
		*why = "unexpected text after the address";
		return -1;
	}
	/* The host bits of the prefix must be zero: 10.1.2.3/8 is a typo. */
	{
		uint8_t masked[16];
		unsigned int i;

		memcpy(masked, out->addr, sizeof(masked));
		for (i = out->len; i < (v6 ? 128u : 32u); i++)
			masked[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
		if (memcmp(masked, out->addr, v6 ? 16 : 4) != 0) {
			*why = "address has bits set beyond its prefix length";
			return -1;
		}
	}
	return 0;
}

/* Does @r cover @dst? */
static int rule_covers(const struct rule *r, const struct sockaddr *dst)
{
	unsigned int n, port;
	const uint8_t *b = addr_bytes(dst, &n, &port);

	return b && dst->sa_family == r->family && port >= r->port_lo && port <= r->port_hi &&
	       addr_prefix_match(r->addr, b, r->len);
}

/**
 * rules_init() - an empty set with the built-in deny list
 * @rs:		the set
 */
void rules_init(struct rule_set *rs)
{
	unsigned int i;
	const char *why;

	memset(rs, 0, sizeof(*rs));
	for (i = 0; i < sizeof(rules_builtin_text) / sizeof(rules_builtin_text[0]); i++)
		if (!rule_parse(rules_builtin_text[i], &rs->builtin[rs->nbuiltin], &why))
			rs->nbuiltin++;
}

/**
 * rules_add() - add an --allow or --deny rule
 * @rs:		the set
 * @text:	the rule
 * @allow:	1 for --allow, 0 for --deny
 * @why:	on failure, what is wrong
 *
 * Return: 0, or -1.
 */
int rules_add(struct rule_set *rs, const char *text, int allow, const char **why)
{
	if (rs->n >= RULES_MAX) {
		*why = "too many rules";
		return -1;
	}
	if (rule_parse(text, &rs->r[rs->n], why))
		return -1;
	/*
	 * Destinations are checked as the IPv4 address an IPv4-mapped one
	 * stands for, so a rule in that form would never cover anything: a
	 * --deny that silently denies nothing.
	 */
	if (rs->r[rs->n].family == AF_INET6 && rs->r[rs->n].len >= 96 &&
	    !memcmp(rs->r[rs->n].addr, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12)) {
		*why = "an IPv4-mapped address is checked as IPv4: write the rule as tcp://A.B.C.D";
		return -1;
	}
	rs->r[rs->n++].allow = allow;
	return 0;
}

/**
 * rules_add_builtin() - deny an address of the connecting namespace itself
 * @rs:		the set
 * @sa:		an interface address (AF_INET or AF_INET6; others ignored)
 */
void rules_add_builtin(struct rule_set *rs, const struct sockaddr *sa)
{
	struct rule *r;

	if (rs->nbuiltin >= RULES_BUILTIN_MAX || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
		return;
	r = &rs->builtin[rs->nbuiltin++];
	memset(r, 0, sizeof(*r));
	r->family = sa->sa_family;
	r->len = sa->sa_family == AF_INET ? 32 : 128;
	r->port_lo = 1;
	r->port_hi = 65535;
	if (sa->sa_family == AF_INET)
		memcpy(r->addr, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
	else
		memcpy(r->addr, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
}

/**
 * rules_check() - may a client reach @dst?
 * @rs:		the set
 * @dst:	the destination it asked for
 * @why:	if not, why
 *
 * Return: 1 if allowed, 0 if denied.
 */
int rules_check(const struct rule_set *rs, const struct sockaddr *dst, const char **why)
{
	unsigned int i;
	int allowed = 0;

	if (!rs->allow_builtin_denied)
		for (i = 0; i < rs->nbuiltin; i++)
			if (rule_covers(&rs->builtin[i], dst)) {
				*why = "on the built-in deny list";
				return 0;
			}
	for (i = 0; i < rs->n; i++) {
		if (!rule_covers(&rs->r[i], dst))
			continue;
		if (!rs->r[i].allow) {
			*why = "denied by a --deny rule";
			return 0;
		}
		allowed = 1;
	}
	if (!allowed)
		*why = "no --allow rule covers it";
	return allowed;
}

/* Does @inner's whole range, addresses and ports, lie inside @outer's? */
static int rule_inside(const struct rule *inner, const struct rule *outer)
{
	return inner->family == outer->family && inner->len >= outer->len &&
	       addr_prefix_match(inner->addr, outer->addr, outer->len) &&
	       inner->port_lo >= outer->port_lo && inner->port_hi <= outer->port_hi;
}

/*
 * Does @r lie inside every built-in range that covers @dst?  The
 * narrowest one decides: a host's own address is denied as a /32 or /128
 * of its own, and also lies in 100.64.0.0/10, 169.254.0.0/16 or fe80::/10
 * when it is such an address, and a rule for the wide range must not open
 * the host behind it.
 */
static int rule_inside_all(const struct rule_set *rs, const struct rule *r, const struct sockaddr *dst)
{
	unsigned int j;

	for (j = 0; j < rs->nbuiltin; j++)
		if (rule_covers(&rs->builtin[j], dst) && !rule_inside(r, &rs->builtin[j]))
			return 0;
	return 1;
}

/**
 * rules_check_narrow() - may @dst be reached, where only a narrow rule
 * lifts the built-in deny list?
 * @rs:		the set (allow_builtin_denied is not looked at)
 * @dst:	the destination
 * @why:	if not, why
 *
 * As rules_check(), except for a destination on the built-in list: an
 * --allow rule opens it only if the rule's whole range lies inside a
 * denied range (tcp://127.0.0.1:7650 opens exactly that; tcp://0.0.0.0/0
 * opens nothing there).  For forwards that whoever creates a container
 * asks for (ntb-oci-hook): a broad rule the administrator wrote for the
 * world outside must not reach the host's own services.
 *
 * Return: 1 if allowed, 0 if denied.
 */
int rules_check_narrow(const struct rule_set *rs, const struct sockaddr *dst, const char **why)
{
	unsigned int i;
	int builtin = 0, allowed = 0;

	for (i = 0; i < rs->nbuiltin; i++)
		builtin |= rule_covers(&rs->builtin[i], dst);
	for (i = 0; i < rs->n; i++) {
		if (!rule_covers(&rs->r[i], dst))
			continue;
		if (!rs->r[i].allow) {
			*why = "denied by a --deny rule";
			return 0;
		}
		if (!builtin) {
			allowed = 1;
			continue;
		}
		allowed |= rule_inside_all(rs, &rs->r[i], dst);
	}
	if (!allowed)
		*why = builtin ? "on the built-in deny list, which only a rule inside the narrowest denied range lifts"
			       : "no rule covers it";
	return allowed;
}
