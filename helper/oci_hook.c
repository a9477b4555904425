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
 * Who decides: the hook's own arguments (the hooks.d file) are the
 * administrator's; annotations are whoever creates the container's.  A
 * forward from an annotation runs only if an --allow-publish rule covers
 * its listening address (the hook's namespace is the host's: this is a
 * host port) or an --allow-expose rule its target (reached from the
 * host's namespace: the built-in deny list of route mode applies, and only
 * a rule inside a denied range lifts it).  The launchers run as --user
 * (nobody by default): they and their agents bind and join as we start
 * them, then drop to it.
 *
 * Records: ID.pids in the state directory holds each launcher's pid and
 * start time (field 22 of /proc/PID/stat), so poststop, however late,
 * never stops a process that merely took a recorded pid.  Every call
 * removes the records whose launchers are gone (a creation that failed
 * after this hook succeeded gets no poststop).  The default directory
 * follows who we really are: uid 0 of a user namespace other than the
 * initial one (rootless podman) is not root (hook_default_state_dir()).
 *
 * The hook itself is short-lived and not sandboxed: it only reads its
 * input, starts the launchers (which sandbox themselves) and waits.
 * Starting, waiting for and stopping launchers is launch.c's, shared with
 * the CNI plugin (ntb-portmap); the messages and exit statuses stay ours.
 */
#include "addr.h"
#include "cli.h"
#include "launch.h"
#include "log.h"
#include "msg.h"
#include "route.h"
#include "rules.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
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
#define HOOK_STOP_MS	1500		/* for the launchers to go on SIGTERM */
#define HOOK_KILL_WAIT_MS	300		/* then SIGKILL: within those 2 s too */
#define HOOK_MAX_SPECS	256		/* LISTEN=TARGET specs in all */
#define HOOK_MAX_PROXY_FROM	8		/* --accept-proxy-from rules */
#define ANNOT_PUBLISH	"org.netns-tcp-bridge.publish"
#define ANNOT_EXPOSE	"org.netns-tcp-bridge.expose"

enum { DIR_PUBLISH, DIR_EXPOSE };

struct hook_dir {
	const char *name;		/* "publish", "expose" */
	const char *listen[HOOK_MAX_SPECS];
	const char *target[HOOK_MAX_SPECS];
	const char *annot[HOOK_MAX_SPECS];	/* the annotation it came from, or NULL */
	unsigned int n;
	unsigned int nports;		/* listening ports of the n specs */
	pid_t pid;			/* its launcher, once started */
	unsigned long long start;	/* and its start time, for the record */
};

static struct {
	struct hook_dir dirs[2];
	const char *state_dir;
	const char *user;		/* --user: what the launchers run as */
	struct rule_set allow_publish;	/* --allow-publish */
	struct rule_set allow_expose;	/* --allow-expose */
	char id[128];
	char status[32];
	long pid;
	int has_pid;
	const char *proxy_protocol;	/* --proxy-protocol, passed on */
	int accept_proxy;		/* --accept-proxy, passed on */
	int transparent;		/* --transparent-source, passed on */
	const char *proxy_from[HOOK_MAX_PROXY_FROM];	/* --accept-proxy-from, passed on */
	unsigned int nproxy_from;
	struct json_object *state;	/* the parsed container state, kept to the end */
} hk = {
	.dirs = { { .name = "publish" }, { .name = "expose" } },
	.user = "nobody",
};

