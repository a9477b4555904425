// SPDX-License-Identifier: MIT
/*
 * oci_hook.c - ntb-oci-hook: an OCI runtime hook that starts a container's
 * forwards when it is created and stops them when it is gone.
 *
 * Theory of operation: the runtime runs the hook with the container's
 * state JSON on stdin (ociVersion, id, status, pid, bundle, annotations).
 * At createRuntime (or the legacy prestart) the forwards of --publish,
 * --expose and the org.netns-tcp-bridge.* annotations are checked, then
 * one launcher per direction is started, detached (its own session, no
 * terminal, stdio away from the runtime's pipes): publish listens in the
 * hook's network namespace and connects in the container's, expose the
 * other way round.  Each launcher watches the container's init with a
 * pidfd (--watch-pid) so it never keeps the namespace alive, and tells
 * the hook READY=1 over an inherited datagram socket once every listener
 * is bound; only then does the hook exit 0, so the ports are up before
 * the container's process starts.  An error, or no READY=1 within
 * HOOK_READY_MS, exits 1 with one line and leaves nothing running.  At
 * poststop (status "stopped") the launchers recorded for that container
 * id are stopped; a second call finds nothing and succeeds.
 *
 * The hook itself is short-lived and not sandboxed: it only reads its
 * input, starts the launchers (which sandbox themselves) and waits.
 */
#include "addr.h"
#include "cli.h"
#include "log.h"
#include "msg.h"
#include "notify.h"
#include "rules.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define HOOK_STATE_MAX	65536		/* bytes of state JSON we read */
#define HOOK_READY_MS	1800		/* the runtime gives a hook 2 s */
#define HOOK_MAX_SPECS	256		/* LISTEN=TARGET specs in all */
#define HOOK_MAX_PROXY_FROM	8		/* --accept-proxy-from rules */
#define ANNOT_PUBLISH	"org.netns-tcp-bridge.publish"
#define ANNOT_EXPOSE	"org.netns-tcp-bridge.expose"

enum { DIR_PUBLISH, DIR_EXPOSE };

struct hook_dir {
	const char *name;		/* "publish", "expose" */
	const char *listen[HOOK_MAX_SPECS];
	const char *target[HOOK_MAX_SPECS];
	unsigned int n;
	pid_t pid;			/* its launcher, once started */
};

static struct {
	struct hook_dir dirs[2];
	const char *state_dir;
	char id[128];
	char status[32];
	long pid;
	int has_pid;
	const char *proxy_protocol;	/* --proxy-protocol, passed on */
	int accept_proxy;		/* --accept-proxy, passed on */
	int transparent;		/* --transparent-source, passed on */
	const char *proxy_from[HOOK_MAX_PROXY_FROM];	/* --accept-proxy-from, passed on */
	unsigned int nproxy_from;
} hk = {
	.dirs = { { .name = "publish" }, { .name = "expose" } },
};

static const char usage[] =
"Usage: ntb-oci-hook [--publish LISTEN=TARGET]... [--expose LISTEN=TARGET]...\n"
"                    [--state-dir DIR] < CONTAINER-STATE-JSON\n"
"An OCI runtime hook: at createRuntime (or prestart) it starts the\n"
"container's forwards and returns once every listening socket is bound; at\n"
"poststop it stops them.  Forwards come from the options and from the\n"
"annotations " ANNOT_PUBLISH " and " ANNOT_EXPOSE "\n"
"(comma-separated LISTEN=TARGET lists), added together.\n"
"\n"
"      --publish LISTEN=TARGET  listen on LISTEN in the hook's network\n"
"                             namespace, connect to TARGET in the container's\n"
"      --expose LISTEN=TARGET   listen on LISTEN in the container's namespace,\n"
"                             connect to TARGET in the hook's\n"
"                             (ADDR is IPv4:port or [IPv6]:port; port ranges\n"
"                             FIRST-LAST of equal length on both sides)\n"
"      --proxy-protocol v1|v2 every forward sends its target a PROXY header\n"
"                             with the client's address first\n"
"      --accept-proxy         every forward's clients come with a PROXY\n"
"                             header from a front proxy\n"
"      --accept-proxy-from RULE  only clients from RULE (the front proxies;\n"
"                             tcp://ADDR[/LEN][:PORT[-PORT]]; repeatable, 8 at\n"
"                             most) may send PROXY headers; required with\n"
"                             --accept-proxy and --transparent-source\n"
"      --transparent-source   every forward connects from its client's own\n"
"                             address (routes: see netns-tcp-bridge(1))\n"
"      --state-dir DIR        where the running forwards are recorded\n"
"                             (default /run/netns-tcp-bridge/oci as root,\n"
"                             else $XDG_RUNTIME_DIR/netns-tcp-bridge/oci)\n"
"  -h, --help                 this text\n"
"      --version              print the version\n";

