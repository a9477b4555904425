// SPDX-License-Identifier: MIT
/*
 * listen.c - ntb-listen: accept clients in namespace A and hand each one,
 * with its addresses, to ntb-connect over the rendezvous.
 *
 * Reads top to bottom in start-up order (the README, "What each process
 * can do once serving"):
 *   1. parse arguments, open the namespace file, check -L/-S fds;
 *   2. connect to the rendezvous (before setns: an abstract name is looked
 *      up in the caller's namespace), check the peer, exchange HELLO;
 *   3. join the namespace;
 *   4. bind and listen (-l), or take the inherited sockets (-L, -S);
 *   5. policy_apply(): no capabilities, no_new_privs, seccomp;
 *   6. serve: hand each listening socket over once, if ntb-connect takes
 *      them (its workers then accept for themselves, and we only watch
 *      the rendezvous); otherwise accept, hand off, close our copy.
 *
 * Either way the listening sockets stay ours too: when ntb-connect goes,
 * its copies go with it, and we take the clients back (resetting them
 * until it is back).
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
#include "proxy.h"
#include "rendezvous.h"
#include "rules.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define ACCEPT_BATCH	1024
#define RDV_SPARES	32	/* reconnects to ntb-connect, at most */
#define REHELLO_MS	5000	/* a reconnected ntb-connect must greet within this */
#define RDV_SEND_S	5	/* and take a record within this, once its queue is full */
#define TEXT_OF_(x)	#x
#define TEXT_OF(x)	TEXT_OF_(x)	/* a number macro's value, for the lines that name it */
#define RDV_STRANGER_MS	30000	/* after a refused peer: the next attempt, each costing a spare */
#define PENDING_MAX	256	/* --accept-proxy: clients awaiting their header */
#define PENDING_PER_SOURCE	16	/* of those, from one source (IPv4 address, IPv6 /64) */
#define PROXY_WAIT_MS	3000	/* and how long each may take to send it */
_Static_assert(PENDING_PER_SOURCE < PENDING_MAX, "one source must not be able to fill every slot");

/* --accept-proxy: a client whose PROXY header has not come in full yet. */
struct pending {
	int fd;				/* -1: slot free */
	uint32_t gen;			/* moves on when the slot is freed */
	unsigned int lst;		/* the listener it came from */
	long long deadline;
	struct sockaddr_storage peer;	/* from accept4(), for the log */
	struct source {			/* who holds the slot, for PENDING_PER_SOURCE */
		int family;		/* AF_INET, AF_INET6 (mapped ones unmapped) */
		uint8_t prefix[8];	/* the IPv4 address, or the IPv6 /64 */
	} src;
};

/* One listening socket; its index is the target's index in ntb-connect. */
struct listener {
	int fd;				/* -L, or bound by us; -1 before */
	int bound;			/* ours (-l): shut down when we stop */
	struct addr addr;		/* -l */
	struct sockaddr_storage local;	/* getsockname(), if not a wildcard */
	int local_known;
	int watched;			/* ours to accept on (in the epoll set unless paused) */
	int lent;			/* was lent: a peer may keep a copy (listen_accept4()) */
};

/*
 * Where ntb-listen stands with its ntb-connect.  Changed only by
 * listen_peer_set(), which checks the change and logs it at debug level.
 */
enum listen_peer {
	LISTEN_PEER_HANDING,	/* connected: clients are handed off one by one */
	LISTEN_PEER_LENDING,	/* connected: it holds our listening sockets */
	LISTEN_PEER_LOST,	/* gone: clients are reset, a reconnect waits for retry_at */
	LISTEN_PEER_GREETING,	/* reconnected: its HELLO is due by greet_deadline */
	LISTEN_PEER_NSTATES
};

static struct {
	struct listener lst[MSG_MAX_FORWARDS];
	unsigned int nlst;
	int client_fd;		/* -S */
	int once;
	int rdv_timeout_ms;
	struct rdv_spec rdv;
	struct rdv_acl acl;
	struct policy policy;
	struct cli cli;
	int rdv_fd, epfd, sigfd, spare;
	int notify;		/* service manager's readiness socket, or -1 */
	long long accept_resume;	/* accepting paused until then, or 0 */
	int backoff_ms;
	/*
	 * Losing ntb-connect (@name, /path): sockets made before joining the
	 * namespace, one used up per reconnect; while there is no peer,
	 * clients are reset.
	 */
	int spares[RDV_SPARES];
	unsigned int nspares;
	uint8_t peer;			/* enum listen_peer, set by listen_peer_set() */
	long long retry_at, greet_deadline;
	int retry_ms;
	unsigned int attempts;
	int stalled;			/* the last send to the peer timed out (RDV_SEND_S) */
	int stall_wait;			/* fd:N: accepting waits for the rendezvous to take records */
	int stats_ms;			/* --stats, 0: only on SIGUSR1 */
	long long stats_next;
	int accept_proxy;		/* --accept-proxy */
	struct rule_set proxy_from;	/* --accept-proxy-from: who may send headers */
	int transparent;		/* --transparent: IP_TRANSPARENT listeners */
	int handoff;			/* --hand-off: HANDOFF_* */
	unsigned long long lent;	/* listening sockets handed over, all peers */
	unsigned long long returned;	/* and given back (LISTENER_BACK) */
	struct pending pending[PENDING_MAX];
	unsigned int npending;
	unsigned long long refused_proxy;
	unsigned long long accepted, handed, refused_nopeer, refused_fds, refused_handoff;
	struct log_limit lim_fds, lim_accept, lim_nopeer, lim_proxy;
} ls = { .client_fd = -1, .spare = -1, .notify = -1 };

/* No ntb-connect to hand off to: lost, or not yet greeted again. */
static int listen_peerless(void)
{
	return ls.peer == LISTEN_PEER_LOST || ls.peer == LISTEN_PEER_GREETING;
}

/* The one way the peer state changes: checked against moves[], logged. */
static void listen_peer_set(enum listen_peer to)
{
	static const char *const names[LISTEN_PEER_NSTATES] = {
		"handing off", "lending", "lost", "greeting",
	};
	/* Bit t of moves[s]: s -> t is allowed. */
	static const uint8_t moves[LISTEN_PEER_NSTATES] = {
		[LISTEN_PEER_HANDING] = 1u << LISTEN_PEER_LOST,
		[LISTEN_PEER_LENDING] = 1u << LISTEN_PEER_LOST,
		[LISTEN_PEER_LOST] = 1u << LISTEN_PEER_LOST | 1u << LISTEN_PEER_GREETING,
		[LISTEN_PEER_GREETING] = 1u << LISTEN_PEER_LOST | 1u << LISTEN_PEER_HANDING |
					 1u << LISTEN_PEER_LENDING,
	};

	if (ls.peer >= LISTEN_PEER_NSTATES || !(moves[ls.peer] & (1u << to)))
		log_die("peer state: no change from %u to %u", (unsigned int)ls.peer,
			(unsigned int)to);
	log_debug("peer: %s -> %s", names[ls.peer], names[to]);
	ls.peer = (uint8_t)to;
}

enum { HANDOFF_AUTO, HANDOFF_LISTENER, HANDOFF_CLIENT };

