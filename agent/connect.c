// SPDX-License-Identifier: MIT
/*
 * connect.c - ntb-connect: receive client sockets, connect to the target
 * from inside namespace B, relay.
 *
 * Reads top to bottom in the start-up order of design.md:
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
#include "fdpass.h"
#include "log.h"
#include "msg.h"
#include "netns.h"
#include "policy.h"
#include "relay.h"
#include "rendezvous.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
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
#define TAG_SIGNAL	1
#define TAG_NOTIFY	2
#define TAG_RDV		3
#define TAG_RELAY	4
#define TAG_PEER	16

struct peer {
	int fd;			/* -1: slot free */
	int hello_done;
};

static struct {
	const char *connect_text;
	struct rdv_spec rdv;
	struct rdv_acl acl;
	struct relay_opts relay;
	struct policy policy;
	struct cli cli;
	int drain_ms;
	int epfd, sigfd, notify, rdv_listener;
	struct peer peers[MAX_PEERS];
	unsigned int npeers;
	int once_taken;		/* -C: the one client has arrived */
	int draining;
	long long drain_deadline;
} cn = { .rdv_listener = -1 };

static const char usage[] =
"Usage: ntb-connect (-c ADDR | -C FD) -r RENDEZVOUS [OPTIONS]\n"
"Receive client sockets from ntb-listen and relay each to ADDR, connecting\n"
"from inside the network namespace NS.\n"
"\n"
"  -c, --connect ADDR         target address: IPv4:port or [IPv6]:port\n"
"  -C, --connect-fd FD        pre-connected target for exactly one client;\n"
"                             exit 0 when that connection is done\n"
"  -n, --netns NS             join this network namespace: a path, pid:N,\n"
"                             name:NAME or fd:N\n"
"  -r, --rendezvous R         fd:N (inherited socket), @name (abstract socket,\n"
"                             bound before joining NS) or /path (socket file)\n"
"      --allow-uid UID        also accept ntb-listen peers running as UID\n"
"                             (number or name; repeatable)\n"
"  -w, --workers N            relay workers, main thread included\n"
"                             (default: usable CPUs)\n"
"      --connect-timeout SEC  give up connecting to the target (default 10)\n"
"      --max-connections N    reset clients beyond N open connections\n"
"                             (default 4096, 0: no limit)\n"
"      --drain-timeout SEC    on SIGTERM, wait this long for open connections\n"
"                             (default 5)\n"
"      --user NAME            switch to this user after binding (as root)\n"
"      --seccomp MODE         kill (default) or log: log violations instead\n"
"                             of killing, for finding a missing syscall\n"
"      --print-policy         print capabilities and syscalls kept, then exit\n"
"  -v, --verbose              more log lines (twice: per connection)\n"
"  -h, --help                 this text\n"
"      --version              print the version\n";

enum { OPT_CONNECT_TIMEOUT = 256, OPT_MAX_CONN, OPT_DRAIN };

static const struct option long_opts[] = {
	{ "connect", required_argument, NULL, 'c' },
	{ "connect-fd", required_argument, NULL, 'C' },
	{ "workers", required_argument, NULL, 'w' },
	{ "connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT },
	{ "max-connections", required_argument, NULL, OPT_MAX_CONN },
	{ "drain-timeout", required_argument, NULL, OPT_DRAIN },
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
	cn.drain_ms = 5000;
	cn.policy.role = POLICY_CONNECT;
	rdv_acl_init(&cn.acl);
	cn.cli = (struct cli){ .prog = "ntb-connect", .usage = usage, .policy = &cn.policy,
			       .rdv = &cn.rdv, .acl = &cn.acl };

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:C:n:r:w:vh", long_opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (cn.connect_text || cn.relay.upstream_fd >= 0)
				log_usage_error("-c/--connect and -C/--connect-fd: give exactly one, once");
			cn.connect_text = optarg;
			if (addr_parse(optarg, &cn.relay.target))
				log_usage_error("bad address '%s' for --connect: expected IPv4:port or [IPv6]:port",
						optarg);
			break;
		case 'C':
			if (cn.connect_text || cn.relay.upstream_fd >= 0)
				log_usage_error("-c/--connect and -C/--connect-fd: give exactly one, once");
			cn.relay.upstream_fd = util_arg_fd("--connect-fd", optarg);
			if (util_check_stream_socket(cn.relay.upstream_fd, 0, &why))
				log_usage_error("bad value '%s' for --connect-fd: %s", optarg, why);
			break;
		case 'w':
			cn.relay.workers = (unsigned int)util_arg_number("--workers", optarg, 1, 64);
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
		default:
			cli_option(&cn.cli, c, argv);
		}
	}
	if (!cn.connect_text && cn.relay.upstream_fd < 0 && !cn.cli.print_policy)
		log_usage_error("missing -c/--connect ADDR or -C/--connect-fd FD (see --help)");
	if (!cn.relay.workers)
		cn.relay.workers = cn.relay.upstream_fd >= 0 ? 1 : (unsigned int)util_cpu_count();
	/* Worker 0 is the main thread: only more workers need threads. */
	cn.policy.threads = cn.relay.workers > 1;
	cli_finish(&cn.cli, argc, argv);
}

