// SPDX-License-Identifier: MIT
/*
 * connect.c - ntb-connect: receive client sockets, connect to the target
 * from inside namespace B, relay.
 *
 * Reads top to bottom in start-up order (the README, "What each process
 * can do once serving"):
 *   1. parse arguments, open the namespace file and check -C;
 *   2. open the rendezvous (bind @name or /path before setns: an abstract
 *      name belongs to the namespace it is created in);
 *   3. join the namespace;
 *   4. prepare the relay workers' epoll sets;
 *   5. policy_apply(): no capabilities, no_new_privs, seccomp;
 *   6. start the workers and serve the rendezvous.
 */
#include "addr.h"
#include "cli.h"
#include "event.h"
#include "fdpass.h"
#include "log.h"
#include "msg.h"
#include "netns.h"
#include "notify.h"
#include "policy.h"
#include "relay.h"
#include "rendezvous.h"
#include "route.h"
#include "rules.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_PEERS	128
#define HELLO_TIMEOUT_MS	5000	/* a peer must greet within this */
#define RDV_BATCH	64	/* peers per accept, records per peer event: fair to the rest */
#define CONNECT_EVENTS	64	/* per epoll_wait: worker 0's connections are among them */

/*
 * One relay worker per two usable CPUs, at least one.  The bridge's peers
 * run on the same host (that is what it is for: the server in one
 * namespace, often the client too), and every byte it relays costs them
 * about as much CPU again: on 2 CPUs, with 4 or 16 iperf3 streams
 * through it, one worker used about a third less CPU per GiB than two
 * and carried as much or more.  NTB_TEST_WORKERS=N, for the test suite
 * only, keeps the suite's several workers on a small machine.
 */
static unsigned int connect_default_workers(void)
{
	const char *t = getenv("NTB_TEST_WORKERS");
	int n = t ? atoi(t) : 0;

	if (n <= 0)
		n = util_cpu_count() / 2;
	return n > 0 ? (unsigned int)n : 1;
}

/* A rendezvous peer greets first, then serves; changed by peer_set_state(). */
enum peer_state { PEER_GREETING, PEER_SERVING, PEER_NSTATES };

struct peer {
	int fd;			/* -1: slot free */
	uint8_t state;		/* enum peer_state */
	uint32_t gen;		/* moves on when the slot is freed */
	long long hello_deadline;
};

static struct {
	struct addr targets[MSG_MAX_FORWARDS];
	unsigned int ntargets;
	struct rdv_spec rdv;
	struct rdv_acl acl;
	struct relay_opts relay;
	struct policy policy;
	struct cli cli;
	int drain_ms;
	int stats_ms;		/* --stats, 0: only on SIGUSR1 */
	long long stats_next;
	/* Counted here (the rendezvous side); the relay counts the rest. */
	unsigned long long received, refused_stopping, refused_bad, truncated, refused_policy;
	struct rule_set rules;	/* --connect-original: --allow, --deny, the built-in list */
	int route_fd;		/* --connect-original: netlink, for route_is_local() */
	int epfd, sigfd, notify, rdv_listener;
	int manager;		/* service manager's readiness socket, or -1 */
	struct peer peers[MAX_PEERS];
	unsigned int npeers;
	int once_taken;		/* -C: the one client has arrived */
	int draining;
	long long drain_deadline;
	long long accept_resume;	/* rendezvous accepting paused until then */
	int accept_backoff_ms;
	struct log_limit lim_peer, lim_record, lim_client, lim_fds;
} cn = { .rdv_listener = -1, .manager = -1, .route_fd = -1 };

static const char usage[] =
"Usage: ntb-connect (-c ADDR... | -C FD) -r RENDEZVOUS [OPTIONS]\n"
"Receive client sockets from ntb-listen and relay each to its target,\n"
"connecting from inside the network namespace NS: a client of ntb-listen's\n"
"i-th listening socket goes to the i-th target.\n"
"\n"
"  -c, --connect ADDR         target address: IPv4:port or [IPv6]:port, or a\n"
"                             port range ADDR:FIRST-LAST (one target per\n"
"                             port); repeatable, 1024 at most\n"
"  -C, --connect-fd FD        pre-connected target for exactly one client;\n"
"                             exit 0 when that connection is done (implies\n"
"                             one worker)\n"
"  -n, --netns NS             join this network namespace: a path, pid:N,\n"
"                             name:NAME or fd:N\n"
"  -r, --rendezvous R         fd:N (inherited socket), @name (abstract socket,\n"
"                             bound before joining NS) or /path (socket file)\n"
"      --allow-uid UID        also accept ntb-listen peers running as UID\n"
"                             (number or name; repeatable)\n"
"  -w, --workers N            relay workers, main thread included, 1 to 64\n"
"                             (default: one per two usable CPUs, at least 1)\n"
"      --connect-timeout SEC  give up connecting to the target (default 10)\n"
"      --max-connections N    reset clients beyond N open connections\n"
"                             (default 4096, 0: no limit)\n"
"      --drain-timeout SEC    on SIGQUIT, let open connections finish for this\n"
"                             long, then reset the rest (default 30)\n"
"      --idle-timeout SEC     reset a connection with no bytes either way for\n"
"                             this long (default: never)\n"
"      --keepalive IDLE,INTERVAL,COUNT\n"
"                             TCP keepalive on both sockets: first probe after\n"
"                             IDLE s of silence, then every INTERVAL s; reset\n"
"                             after COUNT unanswered (default: off)\n"
"      --stats SEC            log a line of counters every SEC seconds (also\n"
"                             on SIGUSR1)\n"
"      --proxy-protocol v1|v2 send each client's address and the address it\n"
"                             connected to as a PROXY protocol header before\n"
"                             its first byte (the target must expect it)\n"
"      --connect-original     route mode: connect each client to the address\n"
"                             it was going to (from an ntb-listen in route\n"
"                             mode), if the rules allow it; no -c\n"
"      --allow RULE, --deny RULE\n"
"                             with --connect-original: tcp://ADDR[/LEN][:PORT\n"
"                             [-PORT]] (IPv6 in [brackets]); deny wins, the\n"
"                             default is deny; repeatable\n"
"      --allow-builtin-denied let --allow cover loopback, link-local,\n"
"                             multicast, broadcast, unspecified, shared,\n"
"                             class E, IPv4-compatible and NAT64 addresses,\n"
"                             cloud metadata, and what is local to this\n"
"                             namespace (asked of the kernel per client)\n"
"      --transparent-source   connect to the target from each client's own\n"
"                             address (IP_TRANSPARENT: keeps CAP_NET_ADMIN);\n"
"                             needs a rule 'from TARGET' to a table with local\n"
"                             routes for the clients in the target's namespace\n"
"      --user NAME            switch to this user after binding (as root)\n"
"      --seccomp MODE         kill (default) or log: log violations instead\n"
"                             of killing, for finding a missing syscall\n"
"      --log DEST             stderr (default; with journald's priority\n"
"                             prefixes when stderr is the journal) or syslog\n"
"                             (/dev/log, facility daemon)\n"
"      --print-policy         print capabilities and syscalls kept, then exit\n"
"  -v, --verbose              more log lines (twice: per connection)\n"
"  -h, --help                 this text\n"
"      --version              print the version\n";

