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
 *
 * And for --connect-original: is a destination local to this namespace?
 * Addresses come and go (a VIP, a new veth) and AnyIP routes ("ip route
 * add local 10.99.0.0/16 dev lo") make whole prefixes local without an
 * address, so a list read at start is not the answer.  route_is_local()
 * asks the kernel per connection (RTM_GETROUTE, as "ip route get" does)
 * on a netlink socket made before the sandbox: nothing is bound, nothing
 * is sent anywhere but the kernel.
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
#include <sys/time.h>
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

/**
 * route_local_open() - the netlink socket route_is_local() asks on
 *
 * Made in the namespace whose routes count, before the sandbox (which has
 * no socket() for netlink).  A reply slower than a second counts as an
 * error, so a stuck kernel cannot hold the caller for long.
 *
 * Return: the fd, or -1 with errno set.
 */
int route_local_open(void)
{
	struct timeval tv = { .tv_sec = 1 };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);

	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv))) {
		int err = errno;

		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

/**
 * route_is_local() - would a connection to @dst stay in this namespace?
 * @fd:		from route_local_open()
 * @dst:	the destination (AF_INET or AF_INET6; IPv4-mapped unmapped)
 *
 * The kernel's own route lookup for @dst, as a connect() would make it:
 * a local route (an address of ours, an AnyIP prefix), a broadcast, an
 * anycast or a multicast one means local.  Replies to an earlier question
 * that came too late are skipped by their sequence number.
 *
 * syscalls: sendmsg recvmsg
 *
 * Return: 1 local, 0 not, -1 with errno set if the kernel gave no answer
 * (no route at all: ENETUNREACH, EHOSTUNREACH and the like).
 */
int route_is_local(int fd, const struct sockaddr *dst)
{
	static uint32_t seq;
	struct {
		struct nlmsghdr nh;
		struct rtmsg rt;
		struct rtattr rta;
		uint8_t addr[16];
	} req;
	unsigned int bytes;
	const uint8_t *b = addr_bytes(dst, &bytes, NULL);
	struct iovec iov = { .iov_base = &req };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	union {
		struct nlmsghdr nh;
		char buf[4096];
	} ans;

	if (!b) {
		errno = EAFNOSUPPORT;
		return -1;
	}
	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = (uint32_t)NLMSG_LENGTH(sizeof(req.rt) + RTA_LENGTH(bytes));
	req.nh.nlmsg_type = RTM_GETROUTE;
	req.nh.nlmsg_flags = NLM_F_REQUEST;
	req.nh.nlmsg_seq = ++seq;
	req.rt.rtm_family = (unsigned char)dst->sa_family;
	req.rt.rtm_dst_len = (unsigned char)(bytes * 8);
	req.rta.rta_type = RTA_DST;
	req.rta.rta_len = (unsigned short)RTA_LENGTH(bytes);
	memcpy(req.addr, b, bytes);
	iov.iov_len = req.nh.nlmsg_len;
	if (sendmsg(fd, &mh, 0) != (ssize_t)iov.iov_len)
		return -1;
	for (;;) {
		struct nlmsghdr *nh;
		ssize_t len;

		iov.iov_base = ans.buf;
		iov.iov_len = sizeof(ans.buf);
		len = recvmsg(fd, &mh, 0);
		if (len < 0 && errno == EINTR)
			continue;
		if (len <= 0) {
			if (!len)
				errno = EPROTO;
			return -1;
		}
		for (nh = &ans.nh; NLMSG_OK(nh, (size_t)len); nh = NLMSG_NEXT(nh, len)) {
			const struct rtmsg *rt = NLMSG_DATA(nh);

			if (nh->nlmsg_seq != seq)
				continue;	/* the answer to a question given up on */
			if (nh->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(nh);

				errno = nh->nlmsg_len >= NLMSG_LENGTH(sizeof(*e)) && e->error ?
					-e->error : EPROTO;
				return -1;
			}
			if (nh->nlmsg_type != RTM_NEWROUTE || nh->nlmsg_len < NLMSG_LENGTH(sizeof(*rt))) {
				errno = EPROTO;
				return -1;
			}
			return rt->rtm_type == RTN_LOCAL || rt->rtm_type == RTN_BROADCAST ||
			       rt->rtm_type == RTN_ANYCAST || rt->rtm_type == RTN_MULTICAST;
		}
	}
}