static const char usage[] =
"Usage: ntb-oci-hook [--publish LISTEN=TARGET]... [--expose LISTEN=TARGET]...\n"
"                    [--allow-publish RULE]... [--allow-expose RULE]...\n"
"                    [--user USER] [--state-dir DIR] < CONTAINER-STATE-JSON\n"
"An OCI runtime hook: at createRuntime (or prestart) it starts the\n"
"container's forwards and returns once every listening socket is bound; at\n"
"poststop it stops them.  Forwards come from the options and from the\n"
"annotations " ANNOT_PUBLISH " and " ANNOT_EXPOSE "\n"
"(comma-separated LISTEN=TARGET lists), added together; an annotation's\n"
"forward runs only where an --allow-publish or --allow-expose rule allows it.\n"
"\n"
"      --publish LISTEN=TARGET  listen on LISTEN in the hook's network\n"
"                             namespace, connect to TARGET in the container's\n"
"      --expose LISTEN=TARGET   listen on LISTEN in the container's namespace,\n"
"                             connect to TARGET in the hook's\n"
"                             (ADDR is IPv4:port or [IPv6]:port; port ranges\n"
"                             FIRST-LAST of equal length on both sides)\n"
"      --allow-publish RULE   annotations may publish on a listening address\n"
"                             and port that RULE covers (tcp://ADDR[/LEN]\n"
"                             [:PORT[-PORT]]; a listen on 0.0.0.0 or [::]\n"
"                             needs a rule covering that address itself)\n"
"      --allow-expose RULE    annotations may expose a target that RULE\n"
"                             covers; loopback, link-local, the host's own\n"
"                             addresses and the rest of the built-in deny list\n"
"                             only through a rule that lies inside them\n"
"                             (without either, every annotation is refused)\n"
"      --user USER            the launchers and agents run as USER once bound\n"
"                             and joined (default nobody)\n"
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
"                             (default /run/netns-tcp-bridge/oci as root of\n"
"                             the initial user namespace, else\n"
"                             /run/user/UID/netns-tcp-bridge/oci where\n"
"                             /run/user/UID is ours, else\n"
"                             /tmp/netns-tcp-bridge-UID)\n"
"  -h, --help                 this text\n"
"      --version              print the version\n";

enum { OPT_PUBLISH = 256, OPT_EXPOSE, OPT_STATE_DIR, OPT_VERSION, OPT_PROXY, OPT_ACCEPT_PROXY, OPT_TRANSPARENT,
       OPT_ALLOW_PUBLISH, OPT_ALLOW_EXPOSE, OPT_USER, OPT_ACCEPT_PROXY_FROM };

static const struct option long_opts[] = {
	{ "publish", required_argument, NULL, OPT_PUBLISH },
	{ "expose", required_argument, NULL, OPT_EXPOSE },
	{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
	{ "allow-publish", required_argument, NULL, OPT_ALLOW_PUBLISH },
	{ "allow-expose", required_argument, NULL, OPT_ALLOW_EXPOSE },
	{ "user", required_argument, NULL, OPT_USER },
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
 * @annot:	the annotation's name if it came from one, else NULL
 */
static void hook_add_spec(struct hook_dir *d, char *spec, const char *where, const char *annot)
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
	/* The launcher takes no more; checking more would only cost time. */
	if (nl > MSG_MAX_FORWARDS - d->nports)
		log_usage_error("too many ports to %s in %s: at most %d in all", d->name, where,
				MSG_MAX_FORWARDS);
	d->nports += nl;
	d->listen[d->n] = spec;
	d->target[d->n] = eq + 1;
	d->annot[d->n] = annot;
	d->n++;
}

/*
 * A comma-separated list of specs, from an annotation: a JSON string of
 * printable ASCII, as addresses are.  Anything else is refused before it
 * is echoed in a message (a newline would forge a line of ours; a NUL
 * would hide the rest of the list).
 */
static void hook_add_list(struct hook_dir *d, struct json_object *v, const char *where)
{
	const char *list = json_object_get_string(v);
	char *copy, *tok, *save = NULL;
	size_t i, len;

	if (!json_object_is_type(v, json_type_string))
		log_die("bad annotation %s: not a string", where);
	len = (size_t)json_object_get_string_len(v);
	for (i = 0; i < len; i++)
		if ((unsigned char)list[i] < 0x20 || (unsigned char)list[i] > 0x7e)
			log_die("bad annotation %s: byte %zu is not printable ASCII", where, i);
	copy = strdup(list);
	if (!copy)
		log_die("out of memory");
	/*
	 * The specs point into copy, kept to the end; a list of none frees
	 * it.  The analyzer does not know strtok_r() points into copy.
	 */
	tok = strtok_r(copy, ", ", &save);
	if (!tok)
		free(copy);
	/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc) */
	for (; tok; tok = strtok_r(NULL, ", ", &save))
		hook_add_spec(d, tok, where, where);
}

