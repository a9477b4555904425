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
 *   6. serve: accept, hand off, close our copy.
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
#include "rendezvous.h"
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
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define ACCEPT_BATCH	1024
#define BACKOFF_MIN_MS	50	/* first pause of accepting after EMFILE */
#define BACKOFF_MAX_MS	2000

/* One listening socket; its index is the target's index in ntb-connect. */
struct listener {
	int fd;				/* -L, or bound by us; -1 before */
	struct addr addr;		/* -l */
	struct sockaddr_storage local;	/* getsockname(), if not a wildcard */
	int local_known;
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
	struct log_limit lim_fds, lim_accept;
} ls = { .client_fd = -1, .spare = -1, .notify = -1 };

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
"      --once                 hand off one client, then exit 0\n"
"      --rendezvous-timeout SEC  keep retrying to reach ntb-connect this long\n"
"                             (default 10)\n"
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

enum { OPT_ONCE = 256, OPT_RDV_TIMEOUT };

static const struct option long_opts[] = {
	{ "listen", required_argument, NULL, 'l' },
	{ "listen-fd", required_argument, NULL, 'L' },
	{ "preaccepted-fd", required_argument, NULL, 'S' },
	{ "once", no_argument, NULL, OPT_ONCE },
	{ "rendezvous-timeout", required_argument, NULL, OPT_RDV_TIMEOUT },
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
	while ((c = getopt_long(argc, argv, ":l:L:S:n:r:vh", long_opts, NULL)) != -1) {
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
			ls.lst[ls.nlst].fd = util_arg_fd("--listen-fd", optarg);
			if (util_check_stream_socket(ls.lst[ls.nlst].fd, 1, &why))
				log_usage_error("bad value '%s' for --listen-fd: %s", optarg, why);
			ls.nlst++;
			break;
		case 'S':
			if (ls.client_fd >= 0)
				log_usage_error("-S/--preaccepted-fd: give it once");
			modes++;
			ls.client_fd = util_arg_fd("--preaccepted-fd", optarg);
			if (util_check_stream_socket(ls.client_fd, 0, &why))
				log_usage_error("bad value '%s' for --preaccepted-fd: %s", optarg, why);
			break;
		case OPT_ONCE:
			ls.once = 1;
			break;
		case OPT_RDV_TIMEOUT:
			ls.rdv_timeout_ms =
				(int)util_arg_number("--rendezvous-timeout", optarg, 0, 3600) * 1000;
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
	if (modes != 1 && !ls.cli.print_policy)
		log_usage_error("give -l/--listen or -L/--listen-fd (any number), or one -S/--preaccepted-fd, or socket activation (see --help)");
	cli_finish(&ls.cli, argc, argv);
	policy_adopt(&ls.policy, &ls.cli);
}

static void listen_open_rendezvous(void)
{
	unsigned int ours = ls.client_fd >= 0 ? 1 : ls.nlst, theirs = 0;
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
	/* Never hand a client to a stranger who grabbed the name first. */
	if (rdv_check_peer(ls.rdv_fd, &ls.acl, reason, sizeof(reason)))
		log_die("cannot use rendezvous %s: its owner %s", ls.cli.rdv_text, reason);
	if (rdv_hello_send(ls.rdv_fd, MSG_ROLE_LISTEN, ours))
		log_die_errno(errno, "cannot greet ntb-connect on %s", ls.cli.rdv_text);
	if (rdv_hello_wait(ls.rdv_fd, MSG_ROLE_CONNECT, ls.rdv_timeout_ms ? ls.rdv_timeout_ms : 1000,
			   &theirs, &why))
		log_die("cannot greet ntb-connect on %s: %s", ls.cli.rdv_text, why);
	/* Forwards pair up by index: the counts must agree. */
	if (theirs != ours)
		log_die("cannot use rendezvous %s: ntb-connect has %u targets for our %u listening sockets",
			ls.cli.rdv_text, theirs, ours);
}

/*
 * A listener bound to one address gives every client that same local
 * address: learn it once instead of a getsockname() per client.
 */
static void listen_cache_local(struct listener *l)
{
	socklen_t len = sizeof(l->local);

	l->local_known = 0;
	if (getsockname(l->fd, (struct sockaddr *)&l->local, &len))
		return;
	if (l->local.ss_family == AF_INET)
		l->local_known = ((struct sockaddr_in *)&l->local)->sin_addr.s_addr != htonl(INADDR_ANY);
	else if (l->local.ss_family == AF_INET6)
		l->local_known = !IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&l->local)->sin6_addr);
}