static const char usage[] =
"Usage: ntb-listen (-l ADDR | -L FD)... | -S FD) -r RENDEZVOUS [OPTIONS]\n"
"Accept TCP clients inside the network namespace NS and hand each one to\n"
"ntb-connect over the rendezvous.  The i-th listening socket forwards to\n"
"ntb-connect's i-th target.\n"
"\n"
"  -l, --listen ADDR          bind and listen: IPv4:port or [IPv6]:port, or\n"
"                             a port range ADDR:FIRST-LAST (one listening\n"
"                             socket per port); repeatable, 1024 at most\n"
"  -L, --listen-fd FD         use this inherited listening socket; repeatable\n"
"  -S, --preaccepted-fd FD    hand off this one connected client, then exit\n"
"                             (with none of -l, -L, -S: the listening sockets\n"
"                             of systemd socket activation, LISTEN_FDS, in order)\n"
"  -n, --netns NS             join this network namespace: a path, pid:N,\n"
"                             name:NAME or fd:N\n"
"  -r, --rendezvous R         fd:N (inherited socket), @name (abstract socket,\n"
"                             looked up before joining NS) or /path\n"
"      --hand-off MODE        listener: hand each listening socket over once,\n"
"                             and ntb-connect accepts its clients itself (the\n"
"                             default on fd:N only); client: accept here and\n"
"                             hand over each client (the default on @name and\n"
"                             /path, where the peer is whoever passed the uid\n"
"                             check: with listener, it holds the listening\n"
"                             socket itself; always client with -S, --once,\n"
"                             --accept-proxy, --transparent, and with an\n"
"                             ntb-connect that takes no listening sockets)\n"
"      --once                 hand off one client, then exit 0\n"
"      --rendezvous-timeout SEC  keep retrying to reach ntb-connect this long\n"
"                             at start (default 10); on @name or /path a lost\n"
"                             ntb-connect is sought again for as long as it\n"
"                             takes, clients being reset meanwhile\n"
"      --stats SEC            log a line of counters every SEC seconds (also\n"
"                             on SIGUSR1)\n"
"      --transparent          route mode: IP_TRANSPARENT listening sockets (-l)\n"
"                             that take connections to any address steered to\n"
"                             them (nftables TPROXY); each client's original\n"
"                             destination goes with its hand-off, for\n"
"                             ntb-connect's route mode\n"
"      --accept-proxy         each client starts with a PROXY protocol header\n"
"                             (v1 or v2, from a front proxy): hand off the\n"
"                             addresses it names; reset a client whose header\n"
"                             is missing, malformed or not complete in 3 s;\n"
"                             16 clients at most from one source (IPv4\n"
"                             address, IPv6 /64) wait for theirs, 256 in all\n"
"      --accept-proxy-from RULE  only clients whose own address matches a\n"
"                             RULE (tcp://ADDR[/LEN][:PORT[-PORT]], IPv6 in\n"
"                             [brackets]; repeatable) may send PROXY headers;\n"
"                             others are reset.  Required with --transparent,\n"
"                             and wherever ntb-connect uses the addresses\n"
"                             (its transparent source and route modes)\n"
"      --allow-uid UID        also accept an ntb-connect running as UID\n"
"                             (number or name; repeatable)\n"
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

enum { OPT_ONCE = 256, OPT_RDV_TIMEOUT, OPT_STATS, OPT_ACCEPT_PROXY, OPT_TRANSPARENT, OPT_HAND_OFF,
       OPT_ACCEPT_PROXY_FROM };

static const struct option long_opts[] = {
	{ "listen", required_argument, NULL, 'l' },
	{ "listen-fd", required_argument, NULL, 'L' },
	{ "preaccepted-fd", required_argument, NULL, 'S' },
	{ "once", no_argument, NULL, OPT_ONCE },
	{ "rendezvous-timeout", required_argument, NULL, OPT_RDV_TIMEOUT },
	{ "stats", required_argument, NULL, OPT_STATS },
	{ "accept-proxy", no_argument, NULL, OPT_ACCEPT_PROXY },
	{ "accept-proxy-from", required_argument, NULL, OPT_ACCEPT_PROXY_FROM },
	{ "transparent", no_argument, NULL, OPT_TRANSPARENT },
	{ "hand-off", required_argument, NULL, OPT_HAND_OFF },
	CLI_AGENT_OPTS,
	CLI_COMMON_OPTS,
	{ NULL, 0, NULL, 0 },
};

static void listen_parse(int argc, char **argv)
{
	const char *why;
	int c, modes = 0;

	ls.rdv_timeout_ms = 10000;
	ls.policy.role = POLICY_LISTEN;
	rdv_acl_init(&ls.acl);
	ls.cli = (struct cli){ .prog = "ntb-listen", .usage = usage, .rdv = &ls.rdv,
			       .acl = &ls.acl };

	opterr = 0;
	while ((c = cli_getopt(argc, argv, ":l:L:S:n:r:vh", long_opts)) != -1) {
		switch (c) {
		case 'l': {
			struct addr first;
			unsigned int count, i;

			if (addr_parse_range(optarg, &first, &count))
				log_usage_error("bad address '%s' for --listen: expected IPv4:port, [IPv6]:port or ADDR:FIRST-LAST",
						optarg);
			if (count > MSG_MAX_FORWARDS - ls.nlst)
				log_usage_error("bad address '%s' for --listen: more than %d listening sockets",
						optarg, MSG_MAX_FORWARDS);
			for (i = 0; i < count; i++) {
				struct listener *l = &ls.lst[ls.nlst++];

				l->fd = -1;
				l->addr = first;
				addr_set_port(&l->addr, addr_port(&first) + i);
			}
			break;
		}
		case 'L':
			if (ls.nlst >= MSG_MAX_FORWARDS)
				log_usage_error("bad value '%s' for --listen-fd: more than %d listening sockets",
						optarg, MSG_MAX_FORWARDS);
			ls.lst[ls.nlst++].fd = util_arg_socket("--listen-fd", optarg, 1);
			break;
		case 'S':
			if (ls.client_fd >= 0)
				log_usage_error("-S/--preaccepted-fd: give it once");
			modes++;
			ls.client_fd = util_arg_socket("--preaccepted-fd", optarg, 0);
			break;
		case OPT_ONCE:
			ls.once = 1;
			break;
		case OPT_RDV_TIMEOUT:
			ls.rdv_timeout_ms =
				(int)util_arg_number("--rendezvous-timeout", optarg, 0, 3600) * 1000;
			break;
		case OPT_STATS:
			ls.stats_ms = (int)util_arg_number("--stats", optarg, 1, 86400) * 1000;
			break;
		case OPT_ACCEPT_PROXY:
			ls.accept_proxy = 1;
			break;
		case OPT_ACCEPT_PROXY_FROM:
			/* Allow rules alone: no built-in list (a front proxy may be on lo). */
			if (rules_add(&ls.proxy_from, optarg, 1, &why))
				log_usage_error("bad rule '%s' for --accept-proxy-from: %s (tcp://ADDR[/LEN][:PORT[-PORT]], IPv6 in [brackets])",
						optarg, why);
			break;
		case OPT_TRANSPARENT:
			ls.transparent = 1;
			break;
		case OPT_HAND_OFF:
			if (!strcmp(optarg, "listener"))
				ls.handoff = HANDOFF_LISTENER;
			else if (!strcmp(optarg, "client"))
				ls.handoff = HANDOFF_CLIENT;
			else
				log_usage_error("bad value '%s' for --hand-off: expected listener or client",
						optarg);
			break;
		default:
			cli_option(&ls.cli, c, argv);
		}
	}
	if (!modes && !ls.nlst) {
		/* Socket activation: the listening sockets come from systemd. */
		int fds[MSG_MAX_FORWARDS], n = notify_listen_fds(fds, MSG_MAX_FORWARDS);

		if (n < 0)
			log_usage_error("bad LISTEN_PID/LISTEN_FDS from the service manager");
		for (c = 0; c < n; c++) {
			ls.lst[ls.nlst].fd = fds[c];
			if (util_check_stream_socket(fds[c], 1, &why))
				log_usage_error("bad socket-activated fd %d: %s", fds[c], why);
			ls.nlst++;
		}
	}
	modes += ls.nlst > 0;
	if (ls.transparent && (ls.client_fd >= 0 || !ls.nlst))
		log_usage_error("--transparent: give -l/--listen (the sockets it binds are made transparent)");
	if (ls.accept_proxy && ls.client_fd >= 0)
		log_usage_error("--accept-proxy: not with -S/--preaccepted-fd (give listening sockets)");
	if (ls.proxy_from.n && !ls.accept_proxy)
		log_usage_error("--accept-proxy-from: only with --accept-proxy");
	/*
	 * Route mode: the header's destination is where ntb-connect goes.
	 * Whoever may send one picks it: only the front proxies named.
	 */
	if (ls.accept_proxy && ls.transparent && !ls.proxy_from.n)
		log_usage_error("--accept-proxy with --transparent: give --accept-proxy-from RULE (the front proxies whose headers are believed; any client could name any destination)");
	/* These need each client here: one client, its header, its own destination. */
	if (ls.client_fd >= 0 || ls.once || ls.accept_proxy || ls.transparent) {
		if (ls.handoff == HANDOFF_LISTENER)
			log_usage_error("--hand-off listener: not with %s (each client is handed off on its own)",
					ls.client_fd >= 0 ? "-S/--preaccepted-fd" : ls.once ? "--once" :
					ls.accept_proxy ? "--accept-proxy" : "--transparent");
		ls.handoff = HANDOFF_CLIENT;
	}
	if (modes != 1 && !ls.cli.print_policy)
		log_usage_error("give -l/--listen or -L/--listen-fd (any number), or one -S/--preaccepted-fd, or socket activation (see --help)");
	cli_finish(&ls.cli, argc, argv);
	policy_adopt(&ls.policy, &ls.cli);
}