enum { OPT_CONNECT_TIMEOUT = 256, OPT_MAX_CONN, OPT_DRAIN, OPT_IDLE, OPT_KEEPALIVE, OPT_STATS,
       OPT_PROXY, OPT_TRANSPARENT, OPT_ORIGINAL, OPT_ALLOW, OPT_DENY, OPT_ALLOW_BUILTIN };

static const struct option long_opts[] = {
	{ "connect", required_argument, NULL, 'c' },
	{ "connect-fd", required_argument, NULL, 'C' },
	{ "workers", required_argument, NULL, 'w' },
	{ "connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT },
	{ "max-connections", required_argument, NULL, OPT_MAX_CONN },
	{ "drain-timeout", required_argument, NULL, OPT_DRAIN },
	{ "idle-timeout", required_argument, NULL, OPT_IDLE },
	{ "keepalive", required_argument, NULL, OPT_KEEPALIVE },
	{ "stats", required_argument, NULL, OPT_STATS },
	{ "proxy-protocol", required_argument, NULL, OPT_PROXY },
	{ "transparent-source", no_argument, NULL, OPT_TRANSPARENT },
	{ "connect-original", no_argument, NULL, OPT_ORIGINAL },
	{ "allow", required_argument, NULL, OPT_ALLOW },
	{ "deny", required_argument, NULL, OPT_DENY },
	{ "allow-builtin-denied", no_argument, NULL, OPT_ALLOW_BUILTIN },
	CLI_AGENT_OPTS,
	CLI_COMMON_OPTS,
	{ NULL, 0, NULL, 0 },
};

static void connect_parse(int argc, char **argv)
{
	const char *why;
	int c;

	cn.relay.upstream_fd = -1;
	cn.relay.connect_timeout_ms = 10000;
	cn.relay.max_conns = 4096;
	cn.relay.notify_fd = -1;
	cn.drain_ms = 30000;
	cn.policy.role = POLICY_CONNECT;
	rules_init(&cn.rules);
	rdv_acl_init(&cn.acl);
	cn.cli = (struct cli){ .prog = "ntb-connect", .usage = usage, .rdv = &cn.rdv,
			       .acl = &cn.acl };

	opterr = 0;
	while ((c = cli_getopt(argc, argv, ":c:C:n:r:w:vh", long_opts)) != -1) {
		switch (c) {
		case 'c':
			if (cn.relay.upstream_fd >= 0)
				log_usage_error("-c/--connect and -C/--connect-fd: not both");
			if (addr_append(optarg, cn.targets, MSG_MAX_FORWARDS, &cn.ntargets))
				log_usage_error("bad address '%s' for --connect: expected IPv4:port, [IPv6]:port or ADDR:FIRST-LAST, %d targets at most",
						optarg, MSG_MAX_FORWARDS);
			break;
		case 'C':
			if (cn.ntargets || cn.relay.upstream_fd >= 0)
				log_usage_error("-c/--connect and -C/--connect-fd: give -c any number of times, or -C once");
			cn.relay.upstream_fd = util_arg_socket("--connect-fd", optarg, 0);
			break;
		case 'w':
			cn.relay.workers = (unsigned int)util_arg_number("--workers", optarg, 1,
									 RELAY_MAX_WORKERS);
			break;
		case OPT_CONNECT_TIMEOUT:
			cn.relay.connect_timeout_ms =
				(int)util_arg_number("--connect-timeout", optarg, 1, 3600) * 1000;
			break;
		case OPT_MAX_CONN:
			cn.relay.max_conns =
				(unsigned int)util_arg_number("--max-connections", optarg, 0, 10000000);
			break;
		case OPT_DRAIN:
			cn.drain_ms = (int)util_arg_number("--drain-timeout", optarg, 0, 3600) * 1000;
			break;
		case OPT_IDLE:
			cn.relay.idle_timeout_ms =
				(int)util_arg_number("--idle-timeout", optarg, 1, 86400) * 1000;
			break;
		case OPT_KEEPALIVE:
			if (addr_parse_keepalive(optarg, cn.relay.keepalive))
				log_usage_error("bad value '%s' for --keepalive: expected IDLE,INTERVAL,COUNT (seconds, seconds, probes; 1 to 32767, 1 to 32767, 1 to 127)",
						optarg);
			break;
		case OPT_STATS:
			cn.stats_ms = (int)util_arg_number("--stats", optarg, 1, 86400) * 1000;
			break;
		case OPT_PROXY:
			cn.relay.proxy_version = cli_proxy_version(optarg);
			break;
		case OPT_TRANSPARENT:
			cn.relay.transparent = 1;
			cn.policy.transparent = 1;
			break;
		case OPT_ORIGINAL:
			cn.relay.connect_original = 1;
			break;
		case OPT_ALLOW:
		case OPT_DENY:
			if (rules_add(&cn.rules, optarg, c == OPT_ALLOW, &why))
				log_usage_error("bad rule '%s' for %s: %s (tcp://ADDR[/LEN][:PORT[-PORT]], IPv6 in [brackets])",
						optarg, c == OPT_ALLOW ? "--allow" : "--deny", why);
			break;
		case OPT_ALLOW_BUILTIN:
			cn.rules.allow_builtin_denied = 1;
			break;
		default:
			cli_option(&cn.cli, c, argv);
		}
	}
	if (cn.relay.connect_original && (cn.ntargets || cn.relay.upstream_fd >= 0))
		log_usage_error("--connect-original: the destination is each client's own; no -c/-C");
	if (cn.relay.connect_original && cn.relay.transparent)
		log_usage_error("--connect-original and --transparent-source: not both (yet)");
	if (!cn.relay.connect_original && (cn.rules.n || cn.rules.allow_builtin_denied))
		log_usage_error("--allow, --deny: only with --connect-original, where the client picks the destination");
	if (cn.relay.connect_original && !cn.rules.n && !cn.cli.print_policy)
		log_usage_error("--connect-original: give --allow rules (everything else is denied)");
	if (!cn.ntargets && cn.relay.upstream_fd < 0 && !cn.relay.connect_original && !cn.cli.print_policy)
		log_usage_error("missing -c/--connect ADDR or -C/--connect-fd FD (see --help)");
	if (cn.relay.upstream_fd >= 0)
		cn.relay.workers = 1;	/* one client: nothing to share */
	if (cn.relay.transparent && cn.relay.upstream_fd >= 0)
		log_usage_error("--transparent-source: not with -C/--connect-fd (that socket is connected already)");
	cn.relay.targets = cn.targets;
	cn.relay.ntargets = cn.relay.upstream_fd >= 0 ? 1 : cn.ntargets;
	if (!cn.relay.workers)
		cn.relay.workers = connect_default_workers();
	if (cn.relay.workers > RELAY_MAX_WORKERS)
		cn.relay.workers = RELAY_MAX_WORKERS;
	/* The watchdog (agent/guard.c) is a thread, whatever --workers says. */
	cn.policy.threads = 1;
	cli_finish(&cn.cli, argc, argv);
	policy_adopt(&cn.policy, &cn.cli);
}

static void peer_drop(struct peer *p, const char *why);

/* syscalls: epoll_ctl close */
static void peer_add(int fd, const char *how)
{
	struct peer *p = NULL, *oldest = NULL;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };
	char why[128];
	unsigned int i;

	if (rdv_check_peer(fd, &cn.acl, why, sizeof(why))) {
		log_warn_limited(&cn.lim_peer, "refused rendezvous peer on %s: %s", how, why);
		close(fd);
		return;
	}
	/* A free slot; else the oldest peer that has not greeted: the cheapest to lose. */
	for (i = 0; i < MAX_PEERS && !p; i++) {
		if (cn.peers[i].fd < 0)
			p = &cn.peers[i];
		else if (cn.peers[i].state == PEER_GREETING &&
			 (!oldest || cn.peers[i].hello_deadline < oldest->hello_deadline))
			oldest = &cn.peers[i];
	}
	if (!p && oldest) {
		peer_drop(oldest, "no HELLO yet, and the peer table is full");
		p = oldest;
	}
	if (!p) {
		log_warn_limited(&cn.lim_peer, "refused rendezvous peer on %s: %d peers already", how,
				 MAX_PEERS);
		close(fd);
		return;
	}
	ev.data.u64 = ev_tag(EV_PEER, (uint32_t)(p - cn.peers), p->gen, 0);
	if (epoll_ctl(cn.epfd, EPOLL_CTL_ADD, fd, &ev)) {
		log_warn_errno_limited(&cn.lim_peer, errno, "refused rendezvous peer on %s", how);
		close(fd);
		return;
	}
	p->fd = fd;
	p->state = PEER_GREETING;
	p->hello_deadline = util_now_ms() + HELLO_TIMEOUT_MS;
	cn.npeers++;
	log_info("rendezvous peer %s connected", how);
}