static void peer_add(int fd, const char *how)
{
	char why[128];
	unsigned int i;

	if (rdv_check_peer(fd, &cn.acl, why, sizeof(why))) {
		log_warn("refused rendezvous peer on %s: %s", how, why);
		close(fd);
		return;
	}
	for (i = 0; i < MAX_PEERS; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = TAG_PEER + i };

		if (cn.peers[i].fd >= 0)
			continue;
		if (epoll_ctl(cn.epfd, EPOLL_CTL_ADD, fd, &ev)) {
			log_warn_errno(errno, "refused rendezvous peer on %s", how);
			close(fd);
			return;
		}
		cn.peers[i].fd = fd;
		cn.peers[i].hello_done = 0;
		cn.npeers++;
		log_info("rendezvous peer %s connected", how);
		return;
	}
	log_warn("refused rendezvous peer on %s: %d peers already", how, MAX_PEERS);
	close(fd);
}

static void peer_drop(struct peer *p, const char *why)
{
	if (why)
		log_warn("dropped rendezvous peer: %s", why);
	else
		log_info("rendezvous peer left");
	close(p->fd);	/* also leaves the epoll set */
	p->fd = -1;
	cn.npeers--;
}

static void rdv_accept(void)
{
	for (;;) {
		int fd = accept4(cn.rdv_listener, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warn_errno(errno, "cannot accept a rendezvous peer");
			return;
		}
		peer_add(fd, cn.cli.rdv_text);
	}
}

static void peer_conn(int fd, const struct msg *m)
{
	char name[ADDR_STRLEN];

	addr_format((const struct sockaddr *)&m->u.conn.client, m->u.conn.len, name, sizeof(name));
	/*
	 * The peer could send any fd: only a TCP socket is a client.  One
	 * getsockopt on the hot path; a TCP socket that is not connected
	 * fails at its first splice and ends only its own connection.
	 */
	if (!util_is_tcp_socket(fd)) {
		log_warn("refused client %s from the rendezvous: its fd is not a TCP socket", name);
		close(fd);
		return;
	}
	if (cn.relay.upstream_fd >= 0 && cn.once_taken) {
		log_warn("client %s: refused, --connect-fd serves one client only", name);
		util_reset_close(fd);
		return;
	}
	if (cn.draining) {
		close(fd);
		return;
	}
	if (cn.relay.upstream_fd >= 0)
		cn.once_taken = 1;
	log_debug("client %s: received", name);
	relay_submit(fd, name);
}

/* Read up to a batch of records from one peer; level-triggered, so fair. */
static void peer_event(struct peer *p)
{
	int budget = 64;

	while (budget-- > 0 && p->fd >= 0) {
		uint8_t buf[MSG_BUF_MAX];
		struct fdpass_in in;
		const char *why;
		struct msg m;
		ssize_t n;

		n = fdpass_recv(p->fd, buf, sizeof(buf), &in);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			peer_drop(p, strerror(errno));
			return;
		}
		if (n == 0) {
			fdpass_close_all(&in);
			peer_drop(p, NULL);
			return;
		}
		if (in.truncated) {
			log_warn("refused a rendezvous record: it or its control data was truncated");
			fdpass_close_all(&in);
			continue;
		}
		if (msg_decode(buf, (size_t)n, in.nfds, &m, &why)) {
			log_warn("refused a rendezvous record: %s", why);
			fdpass_close_all(&in);
			if (!p->hello_done)
				peer_drop(p, "no valid HELLO");
			continue;
		}
		if (m.type == MSG_HELLO) {
			if (p->hello_done || m.u.hello.role != MSG_ROLE_LISTEN) {
				peer_drop(p, p->hello_done ? "second HELLO" : "peer is not ntb-listen");
				continue;
			}
			if (rdv_hello_send(p->fd, MSG_ROLE_CONNECT)) {
				peer_drop(p, "cannot answer HELLO");
				continue;
			}
			p->hello_done = 1;
			continue;
		}
		if (!p->hello_done) {
			fdpass_close_all(&in);
			peer_drop(p, "CONN before HELLO");
			continue;
		}
		peer_conn(in.fds[0], &m);
	}
}