/*
 * hook_refuse() - one line naming the annotation, the forward, the address
 * it asks for and the option that would allow it; exit 1
 */
static void hook_refuse(const struct hook_dir *d, unsigned int i, const struct sockaddr *sa,
			const char *why)
{
	int publish = d == &hk.dirs[DIR_PUBLISH];
	char text[ADDR_STRLEN];

	addr_format(sa, sizeof(struct sockaddr_storage), text, sizeof(text));
	log_die("refused forward '%s=%s' from annotation %s: %s %s: %s; the administrator can allow it with --allow-%s tcp://%s in the hook's arguments",
		d->listen[i], d->target[i], d->annot[i], publish ? "listening address" : "target", text,
		why, d->name, text);
}

/*
 * Does the container share our network namespace (podman --network host)?
 * Then its side is the host's too: an annotation's expose would listen on
 * any host port and its publish connect to any host service, past every
 * rule.  (At createRuntime the container's own code has not started: it
 * cannot change namespaces under us.)
 */
static int hook_container_is_host(void)
{
	char path[64];
	struct stat self, ctr;

	snprintf(path, sizeof(path), "/proc/%ld/ns/net", hk.pid);
	if (stat("/proc/self/ns/net", &self) || stat(path, &ctr))
		return 0;	/* gone: the launcher will say so */
	return self.st_dev == ctr.st_dev && self.st_ino == ctr.st_ino;
}

/*
 * hook_is_local() - would a connection to @sa stay on the host?
 *
 * The kernel's own route lookup (route_is_local(): RTM_GETROUTE, as
 * "ip route get"), so the host's addresses, those added since, AnyIP
 * ranges ("ip route add local 10.99.0.0/16 dev lo", IPv6 too) and
 * broadcast all count, and nothing is bound or sent.  No route at all:
 * a connect() could reach nothing, so not local.  No answer: local, the
 * safe side.
 */
static int hook_is_local(const struct sockaddr *sa)
{
	static int fd = -1;
	int local;

	if (fd < 0 && (fd = route_local_open()) < 0)
		log_die_errno(errno, "cannot check the annotations: cannot open a netlink socket");
	local = route_is_local(fd, sa);
	if (local < 0)
		return errno != ENETUNREACH && errno != EHOSTUNREACH;
	return local;
}

/*
 * Deny @sa as an address of the host's own, once; a full table fails
 * closed.  Not loopback (127.0.0.0/8; ::1 is on the list already): the
 * built-in loopback range denies it, and a rule inside that range names
 * the host by intent (tcp://127.0.0.0/8:5432), where one for a wide range
 * such as 100.64.0.0/10 is about the world outside and must not open an
 * address of the host's inside it (rules_check_narrow()).
 */
static void hook_deny_own(const struct sockaddr *sa)
{
	const struct rule_set *rs = &hk.allow_expose;
	unsigned int n, j;
	const uint8_t *b = addr_bytes(sa, &n, NULL);

	if (b && sa->sa_family == AF_INET && b[0] == 127)
		return;

	for (j = 0; b && j < rs->nbuiltin; j++)
		if (rs->builtin[j].family == sa->sa_family && rs->builtin[j].len == n * 8 &&
		    !memcmp(rs->builtin[j].addr, b, n))
			return;
	if (hk.allow_expose.nbuiltin >= RULES_BUILTIN_MAX)
		log_die("cannot check the annotations: more than %d addresses of the host's own to deny",
			RULES_BUILTIN_MAX);
	rules_add_builtin(&hk.allow_expose, sa);
}

/*
 * hook_check_annotations() - does every forward from an annotation have a
 * rule of the administrator's?  Exit 1 at the first that does not, before
 * anything is started or recorded.
 *
 * publish: the listening address, every port of a range, as the kernel
 * binds it: ::ffff:a.b.c.d is a.b.c.d, and [::] (dual-stack, as the agents
 * bind it) takes every IPv4 address too, so it needs 0.0.0.0 allowed as
 * well.  expose: the target, as it will be connected to from the host's
 * namespace, against the built-in deny list plus any address the host's
 * routes make local (hook_is_local()).
 */
