// SPDX-License-Identifier: MIT
/*
 * bridge.c - netns-tcp-bridge: the original tool's command line, as a
 * launcher and supervisor of ntb-listen and ntb-connect.
 *
 * Theory of operation: check every argument, open the namespace files,
 * make a SOCK_SEQPACKET socketpair, then fork+exec each agent from the
 * directory this binary lives in (never $PATH), passing the socketpair
 * end, namespace fds and the -L/-S/-C sockets by number.  Each child gets
 * only its own fds.  The launcher then drops every capability, enters its
 * own small sandbox and only waits: when one agent fails, the other is
 * stopped at once and the launcher exits 1 naming the agent and how it
 * ended; SIGTERM, SIGINT and SIGHUP stop both.
 */
#include "addr.h"
#include "cli.h"
#include "log.h"
#include "msg.h"
#include "netns.h"
#include "notify.h"
#include "policy.h"
#include "rules.h"
#include "util.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * How long stopped agents get before SIGKILL: after SIGTERM, well within
 * the one second a fast stop may take; after SIGQUIT, ntb-connect's
 * --drain-timeout plus this margin.
 */
#define KILL_GRACE_MS	800
/* After SIGKILL: look again within a second, SIGKILL again only after a minute. */
#define KILL_LOOK_MS	1000
#define KILL_AGAIN_MS	60000
#define DRAIN_DEFAULT_MS	30000

enum { AGENT_LISTEN, AGENT_CONNECT };

/*
 * The options the launcher passes on to an agent as given, each checked
 * here the way the agent checks it, so that a bad value fails before
 * anything starts.  The agents' option of the same name does the work.
 */
enum pass {
	PASS_WORKERS, PASS_CONNECT_TIMEOUT, PASS_MAX_CONN, PASS_IDLE, PASS_DRAIN, PASS_STATS,
	PASS_KEEPALIVE, PASS_PROXY, PASS_ACCEPT_PROXY, PASS_ACCEPT_PROXY_FROM, PASS_TRANSPARENT,
	PASS_ALLOW, PASS_DENY, PASS_ALLOW_BUILTIN, PASS_COUNT
};

#define TO_LISTEN	(1U << AGENT_LISTEN)
#define TO_CONNECT	(1U << AGENT_CONNECT)

static void check_keepalive(const char *opt, const char *value);
static void check_proxy(const char *opt, const char *value);
static void check_rule(const char *opt, const char *value);

static const struct pass_opt {
	const char *opt;	/* "--name", the same in the agent */
	int has_arg;
	unsigned int to;	/* TO_LISTEN, TO_CONNECT or both */
	long long min, max;	/* a number in this range, unless check */
	void (*check)(const char *opt, const char *value);
} pass_opts[PASS_COUNT] = {
	[PASS_WORKERS] = { "--workers", required_argument, TO_CONNECT, 1, 64 },	/* RELAY_MAX_WORKERS */
	[PASS_CONNECT_TIMEOUT] = { "--connect-timeout", required_argument, TO_CONNECT, 1, 3600 },
	[PASS_MAX_CONN] = { "--max-connections", required_argument, TO_CONNECT, 0, 10000000 },
	[PASS_IDLE] = { "--idle-timeout", required_argument, TO_CONNECT, 1, 86400 },
	[PASS_DRAIN] = { "--drain-timeout", required_argument, TO_CONNECT, 0, 3600 },
	[PASS_STATS] = { "--stats", required_argument, TO_LISTEN | TO_CONNECT, 1, 86400 },
	[PASS_KEEPALIVE] = { "--keepalive", required_argument, TO_CONNECT, 0, 0, check_keepalive },
	[PASS_PROXY] = { "--proxy-protocol", required_argument, TO_CONNECT, 0, 0, check_proxy },
	[PASS_ACCEPT_PROXY] = { "--accept-proxy", no_argument, TO_LISTEN },
	[PASS_ACCEPT_PROXY_FROM] = { "--accept-proxy-from", required_argument, TO_LISTEN, 0, 0, check_rule },
	[PASS_TRANSPARENT] = { "--transparent-source", no_argument, TO_CONNECT },
	/* One list, so that the order of --allow and --deny stays the user's. */
	[PASS_ALLOW] = { "--allow", required_argument, TO_CONNECT, 0, 0, check_rule },
	[PASS_DENY] = { "--deny", required_argument, TO_CONNECT, 0, 0, check_rule },
	[PASS_ALLOW_BUILTIN] = { "--allow-builtin-denied", no_argument, TO_CONNECT },
};

/* One pass-through option of the command line. */
struct passed {
	enum pass which;
	const char *value;	/* NULL for a flag */
};

struct agent {
	const char *name;
	pid_t pid;
	int alive;
	int told_to_stop;	/* we sent it SIGTERM: dying of it is no news */
	int may_exit;		/* its exit 0 is the normal end (-S, -C) */
	int blame;		/* agent_blame(), judged once when reaped */
	int judged;		/* blame is final */
	int status;		/* from waitpid, once it has ended */
	int exe;		/* O_RDONLY fd of the binary, for fexecve */
	char **argv;		/* room for argv_cap entries, NULL-terminated */
	int argc, argv_cap;
	int *fds;		/* fds this child must inherit; fds_cap at most */
	unsigned int nfds, fds_cap;
};

/* A -l or -L of the command line, in the order given. */
struct listen_arg {
	const char *addr;	/* -l, or NULL */
	int fd;			/* -L */
};