/* The one way a peer goes: out of the epoll set, closed, slot renewed. */
/* syscalls: epoll_ctl close */
static void peer_drop(struct peer *p, const char *why)
{
	if (why)
		log_warn_limited(&cn.lim_peer, "dropped rendezvous peer: %s", why);
	else
		log_info("rendezvous peer left");
	if (epoll_ctl(cn.epfd, EPOLL_CTL_DEL, p->fd, NULL))
		log_debug("cannot unwatch a rendezvous peer");
	/* Its listening sockets go with it: ntb-listen takes their clients back. */
	relay_listeners_drop((int)(p - cn.peers), NULL);
	close(p->fd);
	p->fd = -1;
	p->gen = (p->gen + 1) & EV_GEN_MASK;
	cn.npeers--;
}

/* Peers that have not said HELLO in time; the earliest deadline left. */
static long long peer_expire(void)
{
	long long now = util_now_ms(), next = -1;
	unsigned int i;

	for (i = 0; i < MAX_PEERS; i++) {
		struct peer *p = &cn.peers[i];

		if (p->fd < 0 || p->state != PEER_GREETING)
			continue;
		if (p->hello_deadline <= now)
			peer_drop(p, "no HELLO within 5 s");
		else if (next < 0 || p->hello_deadline < next)
			next = p->hello_deadline;
	}
	return next;
}