static void hook_check_annotations(void)
{
	int ns_checked = 0;
	unsigned int k, i, p;

	for (k = 0; k < 2; k++) {
		const struct hook_dir *d = &hk.dirs[k];

		for (i = 0; i < d->n; i++) {
			struct addr a;
			unsigned int count;
			const char *why;

			if (!d->annot[i])
				continue;	/* the administrator's own forward */
			if (hk.has_pid && !ns_checked++ && hook_container_is_host())
				log_die("refused forward '%s=%s' from annotation %s: the container shares the host's network namespace, where an annotation's forward would pass every rule",
					d->listen[i], d->target[i], d->annot[i]);
			/* Checked when it was added: it parses. */
			addr_parse_range(k == DIR_PUBLISH ? d->listen[i] : d->target[i], &a, &count);
			addr_unmap(&a.ss);
			/* Local to the host: denied as its own addresses are (every port). */
			if (k == DIR_EXPOSE && hook_is_local((const struct sockaddr *)&a.ss))
				hook_deny_own((const struct sockaddr *)&a.ss);
			for (p = 0; p < count; p++) {
				const struct sockaddr *sa = (const struct sockaddr *)&a.ss;
				unsigned int port = addr_port(&a);

				if (k == DIR_EXPOSE) {
					if (!rules_check_narrow(&hk.allow_expose, sa, &why))
						hook_refuse(d, i, sa, why);
				} else if (!rules_check_narrow(&hk.allow_publish, sa, &why)) {
					hook_refuse(d, i, sa, why);
				} else if (a.ss.ss_family == AF_INET6 &&
					   IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&a.ss)->sin6_addr)) {
					struct sockaddr_in v4 = { .sin_family = AF_INET,
								  .sin_port = htons((uint16_t)port) };

					if (!rules_check_narrow(&hk.allow_publish, (struct sockaddr *)&v4, &why))
						hook_refuse(d, i, (struct sockaddr *)&v4,
							    "taken too by a listen on [::], and no rule covers it");
				}
				addr_set_port(&a, port + 1);
			}
		}
	}
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
	/* 0: no process, as crun says at poststop; as if there were no "pid". */
	if (json_object_object_get_ex(root, "pid", &v)) {
		if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0 ||
		    json_object_get_int64(v) > INT_MAX)
			log_die("bad container state: \"pid\" is not a process id");
		hk.pid = (long)json_object_get_int64(v);
		hk.has_pid = hk.pid > 0;
	}
	if (json_object_object_get_ex(root, "annotations", &ann)) {
		if (!json_object_is_type(ann, json_type_object))
			log_die("bad container state: \"annotations\" is not an object");
		if (json_object_object_get_ex(ann, ANNOT_PUBLISH, &v))
			hook_add_list(&hk.dirs[DIR_PUBLISH], v, ANNOT_PUBLISH);
		if (json_object_object_get_ex(ann, ANNOT_EXPOSE, &v))
			hook_add_list(&hk.dirs[DIR_EXPOSE], v, ANNOT_EXPOSE);
	}
	/* Strings kept by the specs point into root: it stays. */
	hk.state = root;
}

static void hook_state_path(char *path, size_t size)
{
	if ((size_t)snprintf(path, size, "%s/%s.pids", hk.state_dir, hk.id) >= size)
		log_die("cannot record the forwards: state directory path too long");
}

/*
 * "PID START PID START": the two launchers (0 0 for a direction unused).
 * Return: 1 if @text is a record; @recs then holds it.
 */
static int hook_parse_record(const char *text, struct launch_rec recs[2])
{
	long pids[2];
	unsigned long long starts[2];
	char end;
	int i;

	if (sscanf(text, "%ld %llu %ld %llu%c", &pids[0], &starts[0], &pids[1], &starts[1], &end) != 5 ||
	    end != '\n' || pids[0] < 0 || pids[1] < 0 || pids[0] > INT_MAX || pids[1] > INT_MAX)
		return 0;
	for (i = 0; i < 2; i++) {
		recs[i].pid = (pid_t)pids[i];
		recs[i].start = starts[i];
	}
	return 1;
}