enum { OPT_PUBLISH = 256, OPT_EXPOSE, OPT_STATE_DIR, OPT_VERSION, OPT_PROXY, OPT_ACCEPT_PROXY, OPT_TRANSPARENT,
       OPT_ACCEPT_PROXY_FROM };

static const struct option long_opts[] = {
	{ "publish", required_argument, NULL, OPT_PUBLISH },
	{ "expose", required_argument, NULL, OPT_EXPOSE },
	{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
	{ "proxy-protocol", required_argument, NULL, OPT_PROXY },
	{ "accept-proxy", no_argument, NULL, OPT_ACCEPT_PROXY },
	{ "accept-proxy-from", required_argument, NULL, OPT_ACCEPT_PROXY_FROM },
	{ "transparent-source", no_argument, NULL, OPT_TRANSPARENT },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

/*
 * hook_add_spec() - check one LISTEN=TARGET and add it to @d, or exit
 * @spec:	the text; kept (it points into argv or the parsed JSON)
 * @where:	"--publish", or the annotation's name, for messages
 */
static void hook_add_spec(struct hook_dir *d, char *spec, const char *where)
{
	struct addr a;
	unsigned int nl, nt;
	char *eq = strchr(spec, '=');

	if (eq)
		*eq = '\0';
	else
		log_usage_error("bad forward '%s' in %s: expected LISTEN=TARGET", spec, where);
	if (addr_parse_range(spec, &a, &nl) || addr_parse_range(eq + 1, &a, &nt))
		log_usage_error("bad forward '%s=%s' in %s: addresses are IPv4:port or [IPv6]:port, ports may be FIRST-LAST",
				spec, eq + 1, where);
	if (nl != nt)
		log_usage_error("bad forward '%s=%s' in %s: %u listening ports but %u targets", spec,
				eq + 1, where, nl, nt);
	if (d->n >= HOOK_MAX_SPECS)
		log_usage_error("too many forwards: at most %d", HOOK_MAX_SPECS);
	d->listen[d->n] = spec;
	d->target[d->n] = eq + 1;
	d->n++;
}

/* A comma-separated list of specs, from an annotation. */
static void hook_add_list(struct hook_dir *d, const char *list, const char *where)
{
	char *copy = strdup(list), *tok, *save = NULL;

	if (!copy)
		log_die("out of memory");
	for (tok = strtok_r(copy, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save))
		hook_add_spec(d, tok, where);
}

/* The state JSON from stdin: at most HOOK_STATE_MAX bytes, within the deadline. */
static char *hook_read_state(long long deadline)
{
	char *buf = malloc(HOOK_STATE_MAX + 1);
	size_t len = 0;

	if (!buf)
		log_die("out of memory");
	for (;;) {
		struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
		long long left = deadline - util_now_ms();
		ssize_t n;

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			log_die("cannot read the container state: nothing on stdin in time");
		n = read(STDIN_FILENO, buf + len, HOOK_STATE_MAX + 1 - len);
		if (n < 0 && errno != EINTR && errno != EAGAIN)
			log_die_errno(errno, "cannot read the container state");
		if (n == 0)
			break;
		if (n > 0)
			len += (size_t)n;
		if (len > HOOK_STATE_MAX)
			log_die("cannot read the container state: more than %d bytes", HOOK_STATE_MAX);
	}
	buf[len] = '\0';
	return buf;
}

/* id, status, pid and the annotations, checked. */
static void hook_parse_state(const char *text)
{
	enum json_tokener_error jerr;
	struct json_object *root = json_tokener_parse_verbose(text, &jerr), *v, *ann;
	const char *s;

	if (!root)
		log_die("bad container state: %s", json_tokener_error_desc(jerr));
	if (!json_object_is_type(root, json_type_object))
		log_die("bad container state: not a JSON object");
	if (!json_object_object_get_ex(root, "id", &v) || !json_object_is_type(v, json_type_string))
		log_die("bad container state: no \"id\" string");
	s = json_object_get_string(v);
	/* The id names a file: letters, digits and ._- only. */
	if (!*s || strlen(s) >= sizeof(hk.id) || strspn(s, "abcdefghijklmnopqrstuvwxyz"
			"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != strlen(s) || s[0] == '.')
		log_die("bad container state: id '%s' is not a plain name", s);
	snprintf(hk.id, sizeof(hk.id), "%s", s);
	if (json_object_object_get_ex(root, "status", &v) && json_object_is_type(v, json_type_string))
		snprintf(hk.status, sizeof(hk.status), "%s", json_object_get_string(v));
	if (json_object_object_get_ex(root, "pid", &v)) {
		if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) <= 0 ||
		    json_object_get_int64(v) > INT_MAX)
			log_die("bad container state: \"pid\" is not a process id");
		hk.pid = (long)json_object_get_int64(v);
		hk.has_pid = 1;
	}
	if (json_object_object_get_ex(root, "annotations", &ann)) {
		if (!json_object_is_type(ann, json_type_object))
			log_die("bad container state: \"annotations\" is not an object");
		if (json_object_object_get_ex(ann, ANNOT_PUBLISH, &v))
			hook_add_list(&hk.dirs[DIR_PUBLISH], json_object_get_string(v), ANNOT_PUBLISH);
		if (json_object_object_get_ex(ann, ANNOT_EXPOSE, &v))
			hook_add_list(&hk.dirs[DIR_EXPOSE], json_object_get_string(v), ANNOT_EXPOSE);
	}
	/* Strings kept by the specs point into root: it stays. */
}

static void hook_state_path(char *path, size_t size)
{
	if ((size_t)snprintf(path, size, "%s/%s.pids", hk.state_dir, hk.id) >= size)
		log_die("cannot record the forwards: state directory path too long");
}

/* Is @pid one of our launchers?  Not some process that took its number. */
static int hook_is_launcher(pid_t pid)
{
	char path[64], comm[32] = "";
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, comm, sizeof(comm) - 1);
	close(fd);
	return n > 0 && !strncmp(comm, "netns-tcp-brid", 14);
}

/* poststop: stop what createRuntime started for this id, if anything. */
static int hook_stop(void)
{
	char path[PATH_MAX], buf[64] = "";
	long pids[2] = { 0, 0 };
	int fd, i, k;
	ssize_t n;

	hook_state_path(path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return 0;	/* nothing started, or already stopped */
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n > 0)
		sscanf(buf, "%ld %ld", &pids[0], &pids[1]);
	for (i = 0; i < 2; i++)
		if (pids[i] > 0 && hook_is_launcher((pid_t)pids[i]))
			kill((pid_t)pids[i], SIGTERM);
	/* Within the runtime's patience: gone, or killed. */
	for (k = 0; k < 30; k++) {
		int alive = 0;

		for (i = 0; i < 2; i++)
			alive |= pids[i] > 0 && hook_is_launcher((pid_t)pids[i]);
		if (!alive)
			break;
		poll(NULL, 0, 50);
	}
	for (i = 0; i < 2; i++)
		if (pids[i] > 0 && hook_is_launcher((pid_t)pids[i]))
			kill((pid_t)pids[i], SIGKILL);
	unlink(path);
	return 0;
}

/* The launcher: next to us (a build tree), or in $PREFIX/bin. */
static void hook_launcher_path(char *path, size_t size)
{
	char self[PATH_MAX];

	util_self_dir(self, sizeof(self));
	if ((size_t)snprintf(path, size, "%s/netns-tcp-bridge", self) < size &&
	    access(path, X_OK) == 0)
		return;
	if ((size_t)snprintf(path, size, "%s/../../bin/netns-tcp-bridge", self) >= size ||
	    access(path, X_OK))
		log_die("cannot find netns-tcp-bridge next to %s or in ../../bin", self);
}

/*
 * hook_start() - start the launcher of one direction, detached
 * @d:		the direction
 * @ready:	the datagram socket the launcher says READY=1 on (inherited)
 * @errpipe:	write end for the launcher's stderr until it is ready
 */
static void hook_start(struct hook_dir *d, const char *launcher, int ready, int errpipe)
{
	char ns[64], pid_text[32], fd_text[16];
	const char *argv[16 + 4 * HOOK_MAX_SPECS + 2 * HOOK_MAX_PROXY_FROM];
	unsigned int i;
	int argc = 0, devnull;

	snprintf(ns, sizeof(ns), "/proc/%ld/ns/net", hk.pid);
	snprintf(pid_text, sizeof(pid_text), "%ld", hk.pid);
	argv[argc++] = "netns-tcp-bridge";
	for (i = 0; i < d->n; i++) {
		argv[argc++] = "-l";
		argv[argc++] = d->listen[i];
		argv[argc++] = "-c";
		argv[argc++] = d->target[i];
	}
	/* publish: connect inside the container; expose: listen inside it. */
	argv[argc++] = d == &hk.dirs[DIR_PUBLISH] ? "-t" : "-f";
	argv[argc++] = ns;
	argv[argc++] = "--watch-pid";
	argv[argc++] = pid_text;
	if (hk.proxy_protocol) {
		argv[argc++] = "--proxy-protocol";
		argv[argc++] = hk.proxy_protocol;
	}
	if (hk.accept_proxy)
		argv[argc++] = "--accept-proxy";
	for (i = 0; i < hk.nproxy_from; i++) {
		argv[argc++] = "--accept-proxy-from";
		argv[argc++] = hk.proxy_from[i];
	}
	if (hk.transparent)
		argv[argc++] = "--transparent-source";
	/* Once we are gone, nobody reads its stderr: syslog, where there is one. */
	if (access("/dev/log", W_OK) == 0) {
		argv[argc++] = "--log";
		argv[argc++] = "syslog";
	}
	argv[argc] = NULL;

	d->pid = fork();
	if (d->pid < 0)
		log_die_errno(errno, "cannot start the %s forwards", d->name);
	if (d->pid)
		return;
	/* A session of its own, no terminal, nothing of the runtime's. */
	setsid();
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0 || dup2(devnull, STDIN_FILENO) < 0 || dup2(devnull, STDOUT_FILENO) < 0 ||
	    dup2(errpipe, STDERR_FILENO) < 0)
		_exit(127);
	snprintf(fd_text, sizeof(fd_text), "%d", ready);
	setenv(NOTIFY_FD_ENV, fd_text, 1);
	if (fcntl(ready, F_SETFD, 0))
		_exit(127);
	signal(SIGPIPE, SIG_DFL);
	execv(launcher, (char *const *)argv);
	log_die_errno(errno, "cannot start %s", launcher);
}