/*
 * Out of fds or memory: the pending connection stays in the backlog and
 * would wake us again at once.  Stop watching the listener a while.
 *
 * syscalls: epoll_ctl
 */
static void rdv_pause(int err)
{
	cn.accept_resume = util_backoff(&cn.accept_backoff_ms);
	log_warn_errno_limited(&cn.lim_fds, err, "cannot accept a rendezvous peer; pausing for %d ms",
			       cn.accept_backoff_ms);
	if (epoll_ctl(cn.epfd, EPOLL_CTL_DEL, cn.rdv_listener, NULL))
		log_die_errno(errno, "cannot pause the rendezvous");
}

static void rdv_resume(void)
{
	cn.accept_resume = 0;
	util_epoll_add(cn.epfd, cn.rdv_listener, EPOLLIN, ev_tag(EV_RDV, 0, 0, 0));
}

/* syscalls: accept4 */
static void rdv_accept(void)
{
	int n;

	for (n = 0; n < RDV_BATCH; n++) {
		int fd = accept4(cn.rdv_listener, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (fd < 0) {
			switch (util_accept_error(errno)) {
			case UTIL_ACCEPT_NEXT:
				continue;
			case UTIL_ACCEPT_NO_FDS:
			case UTIL_ACCEPT_NO_MEMORY:
				rdv_pause(errno);
				return;
			case UTIL_ACCEPT_BROKEN:
				log_warn_errno_limited(&cn.lim_peer, errno, "cannot accept a rendezvous peer");
				return;
			case UTIL_ACCEPT_EMPTY:
			case UTIL_ACCEPT_INTERRUPTED:
				cn.accept_backoff_ms = 0;	/* caught up */
				return;
			}
		}
		peer_add(fd, cn.cli.rdv_text);
	}
}

/* Every fd that came with a record we will not act on. */
static void peer_discard(struct fdpass_in *in)
{
	unsigned int i;

	for (i = 0; i < in->nfds; i++)
		relay_close_received(in->fds[i]);
	in->nfds = 0;
}

/*
 * --connect-original: may this client go where it asked?  The rules
 * first; then, unless --allow-builtin-denied, the kernel is asked whether
 * the destination is local to this namespace now (route_is_local()): an
 * address added since start, a VIP, an AnyIP route.  No answer counts as
 * local: a destination we cannot place is not reached.  A denied client
 * is reset by the caller, with one (rate-limited) line here.
 */
static int connect_allowed(const char *name, const struct msg *m)
{
	struct sockaddr_storage dst = m->u.conn.local;
	char text[ADDR_STRLEN], buf[96];
	const char *why;
	int local;

	addr_unmap(&dst);
	if (rules_check(&cn.rules, (const struct sockaddr *)&dst, &why)) {
		if (cn.rules.allow_builtin_denied)
			return 1;
		local = route_is_local(cn.route_fd, (const struct sockaddr *)&dst);
		if (!local)
			return 1;
		if (local > 0) {
			why = "on the built-in deny list (local to this namespace)";
		} else {
			snprintf(buf, sizeof(buf), "not known to be outside this namespace (route lookup: %s)",
				 strerror(errno));
			why = buf;
		}
	}
	addr_format((const struct sockaddr *)&dst, sizeof(dst), text, sizeof(text));
	log_warn_limited(&cn.lim_client, "client %s: refused, destination %s is %s", name, text, why);
	cn.refused_policy++;
	return 0;
}

static void peer_conn(int fd, const struct msg *m)
{
	char name[ADDR_STRLEN];
	const char *why;

	addr_format((const struct sockaddr *)&m->u.conn.client, m->u.conn.len, name, sizeof(name));
	/* The peer could send any fd: only a connected TCP socket is a client. */
	if (!util_is_tcp_socket(fd, 0, &why)) {
		log_warn_limited(&cn.lim_record, "refused client %s from the rendezvous: its fd is %s",
				 name, why);
		cn.refused_bad++;
		relay_close_received(fd);
		return;
	}
	if (cn.relay.upstream_fd >= 0 && cn.once_taken) {
		log_warn_limited(&cn.lim_client, "client %s: refused, --connect-fd serves one client only",
				 name);
		cn.refused_bad++;
		relay_close_received(fd);
		return;
	}
	if (cn.draining) {
		log_warn_limited(&cn.lim_client, "client %s: refused, stopping", name);
		cn.refused_stopping++;
		relay_close_received(fd);
		return;
	}
	if (cn.relay.connect_original && !connect_allowed(name, m)) {
		relay_close_received(fd);
		return;
	}
	if (!cn.relay.connect_original && m->u.conn.index >= cn.relay.ntargets) {
		log_warn_limited(&cn.lim_record, "refused client %s from the rendezvous: no target for listener %u",
				 name, m->u.conn.index);
		cn.refused_bad++;
		relay_close_received(fd);
		return;
	}
	if (cn.relay.upstream_fd >= 0)
		cn.once_taken = 1;
	log_debug("client %s: received", name);
	relay_submit(fd, name, cn.relay.connect_original ? 0 : m->u.conn.index,
		     (const struct sockaddr *)&m->u.conn.client,
		     (const struct sockaddr *)&m->u.conn.local);
}

/*
 * Tell ntb-listen that a listening socket it lent is its alone again, so
 * that it accepts on it itself: no client is left in a backlog nobody
 * accepts from.
 *
 * syscalls: sendmsg
 */
static void peer_give_back(struct peer *p, unsigned int index, enum msg_back_reason reason)
{
	uint8_t buf[MSG_BUF_MAX];
	size_t len = msg_encode_listener_back(buf, sizeof(buf), index, reason);

	if (p->fd < 0 || !len)
		return;
	if (fdpass_send(p->fd, buf, len, -1) == (ssize_t)len)
		return;
	/* The sender is gone (ntb-listen stops at once on SIGQUIT): so is its copy. */
	if (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN)
		log_debug("listening socket %u: its sender is gone, nothing to give back", index);
	else
		log_warn_errno_limited(&cn.lim_record, errno, "cannot give listening socket %u back to its sender",
				       index);
}

/* relay_listeners_drop() and relay_listeners_orphaned() callbacks. */
static void peer_back_stopping(int owner, unsigned int target)
{
	if (owner >= 0 && owner < MAX_PEERS)
		peer_give_back(&cn.peers[owner], target, MSG_BACK_STOPPING);
}

/* A worker out of fds gave it up, and said so. */
static void peer_back_given_up(int owner, unsigned int target)
{
	if (owner >= 0 && owner < MAX_PEERS)
		peer_give_back(&cn.peers[owner], target, MSG_BACK_DROPPED);
}

static void peer_back_dropped(int owner, unsigned int target)
{
	if (owner >= 0 && owner < MAX_PEERS) {
		log_warn_limited(&cn.lim_record, "no worker accepts on listening socket %u any more; giving it back",
				 target);
		peer_give_back(&cn.peers[owner], target, MSG_BACK_DROPPED);
	}
}

/*
 * A listening socket of ntb-listen's: from now on the workers accept its
 * clients themselves.  It stays the peer's: when the peer goes, so does
 * the socket (peer_drop()), and ntb-listen takes its clients back.  Not
 * in the modes that take one client (-C) or need each client's
 * destination checked against the rules (--connect-original).
 *
 * syscalls: fcntl
 */
static void peer_listener(struct peer *p, int fd, const struct msg *m)
{
	const char *why;

	if (!util_is_tcp_socket(fd, 1, &why)) {
		log_warn_limited(&cn.lim_record, "refused a listening socket from the rendezvous: its fd is %s",
				 why);
	} else if (fcntl(fd, F_SETFL, O_NONBLOCK)) {
		/* Made blocking again later, it meets the guard (relay_accept()). */
		log_warn_errno_limited(&cn.lim_record, errno, "refused a listening socket from the rendezvous: cannot make it non-blocking");
	} else if (cn.relay.upstream_fd >= 0 || cn.relay.connect_original) {
		log_warn_limited(&cn.lim_record, "refused a listening socket from the rendezvous: %s takes clients one by one (start ntb-listen with --hand-off client)",
				 cn.relay.upstream_fd >= 0 ? "--connect-fd" : "--connect-original");
	} else if (m->u.listener.index >= cn.relay.ntargets) {
		log_warn_limited(&cn.lim_record, "refused a listening socket from the rendezvous: no target for listener %u",
				 m->u.listener.index);
	} else if (cn.draining) {
		log_warn_limited(&cn.lim_record, "refused a listening socket from the rendezvous: stopping");
		peer_give_back(p, m->u.listener.index, MSG_BACK_STOPPING);
		relay_close_listener(fd);
		return;
	} else if (relay_listener_held((int)(p - cn.peers), m->u.listener.index)) {
		/* One per forward: no peer fills the slots all peers share. */
		log_warn_limited(&cn.lim_record, "refused a listening socket from the rendezvous: its sender has one for listener %u already",
				 m->u.listener.index);
	} else if (relay_listener_add(fd, m->u.listener.index, (int)(p - cn.peers))) {
		log_warn_limited(&cn.lim_record, "refused a listening socket from the rendezvous: %d are in use already",
				 RELAY_LISTENERS);
	} else {
		log_info("accepting on listening socket %u of ntb-listen", m->u.listener.index);
		return;
	}
	cn.refused_bad++;
	/* A listening socket: ntb-listen's copy must go on listening. */
	if (util_is_tcp_socket(fd, 1, &why)) {
		peer_give_back(p, m->u.listener.index, MSG_BACK_REFUSED);
		relay_close_listener(fd);
	} else {
		relay_close_received(fd);
	}
}

/* The one way a peer changes state: checked, and logged at debug level. */
static void peer_set_state(struct peer *p, enum peer_state to)
{
	static const char *const names[PEER_NSTATES] = { "greeting", "serving" };

	if (p->state != PEER_GREETING || to != PEER_SERVING)
		log_die("rendezvous peer %u: no change from state %u to %u",
			(unsigned int)(p - cn.peers), (unsigned int)p->state, (unsigned int)to);
	log_debug("rendezvous peer %u: %s -> %s", (unsigned int)(p - cn.peers), names[p->state],
		  names[to]);
	p->state = (uint8_t)to;
}

/* What peer_record() does with a record. */
enum peer_take {
	PEER_REFUSE,		/* not here: a greeting peer is dropped, a serving one refused */
	PEER_TAKE_HELLO,	/* answer it; the peer serves from then on */
	PEER_DROP_HELLO,	/* a second HELLO, valid or not: the peer is dropped */
	PEER_TAKE_CONN,		/* a client to relay (peer_conn() checks its fd) */
	PEER_TAKE_LISTENER,	/* a listening socket to accept on */
};

/*
 * Which rendezvous record is accepted in which peer state, as OpenSSH's
 * monitor table: the rule of ntb-rendezvous(7).  Before HELLO, any fault
 * ends the peer; after it, a HELLO of any kind ends the peer, and a faulty
 * record is refused alone.  A LISTENER_BACK is ntb-connect's to send: it
 * decodes (it carries no fd), and is refused in every state.
 */
static const uint8_t peer_accepts[PEER_NSTATES][MSG_LISTENER_BACK + 1] = {
	[PEER_GREETING] = { [MSG_HELLO] = PEER_TAKE_HELLO },
	[PEER_SERVING] = { [MSG_HELLO] = PEER_DROP_HELLO, [MSG_CONN] = PEER_TAKE_CONN,
			   [MSG_LISTENER] = PEER_TAKE_LISTENER },
};

/*
 * One record from a peer, as peer_accepts[] says.  A record that does not
 * decode counts as no type (refused), except that a serving peer's HELLO
 * is known by its type byte alone.
 */
static void peer_record(struct peer *p, const uint8_t *buf, size_t n, struct fdpass_in *in)
{
	const char *why = NULL;
	unsigned int type;
	struct msg m;
	int bad, take;

	if (in->truncated) {
		/*
		 * Out of fds (EMFILE), most likely: the kernel closed the
		 * client it could not give us, and the SO_LINGER 0 it came
		 * with (ntb-listen arms it) made that close a reset.
		 */
		cn.truncated++;
		why = "it or its control data was truncated (out of fds? the kernel reset the client it carried)";
		bad = 1;
	} else {
		bad = msg_decode(buf, n, in->nfds, &m, &why) != 0;
	}
	if (!bad)
		type = m.type;
	else
		type = p->state == PEER_SERVING && n >= 1 && buf[0] == MSG_HELLO ? MSG_HELLO : 0;
	take = type <= MSG_LISTENER_BACK ? peer_accepts[p->state][type] : PEER_REFUSE;
	/* m is not filled in: a record that did not decode is never taken. */
	if (bad && take != PEER_DROP_HELLO)
		take = PEER_REFUSE;
	/* Taking one means taking its fd: there must be one (msg_decode() says so). */
	if ((take == PEER_TAKE_CONN || take == PEER_TAKE_LISTENER) && in->nfds != 1)
		take = PEER_REFUSE;
	if (!bad && type == MSG_LISTENER_BACK)
		why = "a LISTENER_BACK record, which only ntb-connect sends";
	if (p->state == PEER_GREETING) {
		peer_discard(in);
		if (bad)
			log_warn_limited(&cn.lim_record, "refused a rendezvous record: %s", why);
		if (take != PEER_TAKE_HELLO)
			peer_drop(p, bad ? "no valid HELLO" : type == MSG_CONN ? "CONN before HELLO" :
				  "a record before HELLO");
		else if (m.u.hello.role != MSG_ROLE_LISTEN)
			peer_drop(p, "peer is not ntb-listen");
		/* Route mode: any number of listeners, all to their own destinations. */
		else if (rdv_hello_send(p->fd, MSG_ROLE_CONNECT, cn.relay.connect_original ?
					m.u.hello.forwards : cn.relay.ntargets,
					/* -C serves one client; route mode checks each one's destination. */
					cn.relay.upstream_fd < 0 && !cn.relay.connect_original ?
					MSG_HELLO_TAKES_LISTENERS : 0))
			peer_drop(p, "cannot answer HELLO");
		/* Answered first: ntb-listen then names the mismatch itself. */
		else if (!cn.relay.connect_original && m.u.hello.forwards != cn.relay.ntargets)
			peer_drop(p, "its count of listening sockets is not our count of targets");
		else
			peer_set_state(p, PEER_SERVING);
		return;
	}
	switch (take) {
	case PEER_DROP_HELLO:
		peer_discard(in);
		if (bad)
			log_warn_limited(&cn.lim_record, "refused a rendezvous record: %s", why);
		peer_drop(p, "second HELLO");
		return;
	case PEER_TAKE_LISTENER:
		peer_listener(p, in->fds[0], &m);
		return;
	case PEER_TAKE_CONN:
		cn.received++;
		peer_conn(in->fds[0], &m);
		return;
	default:
		log_warn_limited(&cn.lim_record, "refused a rendezvous record: %s",
				 why ? why : "not accepted from a peer that greeted");
		if (!in->truncated)
			cn.refused_bad++;
		peer_discard(in);
		return;
	}
}

/* Read up to a batch of records from one peer; level-triggered, so fair. */
static void peer_event(struct peer *p)
{
	int budget = RDV_BATCH;

	while (budget-- > 0 && p->fd >= 0) {
		uint8_t buf[MSG_BUF_MAX];
		struct fdpass_in in;
		ssize_t n;

		n = fdpass_recv(p->fd, buf, sizeof(buf), &in);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			peer_drop(p, strerror(errno));
			return;
		}
		if (n == 0 && !in.nfds) {
			/* recvmsg() says 0 for EOF and for an empty packet alike. */
			peer_drop(p, fdpass_at_eof(p->fd) ? NULL : "it sent an empty record");
			return;
		}
		peer_record(p, buf, (size_t)n, &in);
	}
}