/* Is @name what hook_state_path() makes of a container id? */
static int hook_is_record_name(const char *name)
{
	size_t len = strlen(name);

	return len > 5 && len - 5 < sizeof(hk.id) && name[0] != '.' && !strcmp(name + len - 5, ".pids") &&
	       strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == len;
}

/*
 * hook_sweep() - remove the records whose launchers are all gone
 *
 * A creation that failed after this hook said yes never gets a poststop,
 * and a launcher ends with its container anyway: what is left is a stale
 * record.  Only files named as records, plain files, in our directory; a
 * record being written is not one yet (it is renamed into place).
 */
static void hook_sweep(void)
{
	DIR *dir = opendir(hk.state_dir);
	struct dirent *e;

	if (!dir)
		return;
	while ((e = readdir(dir))) {
		char buf[128];
		struct launch_rec recs[2];
		struct stat st;

		if (!hook_is_record_name(e->d_name) ||
		    fstatat(dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISREG(st.st_mode) ||
		    launch_read_small(dirfd(dir), e->d_name, buf, sizeof(buf)) < 0)
			continue;
		/*
		 * Unreadable as a record: it identifies no launcher, so it protects
		 * none.  A launcher exited but not yet reaped (a zombie) is gone.
		 */
		if (hook_parse_record(buf, recs) && (launch_is_launcher(&recs[0]) || launch_is_launcher(&recs[1])))
			continue;
		unlinkat(dirfd(dir), e->d_name, 0);
	}
	closedir(dir);
}

/*
 * poststop: stop what createRuntime started for this id, if anything:
 * SIGTERM, HOOK_STOP_MS to go, then SIGKILL and HOOK_KILL_WAIT_MS more
 * for the ports to come free, all within the runtime's patience.
 */
static int hook_stop(void)
{
	char path[PATH_MAX], buf[128];
	struct launch_rec recs[2];

	hook_state_path(path, sizeof(path));
	if (launch_read_small(AT_FDCWD, path, buf, sizeof(buf)) < 0)
		return 0;	/* nothing started, or already stopped */
	if (hook_parse_record(buf, recs))
		launch_stop(recs, 2, HOOK_STOP_MS, HOOK_KILL_WAIT_MS);
	unlink(path);
	return 0;
}

/* Kill the launchers started so far and reap them: a failed start leaves nothing. */
static void hook_kill_started(void)
{
	int i;

	for (i = 0; i < 2; i++)
		if (hk.dirs[i].pid > 0) {
			kill(hk.dirs[i].pid, SIGKILL);
			waitpid(hk.dirs[i].pid, NULL, 0);
		}
}

/*
 * hook_start() - start the launcher of one direction, detached
 * @d:		the direction
 * @ready:	the datagram socket the launcher says READY=1 on (inherited)
 * @errpipe:	write end for the launcher's stderr until it is ready
 *
 * The arguments are ours; launch_spawn() forks and execs.
 */
static void hook_start(struct hook_dir *d, const char *launcher, int ready, int errpipe)
{
	char ns[64], pid_text[32];
	const char *argv[16 + 4 * HOOK_MAX_SPECS + 2 * HOOK_MAX_PROXY_FROM];
	unsigned int i;
	int argc = 0;

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
	/* Bound and joined as we are, then nobody: annotations pick the ports. */
	argv[argc++] = "--user";
	argv[argc++] = hk.user;
	/* Once we are gone, nobody reads its stderr: syslog, where there is one. */
	if (access("/dev/log", W_OK) == 0) {
		argv[argc++] = "--log";
		argv[argc++] = "syslog";
	}
	argv[argc] = NULL;

	d->pid = launch_spawn(launcher, argv, ready, errpipe, NULL, 0);
	if (d->pid < 0) {
		int err = errno;

		hook_kill_started();	/* the other direction's, if any */
		log_die_errno(err, "cannot start the %s forwards", d->name);
	}
}

/* createRuntime: start, wait for every READY=1, record the pids. */
static int hook_create(long long deadline)
{
	char launcher[PATH_MAX], path[PATH_MAX], tmp[PATH_MAX], why[600], late[64], rec[96];
	int ready[2], errp[2], i, fd;
	unsigned int want = 0;
	pid_t pids[2];

	if (!hk.dirs[DIR_PUBLISH].n && !hk.dirs[DIR_EXPOSE].n)
		return 0;	/* a container without forwards */
	hook_check_annotations();
	if (!hk.has_pid)
		log_die("bad container state: no \"pid\", so no namespace to forward to");
	if (launch_find(launcher, sizeof(launcher)))
		log_die("cannot find netns-tcp-bridge next to %s or in ../../bin", launcher);
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
		pids[want++] = hk.dirs[i].pid;
	}
	close(ready[1]);
	close(errp[1]);
	/* Time running out and a launcher's failure read alike but for the first words. */
	snprintf(late, sizeof(late), "not ready within %d ms", HOOK_READY_MS);
	if (launch_wait_ready(ready[0], errp[0], pids, want, deadline, late, why, sizeof(why))) {
		hook_kill_started();
		log_die("cannot start the forwards of container %s: %s", hk.id, why);
	}
	for (i = 0; i < 2; i++)
		if (hk.dirs[i].pid > 0)
			hk.dirs[i].start = launch_start_time(hk.dirs[i].pid);
	hook_state_path(path, sizeof(path));
	/* Written aside and renamed: hook_sweep() never sees half a record. */
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", hk.state_dir, hk.id) >= sizeof(tmp))
		log_die("cannot record the forwards: state directory path too long");
	snprintf(rec, sizeof(rec), "%d %llu %d %llu\n", (int)hk.dirs[0].pid, hk.dirs[0].start,
		 (int)hk.dirs[1].pid, hk.dirs[1].start);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || write(fd, rec, strlen(rec)) != (ssize_t)strlen(rec) || close(fd) ||
	    rename(tmp, path)) {
		int err = errno;

		hook_kill_started();
		if (fd >= 0)
			unlink(tmp);
		log_die_errno(err, "cannot record the forwards in %s", path);
	}
	return 0;
}