/*
 * Lend the listening sockets to this peer?  Whoever holds one can accept
 * on it for as long as it lives, and after our shutdown() listen() again
 * and own the port.  On fd:N the peer is the process our launcher started;
 * on @name or /path it is whoever passed the uid check first, so there
 * only an explicit --hand-off listener lends them.
 */
static int listen_may_lend(unsigned int flags)
{
	if (!(flags & MSG_HELLO_TAKES_LISTENERS) || ls.handoff == HANDOFF_CLIENT)
		return 0;
	return ls.handoff == HANDOFF_LISTENER || ls.rdv.kind == RDV_FD;
}

/*
 * The rendezvous is blocking (a busy ntb-connect slows accepting down),
 * but not for ever: a peer that takes no record for RDV_SEND_S (stopped,
 * frozen, hung) is dropped as a lost one, so that we go on reading our
 * signals.  Set before the sandbox, on the first rendezvous and the spares.
 */
static void listen_send_timeout(int fd)
{
	struct timeval tv = { .tv_sec = RDV_SEND_S };

	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)))
		log_die_errno(errno, "cannot use rendezvous %s", ls.cli.rdv_text);
}

/* Why a send to the peer failed, for listen_peer_lost(). */
static const char *listen_send_failed(void)
{
	return ls.stalled ? "took no record for " TEXT_OF(RDV_SEND_S) " s" : "closed the rendezvous";
}

static void listen_open_rendezvous(void)
{
	unsigned int ours = ls.client_fd >= 0 ? 1 : ls.nlst, theirs = 0, flags = 0;
	char reason[128];
	const char *why;

	if (ls.rdv.kind == RDV_FD)
		ls.rdv_fd = rdv_inherited(&ls.rdv, ls.cli.rdv_text);
	else
		ls.rdv_fd = rdv_connect(&ls.rdv, ls.cli.rdv_text, ls.rdv_timeout_ms);
	/* Blocking: a busy ntb-connect slows accepting down, nothing is lost. */
	{
		int fl = fcntl(ls.rdv_fd, F_GETFL);

		if (fl < 0 || fcntl(ls.rdv_fd, F_SETFL, fl & ~O_NONBLOCK))
			log_die_errno(errno, "cannot use rendezvous %s", ls.cli.rdv_text);
	}
	listen_send_timeout(ls.rdv_fd);
	/* Never hand a client to a stranger who grabbed the name first. */
	if (rdv_check_peer(ls.rdv_fd, &ls.acl, reason, sizeof(reason)))
		log_die("cannot use rendezvous %s: its owner %s", ls.cli.rdv_text, reason);
	if (rdv_hello_send(ls.rdv_fd, MSG_ROLE_LISTEN, ours, 0))
		log_die_errno(errno, "cannot greet ntb-connect on %s", ls.cli.rdv_text);
	if (rdv_hello_wait(ls.rdv_fd, MSG_ROLE_CONNECT, ls.rdv_timeout_ms ? ls.rdv_timeout_ms : 1000,
			   &theirs, &flags, &why))
		log_die("cannot greet ntb-connect on %s: %s", ls.cli.rdv_text, why);
	/* Forwards pair up by index: the counts must agree. */
	if (theirs != ours)
		log_die("cannot use rendezvous %s: ntb-connect has %u targets for our %u listening sockets",
			ls.cli.rdv_text, theirs, ours);
	/* The first peer: no change to check yet. */
	ls.peer = listen_may_lend(flags) ? LISTEN_PEER_LENDING : LISTEN_PEER_HANDING;
}

/*
 * A listener bound to one address gives every client that same local
 * address: learn it once instead of a getsockname() per client.
 */
static void listen_cache_local(struct listener *l)
{
	socklen_t len = sizeof(l->local);

	l->local_known = 0;
	/* Route mode: each client has its own destination, its getsockname(). */
	if (ls.transparent || getsockname(l->fd, (struct sockaddr *)&l->local, &len))
		return;
	if (l->local.ss_family == AF_INET)
		l->local_known = ((struct sockaddr_in *)&l->local)->sin_addr.s_addr != htonl(INADDR_ANY);
	else if (l->local.ss_family == AF_INET6)
		l->local_known = !IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&l->local)->sin6_addr);
}

/*
 * Options every client socket gets, set once on the listener (accepted
 * sockets inherit them): TCP_NODELAY, and SO_LINGER 0, so that a client
 * whose connection does not end cleanly sees a reset, whoever closes the
 * last copy (ntb-connect turns it off once both ends said FIN).  That
 * covers a hand-off the kernel drops because ntb-connect is out of fds,
 * and an agent that is killed.
 */
static void listen_client_options(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

/* An inherited socket (-L, -S): ours alone from now, non-blocking. */
static void listen_adopt(int fd)
{
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) || util_set_nonblock(fd))
		log_die_errno(errno, "cannot use the inherited socket %d", fd);
	listen_client_options(fd);
}