/*
 * SIGQUIT, the graceful stop: no new rendezvous peers and no new clients
 * (a hand-off that still arrives is reset), while open connections have
 * --drain-timeout to finish.  Peers stay: one that leaves is no news.
 * The listening sockets they lent go back to them (LISTENER_BACK): they
 * accept again and hand each client over, which is reset at once, rather
 * than leaving clients in a backlog nobody accepts from for the drain.
 *
 * syscalls: close
 */
static void connect_drain_begin(void)
{
	if (cn.draining)
		return;
	cn.draining = 1;
	cn.drain_deadline = util_now_ms() + cn.drain_ms;
	/* Their senders accept on them again, and hand us clients we reset: promptly refused. */
	relay_listeners_drop(-1, peer_back_stopping);
	notify_send(cn.manager, "STOPPING=1");
	if (cn.rdv_listener >= 0) {
		close(cn.rdv_listener);
		cn.rdv_listener = -1;
		cn.accept_resume = 0;
	}
	log_info("stopping gracefully: %u connections may finish within %d s", relay_active(),
		 cn.drain_ms / 1000);
}

/*
 * One line of counters (SIGUSR1, --stats).  The relay's counts are read
 * while the workers run: each is exact, the line is not one instant.
 */
static void connect_stats(void)
{
	struct relay_totals t;
	char errs[160], ends[320], loads[320];
	unsigned long long failed = 0, ended = 0;
	unsigned int e;

	relay_totals(&t);
	for (e = 0; e < RELAY_NERRNOS; e++)
		failed += t.connect_failed[e];
	for (e = 0; e < RELAY_NENDS; e++)
		ended += t.ends[e];
	relay_errno_names(errs, sizeof(errs), t.connect_failed);
	relay_end_names(ends, sizeof(ends), t.ends);
	relay_loads(loads, sizeof(loads));
	log_notice("stats: received %llu, accepted %llu, refused %llu (limit %llu, fds %llu, stopping %llu, bad %llu, policy %llu), lost in hand-off %llu, connects ok %llu, failed %llu%s%s%s, open %u (per worker %s), idle reset %llu, bytes to target %llu, to client %llu, connections reset %llu, ended %llu%s%s%s",
		       cn.received, t.accepted,
		       t.refused_limit + t.refused_fds + cn.refused_stopping + cn.refused_bad + cn.refused_policy,
		       t.refused_limit, t.refused_fds, cn.refused_stopping, cn.refused_bad, cn.refused_policy,
		       cn.truncated,
		       t.connect_ok, failed, *errs ? " (" : "", errs, *errs ? ")" : "", relay_active(), loads,
		       t.idle_closed, t.bytes[0], t.bytes[1], t.resets, ended, *ends ? " (" : "",
		       ends, *ends ? ")" : "");
}