static struct {
	struct listen_arg *listens;	/* argc + MSG_MAX_FORWARDS entries of room */
	unsigned int nlistens, nlisten_socks;
	const char **connects;		/* -c, argc entries of room */
	unsigned int nconnects, ntargets;
	int preaccepted_fd, connect_fd;
	const char *listen_ns_file, *connect_ns_file;
	int listen_ns_fd, connect_ns_fd;
	struct policy policy;
	struct cli cli;
	struct passed *passed;		/* pass_opts[] as given, in order: argc entries of room */
	unsigned int npassed;
	unsigned int given[PASS_COUNT];	/* how often each was given */
	int route_mode;			/* --transparent with --connect-original */
	int drain_ms;			/* --drain-timeout, or its default */
	struct agent agents[2];
	int stopping, failed;
	long long kill_deadline;
	long long verdict_deadline;	/* ntb-connect's exit 0 waits for ntb-listen's */
	int manager;		/* service manager's readiness socket, or -1 */
	int ready_in[2];	/* [0] ours, [1] the agents' readiness channel */
	unsigned int readies;	/* READY=1 heard from agents */
	pid_t watch_pid;	/* --watch-pid */
	const char *hand_off;	/* --hand-off, for ntb-listen */
	int watch_fd;		/* its pidfd, or -1 */
} br = {
	.preaccepted_fd = -1, .connect_fd = -1, .manager = -1, .ready_in = { -1, -1 }, .watch_fd = -1,
	.listen_ns_fd = -1, .connect_ns_fd = -1,
};

static const char usage[] =
"Usage: netns-tcp-bridge [OPTIONS]\n"
"Carry TCP connections from one network namespace into another: clients\n"
"connect in the listening namespace, and each is joined to the target from\n"
"inside the connecting namespace.  Runs ntb-listen and ntb-connect and\n"
"watches over both.\n"
"\n"
"Where clients come from (-l/-L any number of times, or -S once):\n"
"  -l, --listen LISTEN        IPv4:PORT or [IPv6]:PORT to listen on; a range\n"
"                             ADDR:FIRST-LAST listens on each of its ports\n"
"  -L, --listen-fd LISTEN-FD  an inherited socket that already listens\n"
"  -S, --preaccepted-fd PREACCEPTED-FD\n"
"                             one inherited client connection: forward it,\n"
"                             then finish (no listening at all)\n"
"Where they go (-c any number of times, or -C once); the n-th listening\n"
"socket goes to the n-th target:\n"
"  -c, --connect CONNECT      IPv4:PORT or [IPv6]:PORT of the target, or a\n"
"                             range ADDR:FIRST-LAST of targets\n"
"  -C, --connect-fd CONNECT-FD\n"
"                             an inherited socket already connected to the\n"
"                             target; it serves the first client only\n"
"The namespaces (default: the one the launcher runs in):\n"
"  -f, --listen-netns-file LISTEN-NETNS-FILE\n"
"                             namespace file of the listening side, such as\n"
"                             /proc/PID/ns/net or /run/netns/NAME\n"
"  -F, --listen-netns-fd LISTEN-NETNS-FD\n"
"                             the same, as an inherited open fd\n"
"  -t, --connect-netns-file CONNECT-NETNS-FILE\n"
"                             namespace file of the connecting side\n"
"  -T, --connect-netns-fd CONNECT-NETNS-FD\n"
"                             the same, as an inherited open fd\n"
"\n"
"Tuning, limits and stopping:\n"
"  -w, --workers N            relay threads in ntb-connect, 1 to 64 (default:\n"
"                             one per two usable CPUs, at least 1)\n"
"      --connect-timeout SEC  how long a connect to the target may take\n"
"                             (default 10)\n"
"      --max-connections N    more open connections than N are reset at once\n"
"                             (default 4096; 0 means no limit)\n"
"      --idle-timeout SEC     reset a connection silent both ways this long\n"
"                             (default: never)\n"
"      --keepalive IDLE,INTERVAL,COUNT\n"
"                             TCP keepalive probes on both sockets (default: off)\n"
"      --drain-timeout SEC    after SIGQUIT, how long open connections may go\n"
"                             on before they are reset (default 30)\n"
"      --stats SEC            each agent logs its counters this often (and on\n"
"                             SIGUSR1)\n"
"      --watch-pid PID        stop when process PID ends (say, a container's\n"
"                             first process)\n"
"      --hand-off MODE        listener (default): ntb-connect accepts on the\n"
"                             listening sockets itself; client: ntb-listen\n"
"                             accepts and hands over each client (always so\n"
"                             with -S, -C, --accept-proxy, --route)\n"
"The client's address at the server:\n"
"      --proxy-protocol v1|v2 send it to the target in a PROXY protocol header\n"
"                             before the client's first byte\n"
"      --accept-proxy         clients come through a front proxy that sends a\n"
"                             PROXY header (v1 or v2): take their addresses\n"
"                             from it; without a valid one, reset\n"
"      --accept-proxy-from RULE  only clients from RULE's addresses (the front\n"
"                             proxies; tcp://ADDR[/LEN][:PORT[-PORT]];\n"
"                             repeatable) may send PROXY headers; required\n"
"                             with --transparent-source or --route\n"
"      --route                route mode: -l sockets are transparent (nftables\n"
"                             TPROXY steers connections to any address to\n"
"                             them) and each client is connected to where it\n"
"                             was going, if --allow lets it; no -c\n"
"      --allow RULE, --deny RULE\n"
"                             with --route: tcp://ADDR[/LEN][:PORT[-PORT]],\n"
"                             IPv6 in [brackets]; deny wins, default deny\n"
"      --allow-builtin-denied let --allow cover the built-in deny list\n"
"                             (loopback, link-local, multicast, the connecting\n"
"                             namespace's own addresses, ...)\n"
"      --transparent-source   ntb-connect connects from each client's own\n"
"                             address (IP_TRANSPARENT; it alone keeps\n"
"                             CAP_NET_ADMIN); see the man page for the routes\n"
"Safety and logging:\n"
"      --user NAME            run as this user once the sockets are bound\n"
"                             (when started as root)\n"
"      --seccomp MODE         kill (default) or log a call outside the policy\n"
"      --log DEST             stderr (default; journald priorities when that\n"
"                             is the journal) or syslog (/dev/log, daemon)\n"
"      --print-policy         show what the launcher keeps while it supervises\n"
"  -v, --verbose              more lines; twice for a line per connection\n"
"  -h, --help                 this text\n"
"      --version              the version\n"
"\n"
"Signals: SIGTERM, SIGINT and SIGHUP stop at once, resetting open\n"
"connections; SIGQUIT stops listening and lets open connections finish\n"
"within --drain-timeout; SIGUSR1 logs counters.  Each is passed to both\n"
"agents.  With none of -l, -L, -S the listening sockets come from systemd\n"
"socket activation (LISTEN_FDS); READY=1 goes to NOTIFY_SOCKET once both\n"
"agents serve.\n";