static void listen_bind(void)
{
	char text[ADDR_STRLEN];
	unsigned int i;
	int one = 1;

	if (ls.client_fd >= 0) {
		listen_adopt(ls.client_fd);
		return;
	}
	for (i = 0; i < ls.nlst; i++) {
		struct listener *l = &ls.lst[i];

		if (l->fd >= 0) {
			listen_adopt(l->fd);
			listen_cache_local(l);
			continue;
		}
		addr_format((struct sockaddr *)&l->addr.ss, l->addr.len, text, sizeof(text));
		l->fd = socket(l->addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (l->fd < 0)
			log_die_errno(errno, "cannot create socket for %s", text);
		l->bound = 1;
		setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		listen_client_options(l->fd);
		if (ls.transparent &&
		    setsockopt(l->fd, l->addr.ss.ss_family == AF_INET ? SOL_IP : SOL_IPV6,
			       l->addr.ss.ss_family == AF_INET ? IP_TRANSPARENT : IPV6_TRANSPARENT, &one,
			       sizeof(one)))
			log_die_errno(errno, "--transparent: cannot make %s transparent (IP_TRANSPARENT needs CAP_NET_ADMIN in the listening namespace, at start only)",
				      text);
		if (bind(l->fd, (struct sockaddr *)&l->addr.ss, l->addr.len))
			log_die_errno(errno, "cannot bind %s", text);
		if (listen(l->fd, SOMAXCONN))
			log_die_errno(errno, "cannot listen on %s", text);
		listen_cache_local(l);
		log_info("listening on %s", text);
	}
}

/*
 * fd:N, a peer that took no record for RDV_SEND_S (@on): stop accepting,
 * and watch the rendezvous for room (EPOLLOUT) instead; with room (!@on),
 * accept again.  Through the pause machinery: listen_resume() puts the
 * listeners back.
 *
 * syscalls: epoll_ctl
 */
static void listen_resume(void);

static void listen_stall(int on)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0),
				  .data.u64 = ev_tag(EV_RDV, 0, 0, 0) };
	unsigned int i;

	if (on == ls.stall_wait)
		return;
	ls.stall_wait = on;
	if (epoll_ctl(ls.epfd, EPOLL_CTL_MOD, ls.rdv_fd, &ev))
		log_die_errno(errno, "cannot watch the rendezvous");
	if (!on) {
		log_notice("ntb-connect takes records again; accepting");
		listen_resume();
		return;
	}
	if (!ls.accept_resume)
		for (i = 0; i < ls.nlst; i++)
			if (ls.lst[i].watched && epoll_ctl(ls.epfd, EPOLL_CTL_DEL, ls.lst[i].fd, NULL))
				log_debug("cannot pause a listening socket");
	ls.accept_resume = util_now_ms() + 3600 * 1000LL;	/* not before the rendezvous has room */
}

/*
 * listen_handoff() - pass one client on; our copy is closed either way
 * @fd:		the client
 * @peer:	its address from accept4() or its PROXY header, or NULL to
 *		ask the socket
 * @local:	the address it connected to, from its PROXY header, or NULL
 *		for the socket's own
 * @l:		the listener it came from, or NULL for -S
 *
 * Return: 0, or -1 if the rendezvous is gone (fatal for the caller).
 *
 * syscalls: getsockname getpeername close
 */
static int listen_handoff(int fd, const struct sockaddr_storage *peer,
			  const struct sockaddr_storage *proxied, const struct listener *l)
{
	struct sockaddr_storage asked, local = { 0 };
	socklen_t plen = sizeof(asked), llen = sizeof(local);
	int known = proxied || (l && l->local_known);
	const struct sockaddr_storage *lp = proxied ? proxied : known ? &l->local : &local;
	uint8_t buf[MSG_BUF_MAX];
	size_t len = 0;

	if (!peer && !getpeername(fd, (struct sockaddr *)&asked, &plen))
		peer = &asked;
	if (peer && (known || !getsockname(fd, (struct sockaddr *)&local, &llen)))
		len = msg_encode_conn(buf, sizeof(buf), (const struct sockaddr *)peer,
				      (const struct sockaddr *)lp, l ? (unsigned int)(l - ls.lst) : 0);
	if (!len) {
		/* Client already gone (ENOTCONN), or not TCP/IP. */
		log_debug("dropped a client that left before its hand-off");
		close(fd);
		return 0;
	}
	if (fdpass_send(ls.rdv_fd, buf, len, fd) == (ssize_t)len) {
		ls.handed++;
		close(fd);
		return 0;
	}
	ls.refused_handoff++;
	ls.stalled = errno == EAGAIN;
	/*
	 * On fd:N no other ntb-connect can come: keep this one, lose only
	 * the client in hand, and accept no more until it takes records
	 * again; those clients wait in the backlog, our signals are read.
	 */
	if (ls.stalled && ls.rdv.kind == RDV_FD && ls.client_fd < 0) {
		log_warn("ntb-connect took no record for " TEXT_OF(RDV_SEND_S) " s; reset a client, and accept no more until it takes one");
		util_reset_close(fd);
		listen_stall(1);
		return 0;
	}
	if (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN || ls.stalled) {
		util_reset_close(fd);
		return -1;
	}
	log_warn_errno_limited(&ls.lim_accept, errno, "cannot hand a client to ntb-connect; reset it");
	util_reset_close(fd);
	return 0;
}

/*
 * Stop watching the listeners for a while, longer each time (out of fds
 * with no spare, or out of memory): the client stays in the backlog and
 * would wake us again at once.
 *
 * syscalls: epoll_ctl
 */
static void listen_pause(int err)
{
	unsigned int i;

	ls.accept_resume = util_backoff(&ls.backoff_ms);
	log_warn_errno_limited(&ls.lim_fds, err, "cannot accept clients; pausing for %d ms",
			       ls.backoff_ms);
	for (i = 0; i < ls.nlst; i++)
		if (ls.lst[i].watched && epoll_ctl(ls.epfd, EPOLL_CTL_DEL, ls.lst[i].fd, NULL))
			log_die_errno(errno, "cannot pause the listeners");
}

/*
 * A listening socket back from a peer, who may have made it blocking
 * (the open file is shared): non-blocking again, or our accept4() could
 * sleep.
 *
 * syscalls: fcntl
 */
static void listen_nonblock_again(unsigned int i)
{
	if (fcntl(ls.lst[i].fd, F_SETFL, O_NONBLOCK))
		log_warn_errno(errno, "cannot make listening socket %u non-blocking again", i);
}

/* SIGALRM: only to interrupt a blocked accept4() (listen_accept4()). */
static void listen_on_alarm(int sig)
{
	(void)sig;
}

/*
 * accept4() on listener @l.  One that was lent is shared with its peer,
 * who may have kept a copy and made it blocking, now or at any time
 * later: our accept4() would then sleep, with our signals waiting on a
 * signalfd nobody reads.  A one-second alarm (SIGALRM, no SA_RESTART)
 * interrupts it; the socket is made non-blocking again and the batch
 * ends.  Never-lent sockets, the usual case, pay nothing.
 *
 * syscalls: accept4 setitimer
 */