/* Is there anything left to do? */
static int connect_done(void)
{
	/* Told to stop, and nothing left open (or out of patience)? */
	if (cn.draining)
		return !relay_active() || util_now_ms() >= cn.drain_deadline;
	/* -C: the one client came and its connection is over? */
	if (cn.once_taken && !relay_active())
		return 1;
	/* Inherited rendezvous: its only peer is gone, so no client can come. */
	if (cn.rdv.kind == RDV_FD && !cn.npeers && !relay_active())
		return 1;
	return 0;
}

/*
 * SIGTERM, SIGINT, SIGHUP: the fast stop.  exit() closes every socket, and
 * each one of an open connection has SO_LINGER 0 (relay_arm_reset()), so
 * both ends of every connection see a reset.
 */
static void connect_signal(uint32_t signo)
{
	if (signo == SIGUSR1) {
		connect_stats();
	} else if (signo == SIGQUIT) {
		connect_drain_begin();
	} else {
		log_info("stopping on signal %u: resetting %u connections", signo, relay_active());
		notify_send(cn.manager, "STOPPING=1");
		exit(0);
	}
}

/*
 * --transparent-source, in the target's namespace before the sandbox:
 * IP_TRANSPARENT must be allowed, no target may be a loopback address
 * (the kernel drops packets from a non-loopback source arriving on lo as
 * martians), and replies from each target to clients must be routed back
 * to us (route.c).  Any of these missing: one line, exit 1.
 */