static void connect_drain_begin(void)
{
	unsigned int i;

	if (cn.draining)
		return;
	cn.draining = 1;
	cn.drain_deadline = util_now_ms() + cn.drain_ms;
	if (cn.rdv_listener >= 0) {
		close(cn.rdv_listener);
		cn.rdv_listener = -1;
	}
	for (i = 0; i < MAX_PEERS; i++)
		if (cn.peers[i].fd >= 0)
			peer_drop(&cn.peers[i], NULL);
	log_info("stopping: %u connections to drain", relay_active());
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

static void connect_serve(void)
{
	for (;;) {
		struct epoll_event ev[16];
		int n, i, timeout = -1;

		if (connect_done())
			return;
		timeout = relay_main_timeout();
		if (cn.draining && (timeout < 0 || timeout > 100))
			timeout = 100;
		n = epoll_wait(cn.epfd, ev, 16, timeout);
		if (n < 0 && errno != EINTR)
			log_die_errno(errno, "epoll_wait failed");
		if (n == 0)
			relay_main_run();	/* a connect time-out is due */
		for (i = 0; i < n; i++) {
			uint64_t tag = ev[i].data.u64;

			if (tag == TAG_SIGNAL) {
				struct signalfd_siginfo si;

				while (read(cn.sigfd, &si, sizeof(si)) == sizeof(si))
					connect_drain_begin();
			} else if (tag == TAG_NOTIFY) {
				uint64_t v;

				if (read(cn.notify, &v, sizeof(v)) < 0)
					log_debug("notify read failed");
			} else if (tag == TAG_RELAY) {
				relay_main_run();
			} else if (tag == TAG_RDV) {
				if (cn.rdv_listener >= 0)
					rdv_accept();
			} else if (tag >= TAG_PEER && tag < TAG_PEER + MAX_PEERS) {
				struct peer *p = &cn.peers[tag - TAG_PEER];

				if (p->fd >= 0)
					peer_event(p);
			}
		}
	}
}

int main(int argc, char **argv)
{
	int keep[8 + 2 * 64];
	unsigned int nkeep = 0, i;
	int netns = -1;
	sigset_t set;

	log_init("ntb-connect");
	connect_parse(argc, argv);
	for (i = 0; i < MAX_PEERS; i++)
		cn.peers[i].fd = -1;

	/* 1. Files first, while they are reachable. */
	if (cn.cli.netns_text)
		netns = netns_open(cn.cli.netns_text);

	/* 2. The rendezvous, in the namespace we were started in. */
	cn.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (cn.epfd < 0)
		log_die_errno(errno, "cannot create epoll set");
	if (cn.rdv.kind == RDV_FD) {
		int fd = rdv_inherited(&cn.rdv, cn.cli.rdv_text);

		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		peer_add(fd, cn.cli.rdv_text);
		if (!cn.npeers)
			log_die("cannot use rendezvous %s: its peer is not allowed", cn.cli.rdv_text);
	} else {
		cn.rdv_listener = rdv_listen(&cn.rdv, cn.cli.rdv_text, &cn.acl);
		util_epoll_add(cn.epfd, cn.rdv_listener, EPOLLIN, TAG_RDV);
	}

	/* 3. The target's namespace. */
	if (netns >= 0) {
		netns_join(netns, cn.cli.netns_text);
		close(netns);
	}

	/* 4. Everything the serving process needs, created now. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	cn.sigfd = util_signalfd(&set);
	util_epoll_add(cn.epfd, cn.sigfd, EPOLLIN, TAG_SIGNAL);
	cn.notify = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (cn.notify < 0)
		log_die_errno(errno, "cannot create eventfd");
	util_epoll_add(cn.epfd, cn.notify, EPOLLIN, TAG_NOTIFY);
	cn.relay.notify_fd = cn.notify;
	keep[nkeep++] = cn.epfd;
	keep[nkeep++] = cn.sigfd;
	keep[nkeep++] = cn.notify;
	if (cn.rdv_listener >= 0)
		keep[nkeep++] = cn.rdv_listener;
	else
		keep[nkeep++] = cn.rdv.fd;
	if (relay_init(&cn.relay, keep, &nkeep))
		log_die_errno(errno, "cannot set up the relay");
	util_epoll_add(cn.epfd, relay_main_fd(), EPOLLIN, TAG_RELAY);

	/* 5. Give up everything else. */
	cn.policy.keep_fds = keep;
	cn.policy.n_keep = nkeep;
	policy_apply(&cn.policy);

	/* 6. Serve. */
	relay_start();
	if (cn.connect_text)
		log_info("relaying to %s with %u workers", cn.connect_text, relay_worker_count());
	connect_serve();
	exit(0);
}