static int listen_accept4(struct listener *l, struct sockaddr *peer, socklen_t *plen, int flags)
{
	/* Every second, not once: one that fired before accept4() began still interrupts it. */
	static const struct itimerval arm = { .it_interval = { .tv_sec = 1 }, .it_value = { .tv_sec = 1 } },
				      off = { 0 };
	int fd, err;

	if (!l->lent)
		return accept4(l->fd, peer, plen, flags);
	if (setitimer(ITIMER_REAL, &arm, NULL))
		log_debug("cannot arm the accept alarm");
	fd = accept4(l->fd, peer, plen, flags);
	err = errno;
	if (setitimer(ITIMER_REAL, &off, NULL))
		log_debug("cannot disarm the accept alarm");
	if (fd < 0 && err == EINTR) {
		log_warn_limited(&ls.lim_accept, "listening socket %u blocked accept4() (the ntb-connect that had it made it blocking); non-blocking again",
				 (unsigned int)(l - ls.lst));
		listen_nonblock_again((unsigned int)(l - ls.lst));
		err = EAGAIN;	/* as if empty: the next event tries again */
	}
	errno = err;
	return fd;
}

/*
 * Out of fds (EMFILE, ENFILE).  accept4() takes the fd before it looks at
 * the backlog, so this says nothing about a client waiting: find out with
 * the spare fd.  A client that is there is taken and reset (left in the
 * backlog it would wake us again at once); none there ends the batch.
 * With no spare to give up, pause (listen_pause()).  Either way the
 * spare is made again when it can.
 *
 * Return: 1 if the accept loop should stop, 0 if more clients may wait.
 *
 * syscalls: dup close
 */
static int listen_shed(struct listener *l, int err)
{
	int fd;

	if (ls.spare >= 0) {
		close(ls.spare);
		ls.spare = -1;
		fd = listen_accept4(l, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0) {
			ls.accepted++;
			ls.refused_fds++;
			util_reset_close(fd);
			log_warn_errno_limited(&ls.lim_fds, err, "cannot accept a client; reset it");
		}
		ls.spare = dup(STDIN_FILENO);
		if (ls.spare >= 0)
			return fd < 0;
	}
	listen_pause(err);
	return 1;
}

/*
 * Accept on listener @i (@on), or leave it to ntb-connect's workers.
 * While accepting is paused the listeners are out of the epoll set
 * anyway, and listen_resume() puts back those we still want.
 *
 * syscalls: epoll_ctl
 */
static void listen_watch_one(unsigned int i, int on)
{
	struct listener *l = &ls.lst[i];

	if (on == l->watched)
		return;
	l->watched = on;
	if (ls.accept_resume)
		return;
	if (on)
		util_epoll_add(ls.epfd, l->fd, EPOLLIN, ev_tag(EV_LISTEN, i, 0, 0));
	else if (epoll_ctl(ls.epfd, EPOLL_CTL_DEL, l->fd, NULL))
		log_die_errno(errno, "cannot unwatch the listening sockets");
}

/* syscalls: epoll_ctl */
static void listen_set_watch(int on)
{
	unsigned int i;

	for (i = 0; i < ls.nlst; i++)
		listen_watch_one(i, on);
}

/* syscalls: dup */
static void listen_resume(void)
{
	unsigned int i;

	ls.accept_resume = 0;
	if (ls.spare < 0)
		ls.spare = dup(STDIN_FILENO);
	for (i = 0; i < ls.nlst; i++)
		if (ls.lst[i].watched)
			util_epoll_add(ls.epfd, ls.lst[i].fd, EPOLLIN, ev_tag(EV_LISTEN, i, 0, 0));
}

/*
 * Listener hand-off: every listening socket goes to ntb-connect once, as
 * a LISTENER record, and its workers accept on it from then on.  Ours
 * stays open, unwatched, for when this peer goes (listen_peer_lost()).
 *
 * Return: 0, or -1 if the rendezvous is gone.
 *
 * syscalls: sendmsg
 */
static int listen_lend(void)
{
	uint8_t buf[MSG_BUF_MAX];
	unsigned int i;

	listen_set_watch(0);
	for (i = 0; i < ls.nlst; i++) {
		size_t len = msg_encode_listener(buf, sizeof(buf), i);

		ls.lst[i].lent = 1;	/* from here on: its copy may outlive the peer */
		if (fdpass_send(ls.rdv_fd, buf, len, ls.lst[i].fd) != (ssize_t)len) {
			ls.stalled = errno == EAGAIN;
			return -1;
		}
		ls.lent++;
	}
	log_info("handed %u listening sockets over to ntb-connect: it accepts their clients", ls.nlst);
	return 0;
}

/*
 * The rendezvous is gone.  On fd:N nothing can bring it back.  On @name
 * or /path, keep the listening sockets, reset clients, and look for
 * ntb-connect again (listen_reconnect()).  A peer that had our listening
 * sockets may have made them blocking before it went: non-blocking again,
 * as after a LISTENER_BACK, or our accept4() could sleep.
 *
 * syscalls: epoll_ctl close
 */
static void listen_peer_lost(const char *why)
{
	unsigned int i;

	if (ls.rdv.kind == RDV_FD || ls.once)
		log_die("cannot hand off clients: ntb-connect %s", why);
	if (!ls.nspares)
		log_die("cannot hand off clients: ntb-connect %s, and no spare socket is left to reach it again (%d are made before joining the namespace, where the fd limit allows); restart ntb-listen",
			why, RDV_SPARES);
	if (epoll_ctl(ls.epfd, EPOLL_CTL_DEL, ls.rdv_fd, NULL))
		log_debug("cannot unwatch the rendezvous");
	close(ls.rdv_fd);
	ls.rdv_fd = -1;
	if (!listen_peerless())
		log_warn("lost ntb-connect on %s (%s); resetting clients until it is back",
			 ls.cli.rdv_text, why);
	if (ls.peer == LISTEN_PEER_LENDING)
		for (i = 0; i < ls.nlst; i++)
			if (!ls.lst[i].watched)
				listen_nonblock_again(i);
	listen_peer_set(LISTEN_PEER_LOST);
	listen_set_watch(1);
	ls.attempts = 0;
	ls.retry_ms = 0;
	ls.retry_at = util_backoff(&ls.retry_ms);
}

/* The next attempt, a little later each time (util_backoff()). */
static void listen_retry_later(void)
{
	ls.retry_at = util_backoff(&ls.retry_ms);
}

/*
 * One attempt to reach ntb-connect again.  A socket's network namespace is
 * the one it was made in, and an @name is looked up there: so the socket
 * comes from the spares made before joining (and the sandbox has no
 * socket()).  A failed connect leaves the spare usable; a connected one
 * is used up, whatever follows.
 *
 * syscalls: connect fcntl close epoll_ctl
 */