static void connect_check_transparent(void)
{
	struct route_table *rt = calloc(cn.ntargets, sizeof(*rt));
	unsigned int i;

	if (!rt)
		log_die("--transparent-source: out of memory");
	for (i = 0; i < cn.ntargets; i++) {
		const struct sockaddr *to = (const struct sockaddr *)&cn.targets[i].ss;
		int v4 = to->sa_family == AF_INET, one = 1, fd;
		char text[ADDR_STRLEN];

		addr_format(to, cn.targets[i].len, text, sizeof(text));
		if (v4 ? (ntohl(((const struct sockaddr_in *)(const void *)to)->sin_addr.s_addr) >> 24) == 127 :
			 IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)(const void *)to)->sin6_addr))
			log_die("--transparent-source: target %s is a loopback address, and the kernel drops packets from other sources on lo as martians; give the server a non-loopback address in its namespace (a veth, say) and connect to that",
				text);
		fd = socket(to->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || setsockopt(fd, v4 ? SOL_IP : SOL_IPV6, v4 ? IP_TRANSPARENT : IPV6_TRANSPARENT,
					 &one, sizeof(one)))
			log_die_errno(errno, "--transparent-source: IP_TRANSPARENT is refused in the target's namespace (it needs CAP_NET_ADMIN there)");
		close(fd);
		if (route_reply_table(to, &rt[i]))
			log_die_errno(errno, "--transparent-source: cannot read the routing rules of the target's namespace");
		if (!rt[i].table || !rt[i].n)
			log_die("--transparent-source: replies from %s to clients would not come back: add a rule and local routes for the client prefixes in the target's namespace, e.g. 'ip rule add from %.*s lookup 100' and 'ip route add local CLIENT_PREFIX dev lo table 100'%s",
				text, (int)strcspn(text + (text[0] == '['), text[0] == '[' ? "]" : ":"),
				text + (text[0] == '['), rt[i].table ? " (its table has no local route)" : "");
	}
	cn.relay.routes = rt;
}