/* OPT_PASS + i is pass_opts[i]. */
enum { OPT_WATCH_PID = 256, OPT_ROUTE, OPT_HAND_OFF, OPT_PASS };
static_assert(OPT_PASS + PASS_COUNT <= CLI_USER, "option codes overlap the common ones");

/* The launcher's own options; bridge_parse() adds pass_opts[]. */
static const struct option own_opts[] = {
	{ "listen", required_argument, NULL, 'l' },
	{ "listen-fd", required_argument, NULL, 'L' },
	{ "preaccepted-fd", required_argument, NULL, 'S' },
	{ "connect", required_argument, NULL, 'c' },
	{ "connect-fd", required_argument, NULL, 'C' },
	{ "listen-netns-file", required_argument, NULL, 'f' },
	{ "listen-netns-fd", required_argument, NULL, 'F' },
	{ "connect-netns-file", required_argument, NULL, 't' },
	{ "connect-netns-fd", required_argument, NULL, 'T' },
	{ "watch-pid", required_argument, NULL, OPT_WATCH_PID },
	{ "hand-off", required_argument, NULL, OPT_HAND_OFF },
	{ "route", no_argument, NULL, OPT_ROUTE },
	CLI_COMMON_OPTS,
};

#define N_OWN_OPTS	(sizeof(own_opts) / sizeof(own_opts[0]))

static void once_only(int already, const char *opts)
{
	if (already)
		log_usage_error("%s: give exactly one, once (see --help)", opts);
}

/* -S and -C: one socket (by fd, or a dup of it) would be relayed to itself. */
static void check_not_same_socket(void)
{
	struct stat a, b;

	if (br.preaccepted_fd < 0 || br.connect_fd < 0 ||
	    fstat(br.preaccepted_fd, &a) || fstat(br.connect_fd, &b) ||
	    a.st_dev != b.st_dev || a.st_ino != b.st_ino)
		return;
	log_usage_error("-S and -C name the same socket (fd %d and %d): the client would be relayed to itself",
			br.preaccepted_fd, br.connect_fd);
}

static void check_keepalive(const char *opt, const char *value)
{
	int ka[3];

	if (addr_parse_keepalive(value, ka))
		log_usage_error("bad value '%s' for %s: expected IDLE,INTERVAL,COUNT (seconds, seconds, probes; 1 to 32767, 1 to 32767, 1 to 127)",
				value, opt);
}

static void check_proxy(const char *opt, const char *value)
{
	(void)opt;
	cli_proxy_version(value);
}

static void check_rule(const char *opt, const char *value)
{
	const char *why;
	struct rule r;

	if (rule_parse(value, &r, &why))
		log_usage_error("bad rule '%s' for %s: %s (tcp://ADDR[/LEN][:PORT[-PORT]], IPv6 in [brackets])",
				value, opt, why);
}

/* A pass-through option: check it and keep it, in order, for its agents. */
static void bridge_pass(enum pass which, const char *value)
{
	const struct pass_opt *p = &pass_opts[which];

	if (p->check)
		p->check(p->opt, value);
	else if (value)
		util_arg_number(p->opt, value, p->min, p->max);
	br.passed[br.npassed++] = (struct passed){ .which = which, .value = value };
	br.given[which]++;
}

/* The value of pass-through option @which as given last, or NULL. */
static const char *bridge_passed(enum pass which)
{
	const char *value = NULL;
	unsigned int i;

	for (i = 0; i < br.npassed; i++)
		if (br.passed[i].which == which)
			value = br.passed[i].value;
	return value;
}

