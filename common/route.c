// SPDX-License-Identifier: MIT
/*
 * route.c - for --transparent-source: will the target's replies to a
 * client's own address come back to us?
 *
 * A connection made from the client's address gets its replies addressed
 * to the client, which is not local in the target's namespace: they come
 * back only if a policy rule picks, for packets from the target's address,
 * a table with a local route for the client prefixes (as transparent
 * proxies set up):
 *     ip rule add from TARGET lookup 100
 *     ip route add local CLIENT_PREFIX dev lo table 100
 * Without it, connect() does not fail: the SYN-ACK is routed away and the
 * client waits for the connect time-out.  So, once at start (netlink dumps
 * of the rules and routes; before the sandbox), find that table and its
 * local prefixes; per client, route_covers() is a pure lookup.
 */
#include "route.h"
#include "addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/fib_rules.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/**
 * route_covers() - is @addr within one of @t's local prefixes?
 * @t:		from route_reply_table()
 * @addr:	a client's address
 *
 * Return: 1 or 0.
 */
int route_covers(const struct route_table *t, const struct sockaddr *addr)
{
	unsigned int i, n;
	const uint8_t *b = addr_bytes(addr, &n, NULL);

	if (!b)
		return 0;
	for (i = 0; i < t->n; i++)
		if (t->local[i].family == addr->sa_family && t->local[i].len <= n * 8 &&
		    addr_prefix_match(t->local[i].addr, b, t->local[i].len))
			return 1;
	return 0;
}

/* One netlink dump request; each reply message goes to @fn. */
static int route_dump(int type, int family, void (*fn)(const struct nlmsghdr *, void *), void *arg)
{
	struct {
		struct nlmsghdr nh;
		struct rtmsg rt;	/* struct fib_rule_hdr has the same size and family first */
	} req = {
		.nh = { .nlmsg_len = sizeof(req), .nlmsg_type = (uint16_t)type,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = 1 },
		.rt = { .rtm_family = (unsigned char)family },
	};
	char buf[32768];
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE), done = 0;

	if (fd < 0)
		return -1;
	if (send(fd, &req, sizeof(req), 0) != (ssize_t)sizeof(req)) {
		close(fd);
		return -1;
	}
	while (!done) {
		ssize_t len = recv(fd, buf, sizeof(buf), 0);
		struct nlmsghdr *nh;

		if (len <= 0) {
			close(fd);
			return -1;
		}
		for (nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (size_t)len); nh = NLMSG_NEXT(nh, len)) {
			if (nh->nlmsg_type == NLMSG_DONE) {
				done = 1;
				break;
			}
			if (nh->nlmsg_type == NLMSG_ERROR) {
				close(fd);
				errno = EPROTO;
				return -1;
			}
			fn(nh, arg);
		}
	}
	close(fd);
	return 0;
}

struct rule_search {
	const uint8_t *target;
	unsigned int bytes;
	unsigned int table;	/* found, or 0 */
};

/* The first rule (in priority order) "from PREFIX" that covers the target. */
static void route_rule(const struct nlmsghdr *nh, void *arg)
{
	struct rule_search *rs = arg;
	const struct fib_rule_hdr *frh = NLMSG_DATA(nh);
	int alen = (int)nh->nlmsg_len - (int)NLMSG_LENGTH(sizeof(*frh));
	const struct rtattr *rta = (const struct rtattr *)((const char *)frh + NLMSG_ALIGN(sizeof(*frh)));
	const uint8_t *src = NULL;
	unsigned int table = frh->table;

	if (rs->table || nh->nlmsg_type != RTM_NEWRULE || frh->action != FR_ACT_TO_TBL ||
	    !frh->src_len)
		return;
	for (; RTA_OK(rta, alen); rta = RTA_NEXT(rta, alen)) {
		if (rta->rta_type == FRA_SRC && RTA_PAYLOAD(rta) == rs->bytes)
			src = RTA_DATA(rta);
		else if (rta->rta_type == FRA_TABLE && RTA_PAYLOAD(rta) == 4)
			memcpy(&table, RTA_DATA(rta), 4);
	}
	if (src && frh->src_len <= rs->bytes * 8 && addr_prefix_match(src, rs->target, frh->src_len))
		rs->table = table;
}

/* Local routes of the table found. */
static void route_local(const struct nlmsghdr *nh, void *arg)
{
	struct route_table *t = arg;
	const struct rtmsg *rt = NLMSG_DATA(nh);
	int alen = (int)nh->nlmsg_len - (int)NLMSG_LENGTH(sizeof(*rt));
	const struct rtattr *rta = (const struct rtattr *)((const char *)rt + NLMSG_ALIGN(sizeof(*rt)));
	unsigned int table = rt->rtm_table, bytes = rt->rtm_family == AF_INET ? 4 : 16;
	const uint8_t *dst = NULL;
	struct route_prefix *p;

	if (nh->nlmsg_type != RTM_NEWROUTE || rt->rtm_type != RTN_LOCAL || t->n >= ROUTE_MAX_LOCAL)
		return;
	for (; RTA_OK(rta, alen); rta = RTA_NEXT(rta, alen)) {
		if (rta->rta_type == RTA_DST && RTA_PAYLOAD(rta) == bytes)
			dst = RTA_DATA(rta);
		else if (rta->rta_type == RTA_TABLE && RTA_PAYLOAD(rta) == 4)
			memcpy(&table, RTA_DATA(rta), 4);
	}
	if (table != t->table || rt->rtm_dst_len > bytes * 8)
		return;
	p = &t->local[t->n++];
	memset(p, 0, sizeof(*p));
	p->family = rt->rtm_family;
	p->len = rt->rtm_dst_len;
	if (dst)
		memcpy(p->addr, dst, bytes);
}

/**
 * route_reply_table() - the table replies from @target use, and its local
 * prefixes (netlink; in the target's namespace, before the sandbox)
 * @target:	the target's address
 * @t:		filled in: table 0 if no "from" rule covers @target
 *
 * Return: 0, or -1 with errno set if netlink could not be read.
 */
int route_reply_table(const struct sockaddr *target, struct route_table *t)
{
	struct rule_search rs = { 0 };

	memset(t, 0, sizeof(*t));
	rs.target = addr_bytes(target, &rs.bytes, NULL);
	if (!rs.target) {
		errno = EAFNOSUPPORT;
		return -1;
	}
	if (route_dump(RTM_GETRULE, target->sa_family, route_rule, &rs))
		return -1;
	t->table = rs.table;
	if (!t->table)
		return 0;
	return route_dump(RTM_GETROUTE, target->sa_family, route_local, t);
}