/* An inherited socket (-L, -S): ours alone from now, non-blocking. */
static void listen_adopt(int fd)
{
	int one = 1;

	if (fcntl(fd, F_SETFD, FD_CLOEXEC) || util_set_nonblock(fd))
		log_die_errno(errno, "cannot use the inherited socket %d", fd);
	/* Accepted sockets inherit it: ntb-connect need not set it. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
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
		setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		setsockopt(l->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (bind(l->fd, (struct sockaddr *)&l->addr.ss, l->addr.len))
			log_die_errno(errno, "cannot bind %s", text);
		if (listen(l->fd, SOMAXCONN))
			log_die_errno(errno, "cannot listen on %s", text);
		listen_cache_local(l);
		log_info("listening on %s", text);
	}
}

/*
 * listen_handoff() - pass one client on; our copy is closed either way
 * @fd:		the client
 * @peer:	its address from accept4(), or NULL to ask the socket
 * @l:		the listener it came from, or NULL for -S
 *
 * Return: 0, or -1 if the rendezvous is gone (fatal for the caller).
 *
 * syscalls: getsockname getpeername close
 */
static int listen_handoff(int fd, const struct sockaddr_storage *peer, const struct listener *l)
{
	struct sockaddr_storage asked, local = { 0 };
	socklen_t plen = sizeof(asked), llen = sizeof(local);
	int known = l && l->local_known;
	const struct sockaddr_storage *lp = known ? &l->local : &local;
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
		close(fd);
		return 0;
	}
	if (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN) {
		util_reset_close(fd);
		return -1;
	}
	log_warn_errno_limited(&ls.lim_accept, errno, "cannot hand a client to ntb-connect; reset it");
	util_reset_close(fd);
	return 0;
}

/*
 * Out of fds (EMFILE, ENFILE): the client waits in the backlog and would
 * wake us again at once.  Take it with the spare fd and reset it; with no
 * spare to give up, stop watching the listener for a while, longer each
 * time, then try again.  Either way the spare is made again when it can.
 *
 * syscalls: accept4 dup close epoll_ctl
 */
static void listen_shed(struct listener *l, int err)
{
	unsigned int i;
	int fd;

	if (ls.spare >= 0) {
		close(ls.spare);
		ls.spare = -1;
		fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			util_reset_close(fd);
		ls.spare = dup(STDIN_FILENO);
		log_warn_errno_limited(&ls.lim_fds, err, "cannot accept a client; reset it");
		if (ls.spare >= 0)
			return;
	}
	ls.backoff_ms = ls.backoff_ms ? ls.backoff_ms * 2 : BACKOFF_MIN_MS;
	if (ls.backoff_ms > BACKOFF_MAX_MS)
		ls.backoff_ms = BACKOFF_MAX_MS;
	log_warn_errno_limited(&ls.lim_fds, err, "cannot accept clients; pausing for %d ms",
			       ls.backoff_ms);
	ls.accept_resume = util_now_ms() + ls.backoff_ms;
	for (i = 0; i < ls.nlst; i++)
		if (epoll_ctl(ls.epfd, EPOLL_CTL_DEL, ls.lst[i].fd, NULL))
			log_die_errno(errno, "cannot pause the listeners");
}

/* Every listener in the one epoll set, tagged with its index. */
static void listen_watch_all(void)
{
	unsigned int i;

	for (i = 0; i < ls.nlst; i++)
		util_epoll_add(ls.epfd, ls.lst[i].fd, EPOLLIN, ev_tag(EV_LISTEN, i, 0, 0));
}