static void bridge_parse(int argc, char **argv)
{
	struct option long_opts[N_OWN_OPTS + PASS_COUNT + 1] = { { 0 } };
	unsigned int count, i;
	struct addr addr;
	const char *why;
	int c, fd;

	/* The command line's, and up to MSG_MAX_FORWARDS socket-activated ones. */
	br.listens = calloc((size_t)argc + MSG_MAX_FORWARDS, sizeof(*br.listens));
	br.connects = calloc((size_t)argc, sizeof(*br.connects));
	br.passed = calloc((size_t)argc, sizeof(*br.passed));
	if (!br.listens || !br.connects || !br.passed)
		log_die("cannot parse the command line: out of memory");
	memcpy(long_opts, own_opts, sizeof(own_opts));
	for (i = 0; i < PASS_COUNT; i++)
		long_opts[N_OWN_OPTS + i] = (struct option){ pass_opts[i].opt + 2, pass_opts[i].has_arg,
							     NULL, OPT_PASS + (int)i };
	br.policy.role = POLICY_LAUNCHER;
	br.cli = (struct cli){ .prog = "netns-tcp-bridge", .usage = usage };
	opterr = 0;
	while ((c = cli_getopt(argc, argv, ":hl:L:S:c:C:f:F:t:T:w:v", long_opts)) != -1) {
		switch (c) {
		case 'l':
			once_only(br.preaccepted_fd >= 0, "-l or -L (any number), and -S");
			if (addr_parse_range(optarg, &addr, &count))
				log_usage_error("bad address '%s' for --listen: expected IPv4:port, [IPv6]:port or ADDR:FIRST-LAST",
						optarg);
			br.listens[br.nlistens++] = (struct listen_arg){ .addr = optarg, .fd = -1 };
			br.nlisten_socks += count;
			break;
		case 'L':
			once_only(br.preaccepted_fd >= 0, "-l or -L (any number), and -S");
			fd = util_arg_socket("--listen-fd", optarg, 1);
			br.listens[br.nlistens++] = (struct listen_arg){ .addr = NULL, .fd = fd };
			br.nlisten_socks++;
			break;
		case 'S':
			once_only(br.nlistens || br.preaccepted_fd >= 0, "-l or -L (any number), and -S");
			br.preaccepted_fd = util_arg_socket("--preaccepted-fd", optarg, 0);
			check_not_same_socket();
			break;
		case 'c':
			once_only(br.connect_fd >= 0, "-c (any number) and -C");
			if (addr_parse_range(optarg, &addr, &count))
				log_usage_error("bad address '%s' for --connect: expected IPv4:port, [IPv6]:port or ADDR:FIRST-LAST",
						optarg);
			br.connects[br.nconnects++] = optarg;
			br.ntargets += count;
			break;
		case 'C':
			once_only(br.nconnects || br.connect_fd >= 0, "-c (any number) and -C");
			br.connect_fd = util_arg_socket("--connect-fd", optarg, 0);
			check_not_same_socket();
			break;
		case 'f':
			once_only(br.listen_ns_file || br.listen_ns_fd >= 0, "-f and -F");
			br.listen_ns_file = optarg;
			break;
		case 'F':
			once_only(br.listen_ns_file || br.listen_ns_fd >= 0, "-f and -F");
			br.listen_ns_fd = util_arg_fd("--listen-netns-fd", optarg);
			break;
		case 't':
			once_only(br.connect_ns_file || br.connect_ns_fd >= 0, "-t and -T");
			br.connect_ns_file = optarg;
			break;
		case 'T':
			once_only(br.connect_ns_file || br.connect_ns_fd >= 0, "-t and -T");
			br.connect_ns_fd = util_arg_fd("--connect-netns-fd", optarg);
			break;
		case 'w':
			bridge_pass(PASS_WORKERS, optarg);
			break;
		case OPT_WATCH_PID:
			br.watch_pid = (pid_t)util_arg_number("--watch-pid", optarg, 1, 0x7fffffff);
			break;
		case OPT_HAND_OFF:
			if (strcmp(optarg, "listener") != 0 && strcmp(optarg, "client") != 0)
				log_usage_error("bad value '%s' for --hand-off: expected listener or client",
						optarg);
			br.hand_off = optarg;
			break;
		case OPT_ROUTE:
			br.route_mode = 1;
			break;
		default:
			if (c >= OPT_PASS && c < OPT_PASS + PASS_COUNT)
				bridge_pass((enum pass)(c - OPT_PASS), optarg);
			else
				cli_option(&br.cli, c, argv);
		}
	}
	cli_finish(&br.cli, argc, argv);
	br.drain_ms = bridge_passed(PASS_DRAIN) ?
		(int)util_arg_number("--drain-timeout", bridge_passed(PASS_DRAIN), 0, 3600) * 1000 :
		DRAIN_DEFAULT_MS;
	policy_adopt(&br.policy, &br.cli);
	if (br.given[PASS_ACCEPT_PROXY] && br.preaccepted_fd >= 0)
		log_usage_error("--accept-proxy: not with -S/--preaccepted-fd (give listening sockets)");
	if (br.given[PASS_ACCEPT_PROXY_FROM] && !br.given[PASS_ACCEPT_PROXY])
		log_usage_error("--accept-proxy-from: only with --accept-proxy");
	/*
	 * Here both agents' options are seen: where ntb-connect acts on the
	 * addresses a header names (the source it binds, the destination it
	 * connects to), only named front proxies may send one.
	 */
	if (br.given[PASS_ACCEPT_PROXY] && (br.given[PASS_TRANSPARENT] || br.route_mode) &&
	    !br.given[PASS_ACCEPT_PROXY_FROM])
		log_usage_error("--accept-proxy with %s: give --accept-proxy-from RULE (the front proxies whose headers are believed; any client could name %s)",
				br.given[PASS_TRANSPARENT] ? "--transparent-source" : "--route",
				br.given[PASS_TRANSPARENT] ? "any source address, the server's own included" :
				"any destination");
	if (br.hand_off && !strcmp(br.hand_off, "listener") &&
	    (br.preaccepted_fd >= 0 || br.connect_fd >= 0 || br.given[PASS_ACCEPT_PROXY] || br.route_mode))
		log_usage_error("--hand-off listener: not with %s (each client is handed off on its own)",
				br.preaccepted_fd >= 0 ? "-S/--preaccepted-fd" : br.connect_fd >= 0 ?
				"-C/--connect-fd" : br.given[PASS_ACCEPT_PROXY] ? "--accept-proxy" : "--route");
	if (!br.nlistens && br.preaccepted_fd < 0) {
		/* Socket activation: the listening sockets come from systemd. */
		int *fds = calloc(MSG_MAX_FORWARDS, sizeof(int)), n, k;

		if (!fds)
			log_die("cannot parse the command line: out of memory");
		n = notify_listen_fds(fds, MSG_MAX_FORWARDS);
		if (n < 0)
			log_usage_error("bad LISTEN_PID/LISTEN_FDS from the service manager");
		for (k = 0; k < n; k++) {
			if (util_check_stream_socket(fds[k], 1, &why))
				log_usage_error("bad socket-activated fd %d: %s", fds[k], why);
			br.listens[br.nlistens++] = (struct listen_arg){ .addr = NULL, .fd = fds[k] };
			br.nlisten_socks++;
		}
		free(fds);
	}
	if (!br.nlistens && br.preaccepted_fd < 0)
		log_usage_error("missing -l/--listen, -L/--listen-fd or -S/--preaccepted-fd (see --help)");
	if (br.route_mode && (br.nconnects || br.connect_fd >= 0 || br.preaccepted_fd >= 0))
		log_usage_error("--route: each client goes where it was going; no -c, -C or -S");
	if (br.route_mode && !br.given[PASS_ALLOW] && !br.given[PASS_DENY])
		log_usage_error("--route: give --allow rules (everything else is denied)");
	/* ntb-connect's own refusals, said here before anything starts (exit 2). */
	if (br.route_mode && br.given[PASS_TRANSPARENT])
		log_usage_error("--route and --transparent-source: not both (yet)");
	if (br.connect_fd >= 0 && br.given[PASS_TRANSPARENT])
		log_usage_error("--transparent-source: not with -C/--connect-fd (that socket is connected already)");
	if (!br.route_mode && (br.given[PASS_ALLOW] || br.given[PASS_DENY] || br.given[PASS_ALLOW_BUILTIN]))
		log_usage_error("--allow, --deny: only with --route, where the client picks the destination");
	if (!br.nconnects && br.connect_fd < 0 && !br.route_mode)
		log_usage_error("missing -c/--connect or -C/--connect-fd (see --help)");
	/* Forwards pair up by index: check the counts before anything is bound. */
	if (br.nlisten_socks > MSG_MAX_FORWARDS)
		log_usage_error("-l/-L: %u listening sockets, more than %d", br.nlisten_socks,
				MSG_MAX_FORWARDS);
	if (br.nlistens && br.nconnects && br.nlisten_socks != br.ntargets)
		log_usage_error("-l/-L give %u listening sockets but -c gives %u targets: they pair up in order",
				br.nlisten_socks, br.ntargets);
	if (br.connect_fd >= 0 && br.nlisten_socks > 1)
		log_usage_error("-C serves one client, of one listening socket; -l/-L give %u",
				br.nlisten_socks);
	if (br.preaccepted_fd >= 0 && br.ntargets > 1)
		log_usage_error("-S hands over one client, to one target; -c gives %u", br.ntargets);
}