/* syscalls: read epoll_wait epoll_pwait */
static void connect_serve(void)
{
	for (;;) {
		struct epoll_event ev[CONNECT_EVENTS];
		int n, i, timeout;

		if (connect_done())
			return;
		timeout = relay_main_timeout();
		timeout = util_sooner(timeout, peer_expire());
		timeout = util_sooner(timeout, cn.accept_resume);
		timeout = util_sooner(timeout, cn.stats_next);
		if (cn.draining && (timeout < 0 || timeout > 100))
			timeout = 100;
		n = epoll_wait(cn.epfd, ev, CONNECT_EVENTS, timeout);
		if (n < 0 && errno != EINTR)
			log_die_errno(errno, "epoll_wait failed");
		if (cn.accept_resume && cn.rdv_listener >= 0 && util_now_ms() >= cn.accept_resume)
			rdv_resume();
		if (cn.stats_next && util_now_ms() >= cn.stats_next) {
			connect_stats();
			cn.stats_next += cn.stats_ms;
		}
		for (i = 0; i < n; i++) {
			uint64_t tag = ev[i].data.u64;
			struct signalfd_siginfo si;
			struct peer *p;
			uint64_t v;

			/* Worker 0's connections, listeners and wake-ups share this set. */
			if (relay_main_event(tag, ev[i].events))
				continue;
			switch (ev_kind_of(tag)) {
			case EV_SIGNAL:
				while (read(cn.sigfd, &si, sizeof(si)) == sizeof(si))
					connect_signal(si.ssi_signo);
				break;
			case EV_NOTIFY:
				if (read(cn.notify, &v, sizeof(v)) < 0)
					log_debug("notify read failed");
				relay_listeners_orphaned(peer_back_dropped, peer_back_given_up);
				break;
			case EV_RDV:
				if (cn.rdv_listener >= 0 && !cn.accept_resume)
					rdv_accept();
				break;
			case EV_PEER:
				if (ev_index(tag) >= MAX_PEERS)
					break;
				p = &cn.peers[ev_index(tag)];
				/* Dropped earlier in this batch: a stale event. */
				if (p->fd >= 0 && p->gen == ev_gen(tag))
					peer_event(p);
				break;
			default:
				break;
			}
		}
		relay_main_expire();
	}
}

int main(int argc, char **argv)
{
	/* epoll, signalfd, eventfd, rendezvous, manager, syslog, netlink; two per worker; -C. */
	int keep[7 + 2 * RELAY_MAX_WORKERS + 1];
	unsigned int i;
	int netns = -1;
	sigset_t set;

	util_std_fds();
	util_raise_nofile();
	log_init("ntb-connect");
	connect_parse(argc, argv);
	for (i = 0; i < MAX_PEERS; i++)
		cn.peers[i].fd = -1;
	cn.policy.keep_fds = keep;
	cn.policy.keep_cap = sizeof(keep) / sizeof(keep[0]);

	/* 1. Files first, while they are reachable; the service manager's
	 *    socket too, before joining: an @name belongs to our namespace. */
	if (cn.cli.netns_text)
		netns = netns_open(cn.cli.netns_text);
	cn.manager = notify_open();

	/* 2. The rendezvous, in the namespace we were started in. */
	cn.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (cn.epfd < 0)
		log_die_errno(errno, "cannot create epoll set");
	if (cn.rdv.kind == RDV_FD) {
		int fd = rdv_inherited(&cn.rdv, cn.cli.rdv_text);

		if (util_set_nonblock(fd))
			log_die_errno(errno, "cannot use rendezvous %s", cn.cli.rdv_text);
		peer_add(fd, cn.cli.rdv_text);
		if (!cn.npeers)
			log_die("cannot use rendezvous %s: its peer is not allowed", cn.cli.rdv_text);
	} else {
		cn.rdv_listener = rdv_listen(&cn.rdv, cn.cli.rdv_text, &cn.acl);
		util_epoll_add(cn.epfd, cn.rdv_listener, EPOLLIN, ev_tag(EV_RDV, 0, 0, 0));
	}

	/* 3. The target's namespace. */
	if (netns >= 0) {
		/* Peers are checked later, from inside: uids as seen there. */
		if (netns_join(netns, cn.cli.netns_text))
			rdv_acl_joined_userns(&cn.acl, cn.cli.netns_text);
		close(netns);
	}

	if (cn.relay.transparent)
		connect_check_transparent();
	/* Route mode asks the kernel about each destination, from here (B). */
	if (cn.relay.connect_original && !cn.rules.allow_builtin_denied &&
	    (cn.route_fd = route_local_open()) < 0)
		log_die_errno(errno, "--connect-original: cannot open a netlink socket for route look-ups");

	/* 4. Everything the serving process needs, created now. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGQUIT);
	sigaddset(&set, SIGUSR1);
	cn.sigfd = util_signalfd(&set);
	util_epoll_add(cn.epfd, cn.sigfd, EPOLLIN, ev_tag(EV_SIGNAL, 0, 0, 0));
	cn.notify = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (cn.notify < 0)
		log_die_errno(errno, "cannot create eventfd");
	util_epoll_add(cn.epfd, cn.notify, EPOLLIN, ev_tag(EV_NOTIFY, 0, 0, 0));
	cn.relay.notify_fd = cn.notify;
	policy_keep_fd(&cn.policy, cn.epfd);
	policy_keep_fd(&cn.policy, cn.sigfd);
	policy_keep_fd(&cn.policy, cn.notify);
	policy_keep_fd(&cn.policy, cn.rdv_listener >= 0 ? cn.rdv_listener : cn.rdv.fd);
	if (cn.manager >= 0)
		policy_keep_fd(&cn.policy, cn.manager);
	if (cn.route_fd >= 0)
		policy_keep_fd(&cn.policy, cn.route_fd);
	cn.relay.main_epfd = cn.epfd;
	if (relay_init(&cn.relay, &cn.policy))
		log_die_errno(errno, "cannot set up the relay");

	/* 5. Give up everything else. */
	policy_apply(&cn.policy);

	/* 6. Serve. */
	relay_start();
	notify_send(cn.manager, "READY=1");
	if (cn.stats_ms)
		cn.stats_next = util_now_ms() + cn.stats_ms;
	if (cn.ntargets) {
		char first[ADDR_STRLEN];

		addr_format((struct sockaddr *)&cn.targets[0].ss, cn.targets[0].len, first, sizeof(first));
		log_info("relaying to %s%s with %u workers", first,
			 cn.ntargets > 1 ? " and more" : "", relay_worker_count());
	}
	connect_serve();
	if (relay_active())
		log_info("drain time-out: resetting %u connections", relay_active());
	exit(0);
}