/*
 * hook_uid_map() - are we root of the initial user namespace, and what
 * is our uid as the namespace above ours sees it?
 * @outer:	that uid (our own where no line maps it)
 *
 * Rootless podman runs hooks as uid 0 of the user's namespace: root
 * there, but an ordinary user on the host, who cannot write to /run.
 *
 * Return: 1 if really root.
 */
static int hook_uid_map(uid_t *outer)
{
	char buf[4096], *line, *save = NULL;
	uid_t me = geteuid();
	int lines = 0, initial = 0;

	*outer = me;
	if (launch_read_small(AT_FDCWD, "/proc/self/uid_map", buf, sizeof(buf)) <= 0)
		return 0;	/* cannot tell: not root, which is the safe side */
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long in, out, count;

		if (sscanf(line, "%lu %lu %lu", &in, &out, &count) != 3)
			continue;
		lines++;
		initial = in == 0 && out == 0 && count == 4294967295UL;
		if (me >= in && me - in < count)
			*outer = (uid_t)(out + (me - in));
	}
	return !me && lines == 1 && initial;
}

/*
 * hook_private_dir() - create @dir 0700, or accept it if it is already
 * ours: a real directory (no symlink), owned by us, nobody else let in.
 * Where it lives (/tmp) others may create names first.
 */
static void hook_private_dir(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0700) && errno != EEXIST)
		log_die_errno(errno, "cannot create the state directory %s", dir);
	if (lstat(dir, &st))
		log_die_errno(errno, "cannot use the state directory %s", dir);
	if (!S_ISDIR(st.st_mode))
		log_die("cannot use the state directory %s: not a directory (a symlink?)", dir);
	if (st.st_uid != geteuid())
		log_die("cannot use the state directory %s: owned by uid %u, not by us (uid %u)", dir,
			(unsigned int)st.st_uid, (unsigned int)geteuid());
	if (st.st_mode & 077)
		log_die("cannot use the state directory %s: mode %03o lets others in (want 0700)", dir,
			(unsigned int)(st.st_mode & 0777));
}