/* The agents live next to this binary; $PATH is never consulted. */
static int bridge_open_agent(const char *name)
{
	char self[PATH_MAX], path[PATH_MAX + 32];
	int fd;

	util_self_dir(self, sizeof(self));
	snprintf(path, sizeof(path), "%s/%s", self, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		log_die_errno(errno, "cannot open agent %s", path);
	return fd;
}

static void agent_arg(struct agent *a, const char *arg)
{
	if (a->argc >= a->argv_cap - 1)
		log_die("cannot start %s: too many arguments", a->name);
	a->argv[a->argc] = strdup(arg);
	if (!a->argv[a->argc++])
		log_die("cannot start %s: out of memory", a->name);
}

static void agent_arg_fd(struct agent *a, const char *opt, const char *prefix, int fd)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%s%d", prefix, fd);
	agent_arg(a, opt);
	agent_arg(a, buf);
	if (a->nfds >= a->fds_cap)
		log_die("cannot start %s: too many fds to pass", a->name);
	a->fds[a->nfds++] = fd;
}

/* What both agents are given as we were (cli.c's options), and pass_opts[] for @a. */
static void agent_passed_args(struct agent *a, unsigned int to)
{
	const char *common[][2] = {
		{ "--user", br.cli.user }, { "--seccomp", br.cli.seccomp }, { "--log", br.cli.log },
	};
	unsigned int i;

	for (i = 0; i < sizeof(common) / sizeof(common[0]); i++)
		if (common[i][1])
			agent_arg(a, common[i][0]), agent_arg(a, common[i][1]);
	for (i = 0; i < (unsigned int)br.cli.verbose; i++)
		agent_arg(a, "-v");
	for (i = 0; i < br.npassed; i++) {
		const struct pass_opt *p = &pass_opts[br.passed[i].which];

		if (!(p->to & to))
			continue;
		agent_arg(a, p->opt);
		if (br.passed[i].value)
			agent_arg(a, br.passed[i].value);
	}
}

static void agent_spawn(struct agent *a)
{
	pid_t parent = getpid();
	sigset_t keep;
	unsigned int i;

	a->pid = fork();
	if (a->pid < 0)
		log_die_errno(errno, "cannot start %s", a->name);
	if (a->pid) {
		a->alive = 1;
		return;
	}
	/* Child: die with the launcher, so no agent outlives it. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(1);
	/*
	 * SIGUSR1 (stats) and SIGQUIT (graceful stop) stay blocked across
	 * exec: until the agent's signalfd takes them, their default actions
	 * would kill it, and we pass them on as soon as they come.  Blocked,
	 * they wait for that signalfd.
	 */
	sigemptyset(&keep);
	sigaddset(&keep, SIGUSR1);
	sigaddset(&keep, SIGQUIT);
	sigprocmask(SIG_SETMASK, &keep, NULL);
	if (br.ready_in[1] >= 0) {
		char num[16];

		/* The agents say READY=1 to us; we say it to the manager. */
		snprintf(num, sizeof(num), "%d", br.ready_in[1]);
		setenv(NOTIFY_FD_ENV, num, 1);
		fcntl(br.ready_in[1], F_SETFD, 0);
	}
	signal(SIGPIPE, SIG_DFL);
	for (i = 0; i < a->nfds; i++) {
		int fl = fcntl(a->fds[i], F_GETFD);

		if (fl >= 0)
			fcntl(a->fds[i], F_SETFD, fl & ~FD_CLOEXEC);
	}
	fexecve(a->exe, a->argv, environ);
	log_die_errno(errno, "cannot start %s", a->name);
}