static void listen_reconnect(void)
{
	struct sockaddr_un sun;
	socklen_t len = rdv_sockaddr(&ls.rdv, &sun);
	char reason[128];
	int fd;

	if (!ls.nspares)
		log_die("cannot reach ntb-connect on %s again: no spare rendezvous socket left; restart ntb-listen",
			ls.cli.rdv_text);
	ls.attempts++;
	fd = ls.spares[ls.nspares - 1];
	if (connect(fd, (struct sockaddr *)&sun, len)) {
		if (errno != ENOENT && errno != ECONNREFUSED && errno != EAGAIN && errno != EINTR)
			log_warn_errno_limited(&ls.lim_nopeer, errno, "cannot reach ntb-connect on %s",
					       ls.cli.rdv_text);
		listen_retry_later();
		return;
	}
	ls.nspares--;
	if (rdv_check_peer(fd, &ls.acl, reason, sizeof(reason))) {
		/*
		 * A stranger holds the name.  Each attempt uses a spare up
		 * (a connected socket cannot connect again): at the usual
		 * pace they would all be gone in a minute, and ntb-listen
		 * with them.  The name stays the stranger's until it goes,
		 * so look again only every 30 s.
		 */
		log_warn_limited(&ls.lim_nopeer, "cannot use rendezvous %s: its owner %s; next try in %d s",
				 ls.cli.rdv_text, reason, RDV_STRANGER_MS / 1000);
		close(fd);
		ls.retry_at = util_now_ms() + RDV_STRANGER_MS;
		return;
	}
	/* Blocking, as the first rendezvous: see listen_open_rendezvous(). */
	if (fcntl(fd, F_SETFL, 0) ||
	    rdv_hello_send(fd, MSG_ROLE_LISTEN, ls.nlst, 0)) {
		close(fd);
		listen_retry_later();
		return;
	}
	ls.rdv_fd = fd;
	listen_peer_set(LISTEN_PEER_GREETING);
	ls.greet_deadline = util_now_ms() + REHELLO_MS;
	util_epoll_add(ls.epfd, ls.rdv_fd, EPOLLIN | EPOLLRDHUP, ev_tag(EV_RDV, 0, 0, 0));
}

/* The reconnected peer did not greet as it should: drop it, try again later. */
/* syscalls: epoll_ctl close */
static void listen_greet_failed(const char *why)
{
	log_warn_limited(&ls.lim_nopeer, "cannot greet ntb-connect on %s: %s", ls.cli.rdv_text, why);
	if (epoll_ctl(ls.epfd, EPOLL_CTL_DEL, ls.rdv_fd, NULL))
		log_debug("cannot unwatch the rendezvous");
	close(ls.rdv_fd);
	ls.rdv_fd = -1;
	listen_peer_set(LISTEN_PEER_LOST);
	listen_retry_later();
}

/* One line of counters: SIGUSR1, --stats. */
static void listen_stats(void)
{
	log_notice("stats: listening sockets handed over %llu, given back %llu, clients accepted here %llu, handed off %llu, refused %llu (no peer %llu, fds %llu, hand-off failed %llu, PROXY header %llu), peer %s",
		 ls.lent, ls.returned, ls.accepted, ls.handed,
		 ls.refused_nopeer + ls.refused_fds + ls.refused_handoff + ls.refused_proxy,
		 ls.refused_nopeer, ls.refused_fds, ls.refused_handoff, ls.refused_proxy,
		 listen_peerless() ? "lost" : "connected");
}

/*
 * --accept-proxy: clients wait here, out of the way of the others, until
 * their PROXY header is in (edge-triggered: a header that comes in pieces
 * wakes us once per piece, never in a loop).
 *
 * syscalls: epoll_ctl close
 */
static void listen_pending_end(struct pending *p, int reset)
{
	if (epoll_ctl(ls.epfd, EPOLL_CTL_DEL, p->fd, NULL))
		log_debug("cannot unwatch a client");
	if (reset)
		util_reset_close(p->fd);
	p->fd = -1;
	p->gen = (p->gen + 1) & EV_GEN_MASK;
	ls.npending--;
}

/* A client that cannot be served as it is: reset, counted, one line. */
static void listen_pending_refuse(struct pending *p, const char *why)
{
	char name[ADDR_STRLEN];

	addr_format((struct sockaddr *)&p->peer, sizeof(p->peer), name, sizeof(name));
	log_warn_limited(&ls.lim_proxy, "client %s: reset, %s", name, why);
	ls.refused_proxy++;
	listen_pending_end(p, 1);
}

/*
 * Read the header without taking more: peek, parse, and take exactly the
 * header's bytes, so the client's own data stays for the server.  @events:
 * the epoll event's, or 0: a client that said FIN (EPOLLRDHUP) with half
 * a header can never finish it, and gives its slot up at once.
 *
 * syscalls: recvmsg
 */
static void listen_pending_read(struct pending *p, uint32_t events)
{
	uint8_t buf[PROXY_V2_MAX];
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct proxy_info pi;
	const char *why;
	ssize_t n;
	int rc, fd;

	n = recvmsg(p->fd, &mh, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		listen_pending_refuse(p, n ? "its connection failed before its PROXY header" :
					     "it closed before its PROXY header");
		return;
	}
	rc = proxy_parse(buf, (size_t)n, &pi, &why);
	if (rc < 0) {
		listen_pending_refuse(p, why);
		return;
	}
	if (rc == 0) {
		if (events & (EPOLLRDHUP | EPOLLHUP))
			listen_pending_refuse(p, "it closed before its PROXY header was whole");
		return;		/* more to come; the deadline stands */
	}
	iov.iov_len = pi.len;
	if (recvmsg(p->fd, &mh, MSG_DONTWAIT) != (ssize_t)pi.len) {
		listen_pending_refuse(p, "cannot take its PROXY header off the socket");
		return;
	}
	if (listen_peerless()) {
		listen_pending_refuse(p, "no ntb-connect");
		return;
	}
	fd = p->fd;
	listen_pending_end(p, 0);
	if (listen_handoff(fd, pi.local ? &p->peer : &pi.src, pi.local ? NULL : &pi.dst,
			   &ls.lst[p->lst]))
		listen_peer_lost(listen_send_failed());
	else if (ls.once)
		exit(0);
}

/*
 * Where a client comes from, for the per-source cap: its IPv4 address, or
 * its IPv6 /64 (one host commonly holds a whole /64).
 */
static void listen_source_of(const struct sockaddr_storage *peer, struct source *src)
{
	struct sockaddr_storage un = *peer;
	unsigned int n;
	const uint8_t *b;

	addr_unmap(&un);
	memset(src, 0, sizeof(*src));
	b = addr_bytes((const struct sockaddr *)&un, &n, NULL);
	if (!b)
		return;
	src->family = un.ss_family;
	memcpy(src->prefix, b, n < sizeof(src->prefix) ? n : sizeof(src->prefix));
}

/* --accept-proxy-from: may this client send a header?  Without it, all may. */
static int listen_proxy_trusted(const struct sockaddr_storage *peer)
{
	struct sockaddr_storage un = *peer;
	const char *why;

	if (!ls.proxy_from.n)
		return 1;
	addr_unmap(&un);
	return rules_check(&ls.proxy_from, (const struct sockaddr *)&un, &why);
}

/*
 * A client in for its header: a free slot, if the total and its source's
 * share allow, so that one source cannot hold every slot.
 *
 * syscalls: epoll_ctl
 */