/*
 * hook_default_state_dir() - where the records go, after who we really are
 *
 * Not $XDG_RUNTIME_DIR: podman 4.3 runs createRuntime hooks (through the
 * OCI runtime) with its environment but poststop hooks with an empty one,
 * so poststop would look elsewhere than createRuntime wrote.  The uid
 * alone gives the same answer to both: the user's runtime directory
 * (/run/user/UID, where a login made it: private, owned by us), else a
 * private /tmp/netns-tcp-bridge-UID.  UID is the host's view of ours: uid 0
 * of each rootless user's namespace is somebody else.
 */
static const char *hook_default_state_dir(void)
{
	static char dir[PATH_MAX];
	struct stat st;
	uid_t outer;

	if (hook_uid_map(&outer)) {
		if (mkdir("/run/netns-tcp-bridge", 0755) && errno != EEXIST)
			log_die_errno(errno, "cannot create /run/netns-tcp-bridge");
		return "/run/netns-tcp-bridge/oci";
	}
	snprintf(dir, sizeof(dir), "/run/user/%u", (unsigned int)outer);
	if (!lstat(dir, &st) && S_ISDIR(st.st_mode) && st.st_uid == geteuid() && !(st.st_mode & 077)) {
		snprintf(dir, sizeof(dir), "/run/user/%u/netns-tcp-bridge", (unsigned int)outer);
		hook_private_dir(dir);
		snprintf(dir, sizeof(dir), "/run/user/%u/netns-tcp-bridge/oci", (unsigned int)outer);
		hook_private_dir(dir);
		return dir;
	}
	snprintf(dir, sizeof(dir), "/tmp/netns-tcp-bridge-%u", (unsigned int)outer);
	hook_private_dir(dir);
	return dir;
}

int main(int argc, char **argv)
{
	long long deadline;
	char *state;
	int c;

	util_std_fds();
	log_init("ntb-oci-hook");
	deadline = util_now_ms() + HOOK_READY_MS;
	rules_init(&hk.allow_publish);
	hk.allow_publish.nbuiltin = 0;	/* binding, not reaching: hook_check_annotations() */
	rules_init(&hk.allow_expose);
	opterr = 0;
	while ((c = cli_getopt(argc, argv, ":h", long_opts)) != -1) {
		switch (c) {
		case OPT_PUBLISH:
			hook_add_spec(&hk.dirs[DIR_PUBLISH], optarg, "--publish", NULL);
			break;
		case OPT_EXPOSE:
			hook_add_spec(&hk.dirs[DIR_EXPOSE], optarg, "--expose", NULL);
			break;
		case OPT_STATE_DIR:
			hk.state_dir = optarg;
			break;
		case OPT_ALLOW_PUBLISH:
		case OPT_ALLOW_EXPOSE: {
			const char *why;

			if (rules_add(c == OPT_ALLOW_PUBLISH ? &hk.allow_publish : &hk.allow_expose, optarg, 1,
				      &why))
				log_usage_error("bad value '%s' for --allow-%s: %s", optarg,
						c == OPT_ALLOW_PUBLISH ? "publish" : "expose", why);
			break;
		}
		case OPT_USER: {
			uid_t uid;

			/* As the launcher takes it: a name, or a uid with a passwd entry. */
			if (!getpwnam(optarg) && (util_parse_uid(optarg, &uid) || !getpwuid(uid)))
				log_usage_error("bad value '%s' for --user: no such user", optarg);
			hk.user = optarg;
			break;
		}
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
	if (!hk.state_dir)
		hk.state_dir = hook_default_state_dir();
	state = hook_read_state(deadline);
	hook_parse_state(state);
	free(state);	/* parsed: json-c holds copies */
	hook_sweep();
	if (!strcmp(hk.status, "stopped"))
		return hook_stop();
	return hook_create(deadline);
}