static void agent_describe_exit(struct agent *a, int status, char *buf, size_t size)
{
	if (WIFEXITED(status) && !WEXITSTATUS(status) && !a->told_to_stop && !a->may_exit) {
		snprintf(buf, size, "%s exited with status 0 before it was told to stop", a->name);
	} else if (WIFEXITED(status)) {
		snprintf(buf, size, "%s exited with status %d", a->name, WEXITSTATUS(status));
	} else if (WIFSIGNALED(status)) {
		const char *sig = sigabbrev_np(WTERMSIG(status));

		snprintf(buf, size, "%s was killed by signal %d (SIG%s)%s", a->name,
			 WTERMSIG(status), sig ? sig : "?",
			 WTERMSIG(status) == SIGSYS ? ": a syscall outside its seccomp policy" : "");
	} else {
		snprintf(buf, size, "%s ended (status 0x%x)", a->name, (unsigned int)status);
	}
}

/*
 * Pass a stop on: SIGTERM (fast), SIGQUIT (graceful) or SIGKILL.  The
 * deadline for SIGKILL only ever moves closer.
 *
 * syscalls: kill
 */
static void bridge_stop_all(int sig)
{
	long long deadline = util_now_ms() + KILL_GRACE_MS;
	int i;

	if (sig == SIGQUIT)
		deadline += br.drain_ms;
	for (i = 0; i < 2; i++) {
		if (!br.agents[i].alive)
			continue;
		kill(br.agents[i].pid, sig);
		br.agents[i].told_to_stop = 1;
	}
	if (!br.kill_deadline || deadline < br.kill_deadline)
		br.kill_deadline = deadline;
}

/*
 * How an agent ended, ranked so that the first cause of a failure goes
 * first: 0 as it should, 1 failed and said why itself, 2 failed silently
 * (a signal, or exit 0 while it still had work: SIGHUP sent to it, say).
 */
static int agent_blame(const struct agent *a)
{
	if (WIFEXITED(a->status) && WEXITSTATUS(a->status) == 0)
		return a->told_to_stop || a->may_exit ? 0 : 2;
	if (a->told_to_stop && WIFSIGNALED(a->status) &&
	    (WTERMSIG(a->status) == SIGTERM || WTERMSIG(a->status) == SIGQUIT))
		return 0;	/* we stopped it before it took signals itself */
	return WIFSIGNALED(a->status) ? 2 : 1;
}

/*
 * Judge one reaped agent; a failure stops the other, and so does
 * ntb-connect's end.  A clean end of ntb-listen (-S, --once) lets the relay
 * finish.
 */
static void bridge_judge(struct agent *a)
{
	struct agent *other = &br.agents[a == &br.agents[0]];

	a->judged = 1;
	a->blame = agent_blame(a);
	if (a->blame)
		br.failed = 1;
	if (other->alive && (a->blame || a == &br.agents[AGENT_CONNECT]))
		bridge_stop_all(SIGTERM);
}

/*
 * ntb-connect ends by itself (exit 0) when ntb-listen closes the rendezvous,
 * and the kernel closes ntb-listen's files before it reports its exit: the
 * two exits can reach us in either order.  So an unasked exit 0 of
 * ntb-connect is judged once ntb-listen has been reaped too, or after
 * VERDICT_WAIT_MS if ntb-listen is still running: then it is a failure.
 */
#define VERDICT_WAIT_MS	1000

/* syscalls: wait4 waitid */
static void bridge_reap(void)
{
	struct agent *l = &br.agents[AGENT_LISTEN], *c = &br.agents[AGENT_CONNECT];
	int status, reaped[2] = { 0, 0 }, i;
	pid_t pid;

	/* Every exit first, then the verdicts: the order waitpid() returns
	 * two exits in must not change who is blamed. */
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		for (i = 0; i < 2; i++)
			if (br.agents[i].alive && br.agents[i].pid == pid) {
				br.agents[i].alive = 0;
				br.agents[i].status = status;
				reaped[i] = 1;
			}
	/* With ntb-listen gone, the rendezvous is closed: ntb-connect's exit 0 is its end. */
	if (!l->alive)
		c->may_exit = 1;
	if (reaped[AGENT_LISTEN])
		bridge_judge(l);
	if (!c->alive && !c->judged) {
		int unasked = WIFEXITED(c->status) && !WEXITSTATUS(c->status) &&
			      !c->told_to_stop && !c->may_exit;

		if (!unasked || (br.verdict_deadline && util_now_ms() >= br.verdict_deadline)) {
			br.verdict_deadline = 0;
			bridge_judge(c);
		} else if (!br.verdict_deadline) {
			br.verdict_deadline = util_now_ms() + VERDICT_WAIT_MS;
		}
	}
}

/*
 * An agent that exits non-zero has already said why in one line of its own
 * ("ntb-listen: cannot bind ..."); a second line would only repeat it.  A
 * signal leaves no such line, so that one the launcher reports.
 */