/* syscalls: dup */
static void listen_resume(void)
{
	ls.accept_resume = 0;
	if (ls.spare < 0)
		ls.spare = dup(STDIN_FILENO);
	listen_watch_all();
}

/* syscalls: accept4 */
static void listen_accept(struct listener *l)
{
	int i;

	for (i = 0; i < ACCEPT_BATCH; i++) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		int fd = accept4(l->fd, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				listen_shed(l, errno);
				if (ls.accept_resume)
					return;
				continue;
			}
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warn_errno_limited(&ls.lim_accept, errno, "cannot accept a client");
			return;
		}
		ls.backoff_ms = 0;
		if (listen_handoff(fd, &peer, l))
			log_die("cannot hand off clients: ntb-connect closed the rendezvous");
		if (ls.once)
			exit(0);
	}
}

static void listen_rdv_event(void)
{
	uint8_t buf[MSG_BUF_MAX];
	struct fdpass_in in;
	ssize_t n;

	n = fdpass_recv(ls.rdv_fd, buf, sizeof(buf), &in);
	fdpass_close_all(&in);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		log_die("cannot hand off clients: ntb-connect closed the rendezvous");
	if (n > 0)
		log_warn_limited(&ls.lim_accept, "ignored an unexpected record from ntb-connect");
}

/* syscalls: epoll_wait epoll_pwait dup */
int main(int argc, char **argv)
{
	/* rendezvous, signalfd, epoll, notify, syslog, then the listeners or client */
	int keep[5 + MSG_MAX_FORWARDS];
	unsigned int k;
	int netns = -1;
	sigset_t set;

	util_std_fds();
	util_raise_nofile();
	log_init("ntb-listen");
	listen_parse(argc, argv);
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

	/* 3. The clients' namespace. */
	if (netns >= 0) {
		/* The peer was checked before joining: nothing to map. */
		(void)netns_join(netns, ls.cli.netns_text);
		close(netns);
	}

	/* 4. The listening socket. */
	listen_bind();

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	ls.sigfd = util_signalfd(&set);
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

	/* 5. Give up everything else. */
	policy_apply(&ls.policy);

	/* 6. Serve. */
	if (ls.client_fd >= 0) {
		if (listen_handoff(ls.client_fd, NULL, NULL))
			log_die("cannot hand off the client: ntb-connect closed the rendezvous");
		exit(0);
	}
	notify_send(ls.notify, "READY=1");
	/* A spare fd to give up when out of them (listen_shed()). */
	ls.spare = dup(STDIN_FILENO);
	util_epoll_add(ls.epfd, ls.sigfd, EPOLLIN, ev_tag(EV_SIGNAL, 0, 0, 0));
	listen_watch_all();
	util_epoll_add(ls.epfd, ls.rdv_fd, EPOLLIN | EPOLLRDHUP, ev_tag(EV_RDV, 0, 0, 0));
	for (;;) {
		struct epoll_event ev[4];
		int n, i, timeout = -1;

		if (ls.accept_resume) {
			long long left = ls.accept_resume - util_now_ms();

			timeout = left < 0 ? 0 : (int)left;
		}
		n = epoll_wait(ls.epfd, ev, 4, timeout);
		if (n < 0 && errno != EINTR)
			log_die_errno(errno, "epoll_wait failed");
		if (ls.accept_resume && util_now_ms() >= ls.accept_resume)
			listen_resume();
		for (i = 0; i < n; i++) {
			switch (ev_kind_of(ev[i].data.u64)) {
			case EV_SIGNAL:
				log_info("stopping on signal");
				notify_send(ls.notify, "STOPPING=1");
				exit(0);
			case EV_LISTEN:
				if (!ls.accept_resume && ev_index(ev[i].data.u64) < ls.nlst)
					listen_accept(&ls.lst[ev_index(ev[i].data.u64)]);
				break;
			case EV_RDV:
				listen_rdv_event();
				break;
			default:
				break;
			}
		}
	}
}