static void listen_pending_add(int fd, const struct sockaddr_storage *peer, const struct listener *l)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | EPOLLET };
	struct pending *p = NULL;
	struct source src;
	unsigned int i, same = 0;
	char name[ADDR_STRLEN];

	if (!listen_proxy_trusted(peer)) {
		addr_format((const struct sockaddr *)peer, sizeof(*peer), name, sizeof(name));
		log_warn_limited(&ls.lim_proxy, "client %s: reset, not a front proxy that --accept-proxy-from allows to send PROXY headers",
				 name);
		ls.refused_proxy++;
		util_reset_close(fd);
		return;
	}
	listen_source_of(peer, &src);
	for (i = 0; i < PENDING_MAX; i++) {
		if (ls.pending[i].fd < 0) {
			if (!p)
				p = &ls.pending[i];
		} else if (ls.pending[i].src.family == src.family &&
			   !memcmp(ls.pending[i].src.prefix, src.prefix, sizeof(src.prefix))) {
			same++;
		}
	}
	if (!p || same >= PENDING_PER_SOURCE) {
		addr_format((const struct sockaddr *)peer, sizeof(*peer), name, sizeof(name));
		if (!p)
			log_warn_limited(&ls.lim_proxy, "client %s: reset, %d clients already wait for their PROXY header",
					 name, PENDING_MAX);
		else
			log_warn_limited(&ls.lim_proxy, "client %s: reset, %d clients from its source (address, or IPv6 /64) already wait for their PROXY header",
					 name, PENDING_PER_SOURCE);
		ls.refused_proxy++;
		util_reset_close(fd);
		return;
	}
	p->src = src;
	p->fd = fd;
	p->lst = (unsigned int)(l - ls.lst);
	p->peer = *peer;
	p->deadline = util_now_ms() + PROXY_WAIT_MS;
	ev.data.u64 = ev_tag(EV_PENDING, (uint32_t)(p - ls.pending), p->gen, 0);
	if (epoll_ctl(ls.epfd, EPOLL_CTL_ADD, fd, &ev)) {
		log_warn_errno_limited(&ls.lim_proxy, errno, "cannot watch a client");
		p->fd = -1;
		ls.refused_proxy++;
		util_reset_close(fd);
		return;
	}
	ls.npending++;
	listen_pending_read(p, 0);
}

/* Clients whose header is late: reset.  Return: the earliest deadline left, or 0. */
static long long listen_pending_expire(void)
{
	long long now = util_now_ms(), next = 0;
	unsigned int i;

	for (i = 0; i < PENDING_MAX && ls.npending; i++) {
		struct pending *p = &ls.pending[i];

		if (p->fd < 0)
			continue;
		if (p->deadline <= now)
			listen_pending_refuse(p, "no complete PROXY header within 3 s");
		else if (!next || p->deadline < next)
			next = p->deadline;
	}
	return next;
}

/* syscalls: accept4 */
static void listen_accept(struct listener *l)
{
	int i;

	for (i = 0; i < ACCEPT_BATCH; i++) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		int fd = listen_accept4(l, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (fd < 0) {
			enum util_accept_fail why = util_accept_error(errno);

			if (why == UTIL_ACCEPT_NEXT || (why == UTIL_ACCEPT_NO_FDS && !listen_shed(l, errno)))
				continue;
			if (why == UTIL_ACCEPT_NO_MEMORY)
				listen_pause(errno);
			else if (why == UTIL_ACCEPT_BROKEN)
				log_warn_errno_limited(&ls.lim_accept, errno, "cannot accept a client");
			return;	/* empty, or paused: epoll wakes us again */
		}
		ls.backoff_ms = 0;
		ls.accepted++;
		if (listen_peerless()) {
			/* Promptly: a client left in the backlog would only time out. */
			char name[ADDR_STRLEN];

			addr_format((struct sockaddr *)&peer, plen, name, sizeof(name));
			log_warn_limited(&ls.lim_nopeer, "client %s: reset, no ntb-connect", name);
			ls.refused_nopeer++;
			util_reset_close(fd);
			continue;
		}
		if (ls.accept_proxy) {
			listen_pending_add(fd, &peer, l);
			continue;
		}
		if (listen_handoff(fd, &peer, NULL, l)) {
			listen_peer_lost(listen_send_failed());
			continue;
		}
		if (ls.stall_wait)
			return;
		if (ls.once)
			exit(0);
	}
}

/*
 * LISTENER_BACK: ntb-connect no longer accepts on listener @index (it
 * refused it, it is stopping, or none of its workers could watch it).
 * Its clients would wait in a backlog nobody accepts from: accept them
 * here again and hand each over (a stopping ntb-connect resets them).
 * The peer may have cleared O_NONBLOCK on the shared file: set it again
 * (listen_nonblock_again()).
 */
static void listen_take_back(const struct msg *m)
{
	unsigned int i = m->u.back.index;

	if (i >= ls.nlst || ls.lst[i].watched || ls.peer != LISTEN_PEER_LENDING) {
		log_warn_limited(&ls.lim_accept, "ignored LISTENER_BACK from ntb-connect: listening socket %u is not with it",
				 i);
		return;
	}
	listen_nonblock_again(i);
	ls.returned++;
	log_notice("ntb-connect gave listening socket %u back (%s); accepting its clients here",
		   i, msg_back_reason_text(m->u.back.reason));
	listen_watch_one(i, 1);
}

static void listen_rdv_event(void)
{
	uint8_t buf[MSG_BUF_MAX];
	struct fdpass_in in;
	struct msg m;
	unsigned int theirs = 0, flags = 0;
	const char *why;
	ssize_t n;
	int rc;

	n = fdpass_recv(ls.rdv_fd, buf, sizeof(buf), &in);
	if (ls.peer == LISTEN_PEER_GREETING) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			fdpass_close_all(&in);
			return;
		}
		rc = rdv_hello_check(buf, n, &in, MSG_ROLE_CONNECT, &theirs, &flags, &why);
		fdpass_close_all(&in);
		if (!rc && theirs != ls.nlst)
			why = "its count of targets is not our count of listening sockets";
		if (rc || theirs != ls.nlst) {
			listen_greet_failed(why);
			return;
		}
		listen_peer_set(listen_may_lend(flags) ? LISTEN_PEER_LENDING : LISTEN_PEER_HANDING);
		log_notice("ntb-connect is back on %s (attempt %u); handing off clients again",
			 ls.cli.rdv_text, ls.attempts);
		if (ls.peer == LISTEN_PEER_LENDING && listen_lend())
			listen_peer_lost(listen_send_failed());
		return;
	}
	rc = n > 0 ? msg_decode(buf, (size_t)n, in.nfds, &m, &why) : -1;
	fdpass_close_all(&in);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		listen_peer_lost("closed the rendezvous");
	else if (n > 0 && (rc || m.type != MSG_LISTENER_BACK))
		log_warn_limited(&ls.lim_accept, "ignored an unexpected record from ntb-connect: %s",
				 rc ? why : "not LISTENER_BACK");
	else if (n > 0)
		listen_take_back(&m);
}

/*
 * SIGTERM, SIGINT, SIGHUP: the fast stop; SIGQUIT: the graceful one, which
 * for ntb-listen is the same: it holds no connection, and closing the
 * listening sockets refuses new clients (those queued in the backlog are
 * reset).  Open connections are ntb-connect's to finish.  A listening
 * socket we bound is shut down first: ntb-connect may hold a copy, and
 * our close alone would leave that one accepting.  An inherited one is
 * not: its owner (systemd, say) keeps it for our next start.
 *
 * syscalls: read shutdown
 */
static void listen_signal(void)
{
	struct signalfd_siginfo si;

	while (read(ls.sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGUSR1) {
			listen_stats();
			continue;
		}
		for (unsigned int i = 0; i < ls.nlst; i++)
			if (ls.lst[i].bound && shutdown(ls.lst[i].fd, SHUT_RD))
				log_debug("cannot shut a listening socket down");
		log_info("stopping on signal %u; listening sockets closed", si.ssi_signo);
		notify_send(ls.notify, "STOPPING=1");
		exit(0);
	}
}