static void bridge_report_one(struct agent *a, const char *tail)
{
	char what[160];

	agent_describe_exit(a, a->status, what, sizeof(what));
	if (a->blame == 2)
		log_warn("%s%s", what, tail);
	else
		log_info("%s%s", what, tail);
}

/*
 * Both agents are gone: say why, the cause first.  When one agent dies the
 * other usually fails a moment later for lack of its peer, and the order
 * in which the two are reaped says nothing about which came first.
 */
static void bridge_report(void)
{
	struct agent *l = &br.agents[AGENT_LISTEN], *c = &br.agents[AGENT_CONNECT];
	struct agent *first = c->blame >= l->blame ? c : l;
	struct agent *second = first == c ? l : c;

	bridge_report_one(first, first->blame && !second->blame ?
			  "; stopped the other agent" : "");
	bridge_report_one(second, "");
}

/*
 * READY=1 from each agent: once both are serving, the bridge is.
 * syscalls: read
 */
static void bridge_readiness(void)
{
	char buf[64];
	ssize_t n;

	if (br.ready_in[0] < 0)
		return;
	while ((n = read(br.ready_in[0], buf, sizeof(buf) - 1)) > 0) {
		buf[n] = '\0';
		if (!strcmp(buf, "READY=1") && ++br.readies == 2)
			notify_send(br.manager, "READY=1");
	}
}

/*
 * A signal for us is one for both agents.
 *
 * syscalls: kill
 */
static void bridge_signal(uint32_t signo)
{
	int i;

	if (signo == SIGCHLD)
		return;
	if (signo == SIGUSR1) {
		for (i = 0; i < 2; i++)
			if (br.agents[i].alive)
				kill(br.agents[i].pid, SIGUSR1);
		return;
	}
	if (!br.stopping) {
		log_info("stopping on signal %u%s", signo,
			 signo == SIGQUIT ? ": open connections may finish" : "");
		notify_send(br.manager, "STOPPING=1");
	}
	br.stopping = 1;
	bridge_stop_all(signo == SIGQUIT ? SIGQUIT : SIGTERM);
}

/* syscalls: read epoll_wait epoll_pwait */
static void bridge_supervise(int sigfd, int epfd)
{
	while (br.agents[0].alive || br.agents[1].alive) {
		struct epoll_event ev;
		struct signalfd_siginfo si;
		int timeout = -1, n;

		timeout = util_sooner(timeout, br.verdict_deadline);
		if (br.kill_deadline) {
			long long left = br.kill_deadline - util_now_ms();

			if (left <= 0) {
				log_warn("agents did not stop in time; killing them");
				bridge_stop_all(SIGKILL);
				br.kill_deadline = util_now_ms() + KILL_AGAIN_MS;
				left = KILL_LOOK_MS;
			}
			if (timeout < 0 || left < timeout)
				timeout = (int)left;
		}
		n = epoll_wait(epfd, &ev, 1, timeout);
		if (n < 0 && errno != EINTR)
			log_die_errno(errno, "epoll_wait failed");
		bridge_readiness();
		/* The watched process is gone: so is the reason to forward. */
		if (n > 0 && br.watch_fd >= 0 && ev.data.fd == br.watch_fd && !br.stopping) {
			log_info("process %d exited; stopping", (int)br.watch_pid);
			notify_send(br.manager, "STOPPING=1");
			br.stopping = 1;
			bridge_stop_all(SIGTERM);
		}
		while (read(sigfd, &si, sizeof(si)) == sizeof(si))
			bridge_signal(si.ssi_signo);
		bridge_reap();
	}
}

/* An agent's namespace: opened and checked here, passed on as fd:N; -1 for ours. */
static int bridge_netns(const char *file, int fd, const char *opt)
{
	if (file)
		return netns_open(file);
	if (fd >= 0 && netns_check(fd, opt))
		exit(1);
	return fd;
}

/* ntb-listen's command line: its listening sockets or client, @rdv and @netns. */
static void bridge_listen_args(struct agent *l, int rdv, int netns)
{
	unsigned int j;

	agent_arg(l, "ntb-listen");
	for (j = 0; j < br.nlistens; j++) {
		if (br.listens[j].addr)
			agent_arg(l, "--listen"), agent_arg(l, br.listens[j].addr);
		else
			agent_arg_fd(l, "--listen-fd", "", br.listens[j].fd);
	}
	if (br.preaccepted_fd >= 0)
		agent_arg_fd(l, "--preaccepted-fd", "", br.preaccepted_fd);
	if (br.connect_fd >= 0 && br.preaccepted_fd < 0)
		agent_arg(l, "--once");	/* -C serves exactly one client */
	l->may_exit = br.preaccepted_fd >= 0 || br.connect_fd >= 0;
	agent_arg_fd(l, "--rendezvous", "fd:", rdv);
	if (netns >= 0)
		agent_arg_fd(l, "--netns", "fd:", netns);
	if (br.hand_off && br.preaccepted_fd < 0 && br.connect_fd < 0)
		agent_arg(l, "--hand-off"), agent_arg(l, br.hand_off);
	if (br.route_mode)
		agent_arg(l, "--transparent");
	agent_passed_args(l, TO_LISTEN);
}

/* ntb-connect's command line: its targets, @rdv and @netns. */
static void bridge_connect_args(struct agent *c, int rdv, int netns)
{
	unsigned int j;

	agent_arg(c, "ntb-connect");
	for (j = 0; j < br.nconnects; j++)
		agent_arg(c, "--connect"), agent_arg(c, br.connects[j]);
	if (br.connect_fd >= 0)
		agent_arg_fd(c, "--connect-fd", "", br.connect_fd);
	c->may_exit = br.connect_fd >= 0;
	agent_arg_fd(c, "--rendezvous", "fd:", rdv);
	if (netns >= 0)
		agent_arg_fd(c, "--netns", "fd:", netns);
	if (br.route_mode)
		agent_arg(c, "--connect-original");
	agent_passed_args(c, TO_CONNECT);
}