static void hook_kill_started(void)
{
	int i;

	for (i = 0; i < 2; i++)
		if (hk.dirs[i].pid > 0) {
			kill(hk.dirs[i].pid, SIGKILL);
			waitpid(hk.dirs[i].pid, NULL, 0);
		}
}

/* createRuntime: start, wait for every READY=1, record the pids. */
static int hook_create(long long deadline)
{
	char launcher[PATH_MAX], path[PATH_MAX], line[512] = "", pids[64];
	int ready[2], errp[2], want = 0, got = 0, i, fd;
	size_t linelen = 0;

	if (!hk.dirs[DIR_PUBLISH].n && !hk.dirs[DIR_EXPOSE].n)
		return 0;	/* a container without forwards */
	if (!hk.has_pid)
		log_die("bad container state: no \"pid\", so no namespace to forward to");
	hook_launcher_path(launcher, sizeof(launcher));
	if (mkdir(hk.state_dir, 0700) && errno != EEXIST)
		log_die_errno(errno, "cannot create the state directory %s", hk.state_dir);
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, ready) ||
	    pipe2(errp, O_CLOEXEC | O_NONBLOCK))
		log_die_errno(errno, "cannot start the forwards");
	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < 2; i++) {
		if (!hk.dirs[i].n)
			continue;
		hook_start(&hk.dirs[i], launcher, ready[1], errp[1]);
		want++;
	}
	close(ready[1]);
	close(errp[1]);
	while (got < want) {
		struct pollfd pfd[2] = { { .fd = ready[0], .events = POLLIN },
					 { .fd = errp[0], .events = POLLIN } };
		long long left = deadline - util_now_ms();
		char msg[32];
		ssize_t n;

		if (left <= 0 || poll(pfd, 2, (int)left) <= 0) {
			hook_kill_started();
			log_die("cannot start the forwards of container %s: not ready within %d ms%s%s",
				hk.id, HOOK_READY_MS, *line ? ": " : "", line);
		}
		if (pfd[0].revents & POLLIN) {
			n = recv(ready[0], msg, sizeof(msg) - 1, MSG_DONTWAIT);
			if (n > 0) {
				msg[n] = '\0';
				got += !strcmp(msg, "READY=1");
			}
		}
		if (pfd[1].revents & (POLLIN | POLLHUP)) {
			n = read(errp[0], line + linelen, sizeof(line) - 1 - linelen);
			if (n > 0) {
				linelen += (size_t)n;
				line[linelen] = '\0';
				line[strcspn(line, "\n")] = '\0';
				linelen = strlen(line);
			}
			/* Every launcher gone before saying READY=1: it said why. */
			if (n == 0) {
				hook_kill_started();
				log_die("cannot start the forwards of container %s: %s", hk.id,
					*line ? line : "the launcher exited");
			}
		}
	}
	hook_state_path(path, sizeof(path));
	snprintf(pids, sizeof(pids), "%d %d\n", (int)hk.dirs[0].pid, (int)hk.dirs[1].pid);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || write(fd, pids, strlen(pids)) != (ssize_t)strlen(pids)) {
		hook_kill_started();
		log_die_errno(errno, "cannot record the forwards in %s", path);
	}
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	long long deadline;
	char *state;
	int c;

	util_std_fds();
	log_init("ntb-oci-hook");
	deadline = util_now_ms() + HOOK_READY_MS;
	opterr = 0;
	while ((c = cli_getopt(argc, argv, ":h", long_opts)) != -1) {
		switch (c) {
		case OPT_PUBLISH:
			hook_add_spec(&hk.dirs[DIR_PUBLISH], optarg, "--publish");
			break;
		case OPT_EXPOSE:
			hook_add_spec(&hk.dirs[DIR_EXPOSE], optarg, "--expose");
			break;
		case OPT_STATE_DIR:
			hk.state_dir = optarg;
			break;
		case OPT_PROXY:
			cli_proxy_version(optarg);
			hk.proxy_protocol = optarg;
			break;
		case OPT_ACCEPT_PROXY:
			hk.accept_proxy = 1;
			break;
		case OPT_TRANSPARENT:
			hk.transparent = 1;
			break;
		case OPT_ACCEPT_PROXY_FROM: {
			struct rule r;
			const char *why;

			if (rule_parse(optarg, &r, &why))
				log_usage_error("bad rule '%s' for --accept-proxy-from: %s (tcp://ADDR[/LEN][:PORT[-PORT]], IPv6 in [brackets])",
						optarg, why);
			if (hk.nproxy_from >= HOOK_MAX_PROXY_FROM)
				log_usage_error("--accept-proxy-from: %d rules at most", HOOK_MAX_PROXY_FROM);
			hk.proxy_from[hk.nproxy_from++] = optarg;
			break;
		}
		case 'h':
			fputs(usage, stdout);
			return 0;
		case OPT_VERSION:
			printf("ntb-oci-hook %s\n", NTB_VERSION);
			return 0;
		case ':':
			log_usage_error("option %s needs a value", argv[optind - 1]);
		default:
			log_usage_error("unknown option '%s' (see --help)", argv[optind - 1]);
		}
	}
	if (optind < argc)
		log_usage_error("unexpected argument '%s' (see --help)", argv[optind]);
	/* As the launcher would, but at once: a header would pick the source. */
	if (hk.nproxy_from && !hk.accept_proxy)
		log_usage_error("--accept-proxy-from: only with --accept-proxy");
	if (hk.accept_proxy && hk.transparent && !hk.nproxy_from)
		log_usage_error("--accept-proxy with --transparent-source: give --accept-proxy-from RULE (the front proxies whose headers are believed; any client could name any source address)");
	if (!hk.state_dir) {
		static char dir[PATH_MAX];
		const char *xdg = getenv("XDG_RUNTIME_DIR");

		if (!geteuid() || !xdg) {
			if (mkdir("/run/netns-tcp-bridge", 0755) && errno != EEXIST)
				log_die_errno(errno, "cannot create /run/netns-tcp-bridge");
			hk.state_dir = "/run/netns-tcp-bridge/oci";
		} else {
			snprintf(dir, sizeof(dir), "%s/netns-tcp-bridge", xdg);
			if (mkdir(dir, 0700) && errno != EEXIST)
				log_die_errno(errno, "cannot create %s", dir);
			snprintf(dir, sizeof(dir), "%s/netns-tcp-bridge/oci", xdg);
			hk.state_dir = dir;
		}
	}
	state = hook_read_state(deadline);
	hook_parse_state(state);
	if (!strcmp(hk.status, "stopped"))
		return hook_stop();
	return hook_create(deadline);
}