/*
 * Spares for finding ntb-connect again (listen_reconnect()), made while we
 * are still in the namespace of the rendezvous.  Not where fds are scarce:
 * clients need them more than a reconnect does.
 */
static void listen_make_spares(void)
{
	struct rlimit rl;

	if (ls.rdv.kind == RDV_FD || ls.client_fd >= 0 || ls.once)
		return;
	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur < 256) {
		log_warn("fd limit below 256: no spare sockets, so a lost ntb-connect cannot be found again");
		return;
	}
	for (ls.nspares = 0; ls.nspares < RDV_SPARES; ls.nspares++) {
		ls.spares[ls.nspares] = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (ls.spares[ls.nspares] < 0)
			log_die_errno(errno, "cannot create spare rendezvous sockets");
		listen_send_timeout(ls.spares[ls.nspares]);
	}
}

/* syscalls: epoll_wait epoll_pwait dup */
int main(int argc, char **argv)
{
	/* rendezvous, signalfd, epoll, notify, syslog, spares, then the listeners or client */
	int keep[5 + RDV_SPARES + MSG_MAX_FORWARDS];
	unsigned int k;
	int netns = -1;
	sigset_t set;

	util_std_fds();
	util_raise_nofile();
	log_init("ntb-listen");
	listen_parse(argc, argv);
	for (k = 0; k < PENDING_MAX; k++)
		ls.pending[k].fd = -1;
	ls.policy.keep_fds = keep;
	ls.policy.keep_cap = sizeof(keep) / sizeof(keep[0]);

	/* 1. Files first, while they are reachable; the service manager's
	 *    socket too, before joining: an @name belongs to our namespace. */
	if (ls.cli.netns_text)
		netns = netns_open(ls.cli.netns_text);
	ls.notify = notify_open();

	/* 2. The rendezvous, from the namespace we were started in. */
	signal(SIGPIPE, SIG_IGN);
	listen_open_rendezvous();
	listen_make_spares();

	/* 3. The clients' namespace. */
	if (netns >= 0) {
		/* A peer met again later is checked from inside: uids as seen there. */
		if (netns_join(netns, ls.cli.netns_text) && ls.nspares)
			rdv_acl_joined_userns(&ls.acl, ls.cli.netns_text);
		close(netns);
	}

	/* 4. The listening socket. */
	listen_bind();

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGQUIT);
	sigaddset(&set, SIGUSR1);
	ls.sigfd = util_signalfd(&set);
	/* The accept alarm (listen_accept4()): a handler, no SA_RESTART, unblocked. */
	{
		struct sigaction sa = { .sa_handler = listen_on_alarm };
		sigset_t alrm;

		sigemptyset(&sa.sa_mask);
		sigemptyset(&alrm);
		sigaddset(&alrm, SIGALRM);
		if (sigaction(SIGALRM, &sa, NULL) || sigprocmask(SIG_UNBLOCK, &alrm, NULL))
			log_die_errno(errno, "cannot set up the accept alarm");
	}
	ls.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (ls.epfd < 0)
		log_die_errno(errno, "cannot create epoll set");
	policy_keep_fd(&ls.policy, ls.rdv_fd);
	policy_keep_fd(&ls.policy, ls.sigfd);
	policy_keep_fd(&ls.policy, ls.epfd);
	if (ls.notify >= 0)
		policy_keep_fd(&ls.policy, ls.notify);
	if (ls.client_fd >= 0)
		policy_keep_fd(&ls.policy, ls.client_fd);
	for (k = 0; k < ls.nlst; k++)
		policy_keep_fd(&ls.policy, ls.lst[k].fd);
	for (k = 0; k < ls.nspares; k++)
		policy_keep_fd(&ls.policy, ls.spares[k]);
	/*
	 * connect() only on the spares: their fd numbers are fixed from
	 * here on (kept by policy_apply(), never dup'ed or moved), and every
	 * other socket we hold is connected or listening already.  With no
	 * spares (fd:N, -S, --once), no connect() at all.
	 */
	ls.policy.connect_fds = ls.spares;
	ls.policy.n_connect_fds = ls.nspares;

	/* 5. Give up everything else. */
	policy_apply(&ls.policy);

	/* 6. Serve. */
	if (ls.client_fd >= 0) {
		if (listen_handoff(ls.client_fd, NULL, NULL, NULL))
			log_die("cannot hand off the client: ntb-connect %s", listen_send_failed());
		exit(0);
	}
	notify_send(ls.notify, "READY=1");
	/* A spare fd to give up when out of them (listen_shed()). */
	ls.spare = dup(STDIN_FILENO);
	util_epoll_add(ls.epfd, ls.sigfd, EPOLLIN, ev_tag(EV_SIGNAL, 0, 0, 0));
	util_epoll_add(ls.epfd, ls.rdv_fd, EPOLLIN | EPOLLRDHUP, ev_tag(EV_RDV, 0, 0, 0));
	if (ls.peer != LISTEN_PEER_LENDING)
		listen_set_watch(1);
	else if (listen_lend())
		listen_peer_lost(listen_send_failed());
	if (ls.stats_ms)
		ls.stats_next = util_now_ms() + ls.stats_ms;
	for (;;) {
		struct epoll_event ev[4];
		int n, i, timeout;

		timeout = util_sooner(-1, ls.accept_resume);
		if (ls.npending)
			timeout = util_sooner(timeout, listen_pending_expire());
		timeout = util_sooner(timeout, ls.stats_next);
		if (listen_peerless())
			timeout = util_sooner(timeout, ls.peer == LISTEN_PEER_GREETING ?
					      ls.greet_deadline : ls.retry_at);
		n = epoll_wait(ls.epfd, ev, 4, timeout);
		if (n < 0 && errno != EINTR)
			log_die_errno(errno, "epoll_wait failed");
		if (ls.accept_resume && !ls.stall_wait && util_now_ms() >= ls.accept_resume)
			listen_resume();
		if (ls.stats_next && util_now_ms() >= ls.stats_next) {
			listen_stats();
			ls.stats_next += ls.stats_ms;
		}
		if (ls.peer == LISTEN_PEER_GREETING && util_now_ms() >= ls.greet_deadline)
			listen_greet_failed("no HELLO in time");
		else if (ls.peer == LISTEN_PEER_LOST && util_now_ms() >= ls.retry_at)
			listen_reconnect();
		for (i = 0; i < n; i++) {
			switch (ev_kind_of(ev[i].data.u64)) {
			case EV_SIGNAL:
				listen_signal();
				break;
			case EV_LISTEN:
				if (!ls.accept_resume && ev_index(ev[i].data.u64) < ls.nlst &&
				    ls.lst[ev_index(ev[i].data.u64)].watched)
					listen_accept(&ls.lst[ev_index(ev[i].data.u64)]);
				break;
			case EV_RDV:
				if (ls.rdv_fd >= 0 && ls.stall_wait && (ev[i].events & EPOLLOUT))
					listen_stall(0);
				if (ls.rdv_fd >= 0 && (ev[i].events & ~(uint32_t)EPOLLOUT))
					listen_rdv_event();
				break;
			case EV_PENDING: {
				struct pending *p = &ls.pending[ev_index(ev[i].data.u64) % PENDING_MAX];

				/* Ended earlier in this batch: a stale event. */
				if (p->fd >= 0 && p->gen == ev_gen(ev[i].data.u64))
					listen_pending_read(p, ev[i].events);
				break;
			}
			default:
				break;
			}
		}
	}
}