/*
 * What the launcher waits on: its signals, --watch-pid's process and the
 * agents' readiness for a service manager.
 *
 * Return: the epoll set; *sigfd is the signalfd.
 */
static int bridge_watch(int *sigfd)
{
	struct epoll_event ev = { .events = EPOLLIN };
	sigset_t set;
	int epfd;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGQUIT);
	sigaddset(&set, SIGUSR1);
	*sigfd = util_signalfd(&set);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		log_die_errno(errno, "cannot create epoll set");
	ev.data.fd = *sigfd;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, *sigfd, &ev))
		log_die_errno(errno, "cannot watch signals");
	if (br.watch_pid) {
		/* Once, and only once: the pidfd stays readable after the exit. */
		struct epoll_event once = { .events = EPOLLIN | EPOLLONESHOT };

		br.watch_fd = (int)syscall(SYS_pidfd_open, br.watch_pid, 0);
		if (br.watch_fd < 0)
			log_die_errno(errno, "cannot watch process %d", (int)br.watch_pid);
		once.data.fd = br.watch_fd;
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, br.watch_fd, &once))
			log_die_errno(errno, "cannot watch process %d", (int)br.watch_pid);
	}
	/* Readiness for a service manager: connected before anything joins. */
	br.manager = notify_open();
	if (br.manager >= 0) {
		if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, br.ready_in))
			log_die_errno(errno, "cannot create the readiness socketpair");
		ev.data.fd = br.ready_in[0];
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, br.ready_in[0], &ev))
			log_die_errno(errno, "cannot watch readiness");
	}
	return epfd;
}

/* Keep @sigfd, @epfd and what bridge_watch() opened; kill() only the agents. */
static void bridge_sandbox(int sigfd, int epfd)
{
	static int keep[6];
	static pid_t agent_pids[2];

	br.policy.keep_fds = keep;
	br.policy.keep_cap = sizeof(keep) / sizeof(keep[0]);
	policy_keep_fd(&br.policy, sigfd);
	policy_keep_fd(&br.policy, epfd);
	if (br.manager >= 0) {
		policy_keep_fd(&br.policy, br.manager);
		policy_keep_fd(&br.policy, br.ready_in[0]);
	}
	if (br.watch_fd >= 0)
		policy_keep_fd(&br.policy, br.watch_fd);
	/* kill() reaches our two agents and nothing else (see bridge_stop_all()). */
	agent_pids[0] = br.agents[0].pid;
	agent_pids[1] = br.agents[1].pid;
	br.policy.kill_pids = agent_pids;
	br.policy.n_kill_pids = 2;
	policy_apply(&br.policy);
}

int main(int argc, char **argv)
{
	struct agent *l = &br.agents[AGENT_LISTEN], *c = &br.agents[AGENT_CONNECT];
	int sp[2], lns, cns, sigfd, epfd, i;
	unsigned int j;

	util_std_fds();
	util_raise_nofile();
	log_init("netns-tcp-bridge");
	/* A log line to a stderr nobody reads any more must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	bridge_parse(argc, argv);

	/* 1. Files first: the namespaces, and the agents from our own directory. */
	lns = bridge_netns(br.listen_ns_file, br.listen_ns_fd, "--listen-netns-fd");
	cns = bridge_netns(br.connect_ns_file, br.connect_ns_fd, "--connect-netns-fd");
	l->name = "ntb-listen";
	c->name = "ntb-connect";
	l->exe = bridge_open_agent("ntb-listen");
	c->exe = bridge_open_agent("ntb-connect");

	/* 2. The rendezvous: one end for each agent. */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp))
		log_die_errno(errno, "cannot create the rendezvous socketpair");

	/* 3. Each agent's command line, with room for all the command line can give. */
	for (i = 0; i < 2; i++) {
		struct agent *a = &br.agents[i];

		/* Each socket-activated listener adds "--listen-fd N" and its fd. */
		a->argv_cap = 2 * (argc + (int)br.nlistens) + 32;
		a->fds_cap = (unsigned int)argc + br.nlistens + 4;
		a->argv = calloc((size_t)a->argv_cap, sizeof(char *));
		a->fds = calloc(a->fds_cap, sizeof(int));
		if (!a->argv || !a->fds)
			log_die("cannot start %s: out of memory", a->name);
	}
	bridge_listen_args(l, sp[0], lns);
	bridge_connect_args(c, sp[1], cns);
	/*
	 * Every fd handed to an agent is CLOEXEC here and made inheritable
	 * only in its own child, so the -C socket never stays open in
	 * ntb-listen (its peer would never see EOF) and vice versa.
	 */
	for (i = 0; i < 2; i++)
		for (j = 0; j < br.agents[i].nfds; j++)
			fcntl(br.agents[i].fds[j], F_SETFD, FD_CLOEXEC);

	/* 4. What we wait on: signals, --watch-pid, readiness. */
	epfd = bridge_watch(&sigfd);

	/* 5. Start both agents. */
	agent_spawn(c);
	agent_spawn(l);
	if (br.ready_in[1] >= 0)
		close(br.ready_in[1]);

	/* 6. Everything the agents hold is theirs alone now: give up the rest. */
	bridge_sandbox(sigfd, epfd);

	/* 7. Supervise. */
	bridge_supervise(sigfd, epfd);
	bridge_report();
	exit(br.failed ? 1 : 0);
}
