// SPDX-License-Identifier: MIT
/*
 * cni_portmap.c - ntb-portmap: a chained CNI plugin that publishes a
 * container's ports with netns-tcp-bridge instead of DNAT rules.
 *
 * Theory of operation: the runtime runs us after the network's main
 * plugin, with CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS and CNI_IFNAME in
 * the environment and the network configuration on stdin (CNI 0.4.0 and
 * 1.0.0).  At ADD, for each tcp entry of runtimeConfig.portMappings we
 * bind hostIP:hostPort here, in the runtime's namespace (0.0.0.0 and,
 * where the host has IPv6, [::] with IPV6_V6ONLY when hostIP is empty),
 * so that a port in use fails the ADD with that port's name before
 * anything starts.  The sockets go to one launcher (-L FD), started
 * detached, which forwards each one to 127.0.0.1:containerPort inside
 * CNI_NETNS: the container's own loopback, which a DNAT rule cannot
 * reach.  Once the launcher says READY=1 its pid and start time are
 * recorded under the state directory, per container id and interface,
 * and prevResult is passed on.  DEL stops the recorded launcher (if it
 * is still the same process) and removes the record; CHECK fails when
 * the launcher is gone.
 *
 * Every failure is a CNI error result on stdout, one line, exit 1.  The
 * plugin is short-lived and not sandboxed: the launcher and its agents
 * drop privileges and sandbox themselves.
 */
#include "addr.h"
#include "launch.h"
#include "log.h"
#include "util.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define PM_CONF_MAX	(1 << 20)	/* bytes of configuration we read */
#define PM_MAX_LISTEN	1024		/* the launcher's limit of listening sockets */
#define PM_READY_MS	5000		/* how long the launcher may take to serve */
#define PM_STOP_MS	2000		/* how long it may take to stop on SIGTERM */
#define PM_KILL_WAIT_MS	1000		/* and to be gone after SIGKILL: ports free */
#define PM_STATE_DIR	"/run/netns-tcp-bridge/cni"
#define PM_NAME_CHARS	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"

/* CNI error codes: the specification's, then ours (100 and up). */
enum {
	CNI_ERR_VERSION = 1,		/* incompatible CNI version */
	CNI_ERR_ENV = 4,		/* invalid necessary environment variables */
	CNI_ERR_IO = 5,			/* I/O failure */
	CNI_ERR_DECODE = 6,		/* failed to decode content */
	CNI_ERR_CONFIG = 7,		/* invalid network config */
	PM_ERR_PORT_IN_USE = 100,	/* a host port is taken */
	PM_ERR_START = 101,		/* the launcher could not be started */
	PM_ERR_GONE = 102,		/* CHECK: the forwards are not running */
	PM_ERR_RUNNING = 103,		/* ADD: already running for this id and interface */
};

static const char *const pm_versions[] = { "0.4.0", "1.0.0" };

struct pm_listener {
	struct sockaddr_storage ss;
	socklen_t len;
	unsigned int container_port;
	int fd;
};

static struct {
	const char *version;		/* the configuration's cniVersion, once known */
	const char *id, *ifname, *netns;
	const char *state_dir;
	const char *user;
	const char *proxy_protocol;
	int transparent;
	int workers;			/* 0: the launcher's default */
	int udp_ignore;
	struct json_object *conf, *prev;
	struct pm_listener lst[PM_MAX_LISTEN];
	unsigned int nlst;
	unsigned int ntcp;		/* tcp mappings */
	char record[PATH_MAX];
} pm = { .version = "1.0.0", .user = "nobody" };

static const char usage[] =
"Usage: ntb-portmap  (a CNI plugin: run by a container runtime)\n"
"A chained CNI plugin for portMappings: each tcp mapping's host port is\n"
"forwarded by netns-tcp-bridge to 127.0.0.1:containerPort in the container's\n"
"network namespace.  CNI_COMMAND (ADD, DEL, CHECK, VERSION), CNI_CONTAINERID,\n"
"CNI_NETNS and CNI_IFNAME come from the environment, the network\n"
"configuration from stdin; the result, or a CNI error, goes to stdout.\n"
"Configuration keys: user, stateDir, transparentSource, proxyProtocol,\n"
"workers, udp; see ntb-portmap(8).\n"
"  -h, --help                 this text\n"
"      --version              print the version and the CNI versions\n";

/* The error result, one line on stdout, and exit 1. */
static noreturn __attribute__((format(printf, 3, 4)))
void pm_fail(int code, const char *details, const char *fmt, ...)
{
	struct json_object *o = json_object_new_object();
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_object_add(o, "cniVersion", json_object_new_string(pm.version));
	json_object_object_add(o, "code", json_object_new_int(code));
	json_object_object_add(o, "msg", json_object_new_string(msg));
	if (details && *details)
		json_object_object_add(o, "details", json_object_new_string(details));
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	fflush(stdout);
	_exit(1);
}

static void pm_print(struct json_object *o)
{
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	if (fflush(stdout))
		_exit(1);
}

/* The configuration from stdin: at most PM_CONF_MAX bytes. */
static char *pm_read_stdin(void)
{
	static char buf[PM_CONF_MAX + 1];
	size_t len = 0;

	for (;;) {
		ssize_t n = read(STDIN_FILENO, buf + len, PM_CONF_MAX + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			pm_fail(CNI_ERR_IO, strerror(errno), "cannot read the network configuration");
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > PM_CONF_MAX)
			pm_fail(CNI_ERR_DECODE, NULL, "bad network configuration: more than %d bytes",
				PM_CONF_MAX);
	}
	buf[len] = '\0';
	return buf;
}

static int pm_version_supported(const char *v)
{
	size_t i;

	for (i = 0; i < sizeof(pm_versions) / sizeof(pm_versions[0]); i++)
		if (!strcmp(v, pm_versions[i]))
			return 1;
	return 0;
}

/* CNI_* variables: set, and where they name a file, a plain name. */
static const char *pm_env(const char *name, int plain)
{
	const char *v = getenv(name);

	if (!v || !*v)
		pm_fail(CNI_ERR_ENV, NULL, "%s is not set", name);
	/* The id and the interface make the record's file name. */
	if (plain && (strlen(v) > 200 || v[0] == '.' || strspn(v, PM_NAME_CHARS) != strlen(v)))
		pm_fail(CNI_ERR_ENV, NULL, "%s '%s' is not a plain name (letters, digits, '._-')", name, v);
	return v;
}

/* A member of the configuration of type @type, or NULL if absent. */
static struct json_object *pm_member(struct json_object *obj, const char *key, json_type type,
				     const char *where)
{
	struct json_object *v;

	if (!json_object_object_get_ex(obj, key, &v) || json_object_is_type(v, json_type_null))
		return NULL;
	if (!json_object_is_type(v, type))
		pm_fail(CNI_ERR_CONFIG, NULL, "bad network configuration: %s%s is not %s", where, key,
			type == json_type_string ? "a string" : type == json_type_int ? "an integer" :
			type == json_type_boolean ? "true or false" : type == json_type_array ? "an array" :
			"an object");
	return v;
}

/* A port number, 1 to 65535. */
static unsigned int pm_port(struct json_object *m, const char *key, unsigned int i)
{
	char where[64];
	struct json_object *v;
	int64_t port;

	snprintf(where, sizeof(where), "portMappings[%u].", i);
	v = pm_member(m, key, json_type_int, where);
	if (!v)
		pm_fail(CNI_ERR_CONFIG, NULL, "bad network configuration: portMappings[%u] has no %s", i, key);
	port = json_object_get_int64(v);
	if (port < 1 || port > 65535)
		pm_fail(CNI_ERR_CONFIG, NULL, "bad network configuration: portMappings[%u].%s %lld is not a port (1-65535)",
			i, key, (long long)port);
	return (unsigned int)port;
}

/* Does this host have IPv6 at all?  Without the module, no AF_INET6 socket. */
static int pm_has_ipv6(void)
{
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

static void pm_add_listener(const void *sa, socklen_t len, unsigned int cport)
{
	if (pm.nlst >= PM_MAX_LISTEN)
		pm_fail(CNI_ERR_CONFIG, NULL, "too many port mappings: at most %d listening sockets",
			PM_MAX_LISTEN);
	memset(&pm.lst[pm.nlst].ss, 0, sizeof(pm.lst[pm.nlst].ss));
	memcpy(&pm.lst[pm.nlst].ss, sa, len);
	pm.lst[pm.nlst].len = len;
	pm.lst[pm.nlst].container_port = cport;
	pm.lst[pm.nlst].fd = -1;
	pm.nlst++;
}

/* One portMappings entry: checked, and its listening addresses added. */
static void pm_mapping(struct json_object *m, unsigned int i, int ipv6)
{
	struct json_object *v;
	const char *proto = "tcp", *host_ip = "";
	unsigned int hport, cport;
	char where[64];

	if (!json_object_is_type(m, json_type_object))
		pm_fail(CNI_ERR_CONFIG, NULL, "bad network configuration: portMappings[%u] is not an object", i);
	snprintf(where, sizeof(where), "portMappings[%u].", i);
	hport = pm_port(m, "hostPort", i);
	cport = pm_port(m, "containerPort", i);
	v = pm_member(m, "protocol", json_type_string, where);
	if (v)
		proto = json_object_get_string(v);
	v = pm_member(m, "hostIP", json_type_string, where);
	if (v)
		host_ip = json_object_get_string(v);
	if (!strcasecmp(proto, "udp") || !strcasecmp(proto, "sctp")) {
		/* Not ours to forward; left to another plugin only if asked. */
		if (pm.udp_ignore)
			return;
		pm_fail(CNI_ERR_CONFIG, NULL,
			"portMappings[%u]: %s port %u is not forwarded by ntb-portmap (tcp only); set \"udp\": \"ignore\" to pass such mappings over",
			i, proto, hport);
	}
	if (strcasecmp(proto, "tcp") != 0)
		pm_fail(CNI_ERR_CONFIG, NULL, "bad network configuration: portMappings[%u].protocol '%s' is not tcp, udp or sctp",
			i, proto);
	pm.ntcp++;
	if (!*host_ip) {
		struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)hport) };
		struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)hport) };

		sin.sin_addr.s_addr = htonl(INADDR_ANY);
		pm_add_listener(&sin, sizeof(sin), cport);
		if (ipv6) {
			sin6.sin6_addr = in6addr_any;
			pm_add_listener(&sin6, sizeof(sin6), cport);
		}
	} else {
		struct sockaddr_storage ss = { 0 };
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		if (inet_pton(AF_INET, host_ip, &sin->sin_addr) == 1) {
			sin->sin_family = AF_INET;
			sin->sin_port = htons((uint16_t)hport);
			pm_add_listener(&ss, sizeof(*sin), cport);
		} else if (inet_pton(AF_INET6, host_ip, &sin6->sin6_addr) == 1) {
			sin6->sin6_family = AF_INET6;
			sin6->sin6_port = htons((uint16_t)hport);
			pm_add_listener(&ss, sizeof(*sin6), cport);
		} else {
			pm_fail(CNI_ERR_CONFIG, NULL, "bad network configuration: portMappings[%u].hostIP '%s' is not an IPv4 or IPv6 address",
				i, host_ip);
		}
	}
}

/* The plugin's own keys, and runtimeConfig.portMappings. */
static void pm_parse_conf(const char *text)
{
	enum json_tokener_error jerr;
	struct json_object *v, *rc, *maps;
	int ipv6;

	pm.conf = json_tokener_parse_verbose(text, &jerr);
	if (!pm.conf)
		pm_fail(CNI_ERR_DECODE, NULL, "bad network configuration: %s", json_tokener_error_desc(jerr));
	if (!json_object_is_type(pm.conf, json_type_object))
		pm_fail(CNI_ERR_DECODE, NULL, "bad network configuration: not a JSON object");
	v = pm_member(pm.conf, "cniVersion", json_type_string, "");
	if (!v)
		pm_fail(CNI_ERR_DECODE, NULL, "bad network configuration: no cniVersion");
	if (!pm_version_supported(json_object_get_string(v)))
		pm_fail(CNI_ERR_VERSION, NULL, "cniVersion %s is not supported (ntb-portmap supports 0.4.0 and 1.0.0)",
			json_object_get_string(v));
	pm.version = json_object_get_string(v);

	v = pm_member(pm.conf, "user", json_type_string, "");
	if (v) {
		pm.user = json_object_get_string(v);
		if (*pm.user && !getpwnam(pm.user))
			pm_fail(CNI_ERR_CONFIG, NULL, "bad network configuration: user '%s': no such user", pm.user);
	}
	v = pm_member(pm.conf, "stateDir", json_type_string, "");
	if (v) {
		pm.state_dir = json_object_get_string(v);
		if (pm.state_dir[0] != '/' || strlen(pm.state_dir) > PATH_MAX - 300)
			pm_fail(CNI_ERR_CONFIG, NULL, "bad network configuration: stateDir '%s' is not an absolute path",
				pm.state_dir);
	}
	v = pm_member(pm.conf, "transparentSource", json_type_boolean, "");
	pm.transparent = v && json_object_get_boolean(v);
	v = pm_member(pm.conf, "proxyProtocol", json_type_string, "");
	if (v) {
		pm.proxy_protocol = json_object_get_string(v);
		if (strcmp(pm.proxy_protocol, "v1") != 0 && strcmp(pm.proxy_protocol, "v2") != 0)
			pm_fail(CNI_ERR_CONFIG, NULL, "bad network configuration: proxyProtocol '%s' is not v1 or v2",
				pm.proxy_protocol);
	}
	v = pm_member(pm.conf, "workers", json_type_int, "");
	if (v) {
		int64_t w = json_object_get_int64(v);

		if (w < 1 || w > 64)
			pm_fail(CNI_ERR_CONFIG, NULL, "bad network configuration: workers %lld is not 1 to 64",
				(long long)w);
		pm.workers = (int)w;
	}
	v = pm_member(pm.conf, "udp", json_type_string, "");
	if (v) {
		if (!strcmp(json_object_get_string(v), "ignore"))
			pm.udp_ignore = 1;
		else if (strcmp(json_object_get_string(v), "refuse") != 0)
			pm_fail(CNI_ERR_CONFIG, NULL, "bad network configuration: udp '%s' is not \"refuse\" or \"ignore\"",
				json_object_get_string(v));
	}
	pm.prev = pm_member(pm.conf, "prevResult", json_type_object, "");

	rc = pm_member(pm.conf, "runtimeConfig", json_type_object, "");
	maps = rc ? pm_member(rc, "portMappings", json_type_array, "runtimeConfig.") : NULL;
	if (maps) {
		size_t i, n = json_object_array_length(maps);

		ipv6 = pm_has_ipv6();
		for (i = 0; i < n; i++)
			pm_mapping(json_object_array_get_idx(maps, i), (unsigned int)i, ipv6);
	}
}

static void pm_record_path(void)
{
	if ((size_t)snprintf(pm.record, sizeof(pm.record), "%s/%s@%s", pm.state_dir, pm.id, pm.ifname) >=
	    sizeof(pm.record))
		pm_fail(CNI_ERR_CONFIG, NULL, "stateDir %s: path too long", pm.state_dir);
}

/* "PID START\n", as ADD wrote it. */
static int pm_parse_record(const char *text, struct launch_rec *r)
{
	long pid;
	char end;

	if (sscanf(text, "%ld %llu%c", &pid, &r->start, &end) != 3 || end != '\n' || pid <= 0 ||
	    pid > INT_MAX)
		return -1;
	r->pid = (pid_t)pid;
	return 0;
}

/* The record of this id and interface: 1 if it names a running launcher. */
static int pm_read_record(struct launch_rec *r)
{
	char buf[128];

	r->pid = 0;
	r->start = 0;
	if (launch_read_small(AT_FDCWD, pm.record, buf, sizeof(buf)) < 0 || pm_parse_record(buf, r))
		return 0;
	return launch_is_launcher(r);
}

/* Is @name what pm_record_path() makes? ("ID@IFNAME") */
static int pm_is_record_name(const char *name)
{
	const char *at = strchr(name, '@');

	return at && at != name && name[0] != '.' && at[1] && at[1] != '.' && !strchr(at + 1, '@') &&
	       strspn(name, PM_NAME_CHARS "@") == strlen(name);
}

/*
 * pm_sweep() - remove records whose launcher is gone
 *
 * A runtime that never called DEL (it crashed, the node rebooted into
 * the same /run) leaves records naming nothing; a recycled pid fails the
 * start-time check, so such a record protects and stops nothing.
 */
static void pm_sweep(void)
{
	DIR *dir = opendir(pm.state_dir);
	struct dirent *e;

	if (!dir)
		return;
	while ((e = readdir(dir))) {
		struct launch_rec r;
		struct stat st;
		char buf[128];

		if (!pm_is_record_name(e->d_name) ||
		    fstatat(dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISREG(st.st_mode) ||
		    launch_read_small(dirfd(dir), e->d_name, buf, sizeof(buf)) < 0)
			continue;
		if (!pm_parse_record(buf, &r) && launch_is_launcher(&r))
			continue;
		unlinkat(dirfd(dir), e->d_name, 0);
	}
	closedir(dir);
}

/*
 * pm_private_dir() - create @dir with @mode, or accept it if it is already
 * ours: a real directory (no symlink) owned by us that nobody else may
 * write to.  Records name processes we signal: only we may write them.
 */
static void pm_private_dir(const char *dir, mode_t mode)
{
	struct stat st;

	if (mkdir(dir, mode) && errno != EEXIST)
		pm_fail(CNI_ERR_IO, strerror(errno), "cannot create the state directory %s", dir);
	if (lstat(dir, &st))
		pm_fail(CNI_ERR_IO, strerror(errno), "cannot use the state directory %s", dir);
	if (!S_ISDIR(st.st_mode))
		pm_fail(CNI_ERR_IO, NULL, "cannot use the state directory %s: not a directory (a symlink?)", dir);
	if (st.st_uid != geteuid() || (st.st_mode & 022))
		pm_fail(CNI_ERR_IO, NULL, "cannot use the state directory %s: owned by uid %u, mode %03o (want ours, not writable by others)",
			dir, (unsigned int)st.st_uid, (unsigned int)(st.st_mode & 0777));
}

/*
 * pm_bind() - bind and listen on every mapping's host address, here
 *
 * Done by us, not the launcher, so that a port in use is named exactly
 * (and found before anything runs), and so that [::] is IPv6 only and
 * leaves 0.0.0.0 to its own socket, as the runtime's hostIP "" means.
 */
static void pm_bind(void)
{
	unsigned int i;
	int one = 1;

	for (i = 0; i < pm.nlst; i++) {
		struct pm_listener *l = &pm.lst[i];
		char text[INET6_ADDRSTRLEN + 16];
		int err;

		addr_format((struct sockaddr *)&l->ss, l->len, text, sizeof(text));
		l->fd = socket(l->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (l->fd < 0)
			pm_fail(PM_ERR_START, strerror(errno), "cannot create a socket for %s", text);
		setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (l->ss.ss_family == AF_INET6 &&
		    setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)))
			pm_fail(PM_ERR_START, strerror(errno), "cannot make %s IPv6 only", text);
		if (!bind(l->fd, (struct sockaddr *)&l->ss, l->len) && !listen(l->fd, SOMAXCONN))
			continue;
		err = errno;
		if (err == EADDRINUSE)
			pm_fail(PM_ERR_PORT_IN_USE, strerror(err), "host port %u is already in use (%s)",
				(unsigned int)ntohs(((struct sockaddr_in *)&l->ss)->sin_port), text);
		pm_fail(PM_ERR_START, strerror(err), "cannot listen on %s", text);
	}
}

/* ADD: bind, start the launcher, wait for READY=1, record it, pass prevResult on. */
static void pm_add(void)
{
	char launcher[PATH_MAX], why[512], targets[PM_MAX_LISTEN][32], fds[PM_MAX_LISTEN][16];
	char workers[16], rec[64], tmp[PATH_MAX];
	const char *argv[16 + 4 * PM_MAX_LISTEN];
	int keep[PM_MAX_LISTEN], ready[2], errp[2], argc = 0, fd, status;
	struct launch_rec r = { 0 };
	unsigned int i;

	if (!pm.prev)
		pm_fail(CNI_ERR_CONFIG, NULL, "no prevResult: ntb-portmap is a chained plugin, after the network's main plugin");
	if (!json_object_object_get_ex(pm.prev, "cniVersion", NULL))
		json_object_object_add(pm.prev, "cniVersion", json_object_new_string(pm.version));
	if (!pm.nlst) {
		pm_print(pm.prev);
		return;
	}
	if (pm_read_record(&r))
		pm_fail(PM_ERR_RUNNING, NULL, "container %s interface %s already has its port mappings (launcher %d): DEL first",
			pm.id, pm.ifname, (int)r.pid);
	if (launch_find(launcher, sizeof(launcher)))
		pm_fail(PM_ERR_START, NULL, "cannot find netns-tcp-bridge next to %s or in ../../bin", launcher);
	pm_bind();

	argv[argc++] = "netns-tcp-bridge";
	for (i = 0; i < pm.nlst; i++) {
		keep[i] = pm.lst[i].fd;
		snprintf(fds[i], sizeof(fds[i]), "%d", pm.lst[i].fd);
		/* The container's own loopback: a server there is reached too. */
		snprintf(targets[i], sizeof(targets[i]), "127.0.0.1:%u", pm.lst[i].container_port);
		argv[argc++] = "-L";
		argv[argc++] = fds[i];
		argv[argc++] = "-c";
		argv[argc++] = targets[i];
	}
	argv[argc++] = "-t";
	argv[argc++] = pm.netns;
	/* The agents need no privilege once bound and joined: whoever made the pod picked the ports. */
	if (geteuid() == 0 && *pm.user) {
		argv[argc++] = "--user";
		argv[argc++] = pm.user;
	}
	if (pm.workers) {
		snprintf(workers, sizeof(workers), "%d", pm.workers);
		argv[argc++] = "--workers";
		argv[argc++] = workers;
	}
	if (pm.proxy_protocol) {
		argv[argc++] = "--proxy-protocol";
		argv[argc++] = pm.proxy_protocol;
	}
	if (pm.transparent)
		argv[argc++] = "--transparent-source";
	/* Once we are gone, nobody reads its stderr: syslog, where there is one. */
	if (access("/dev/log", W_OK) == 0) {
		argv[argc++] = "--log";
		argv[argc++] = "syslog";
	}
	argv[argc] = NULL;

	pm_private_dir(pm.state_dir, 0700);
	pm_sweep();
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, ready) || pipe2(errp, O_CLOEXEC | O_NONBLOCK))
		pm_fail(PM_ERR_START, strerror(errno), "cannot start the forwards");
	signal(SIGPIPE, SIG_IGN);
	r.pid = launch_spawn(launcher, argv, ready[1], errp[1], keep, pm.nlst);
	if (r.pid < 0)
		pm_fail(PM_ERR_START, strerror(errno), "cannot start %s", launcher);
	close(ready[1]);
	close(errp[1]);
	for (i = 0; i < pm.nlst; i++)
		close(pm.lst[i].fd);
	if (launch_wait_ready(ready[0], errp[0], &r.pid, 1, util_now_ms() + PM_READY_MS, "not ready in time",
			      why, sizeof(why))) {
		kill(r.pid, SIGKILL);
		waitpid(r.pid, &status, 0);
		pm_fail(PM_ERR_START, why, "cannot start the port mappings of container %s: %s", pm.id, why);
	}
	r.start = launch_start_time(r.pid);
	/* Written aside and renamed: pm_sweep() never sees half a record. */
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.%s@%s.tmp", pm.state_dir, pm.id, pm.ifname) >= sizeof(tmp))
		tmp[0] = '\0';
	snprintf(rec, sizeof(rec), "%d %llu\n", (int)r.pid, r.start);
	fd = *tmp ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600) : -1;
	if (fd < 0 || write(fd, rec, strlen(rec)) != (ssize_t)strlen(rec) || close(fd) ||
	    rename(tmp, pm.record)) {
		int err = errno;

		kill(r.pid, SIGKILL);
		waitpid(r.pid, &status, 0);
		if (*tmp)
			unlink(tmp);
		pm_fail(CNI_ERR_IO, strerror(err), "cannot record the port mappings in %s", pm.record);
	}
	pm_print(pm.prev);
}

/* DEL: stop what ADD started, if anything; success either way. */
static void pm_del(void)
{
	struct launch_rec r;

	if (pm_read_record(&r))
		launch_stop(&r, 1, PM_STOP_MS, PM_KILL_WAIT_MS);
	if (unlink(pm.record) && errno != ENOENT)
		pm_fail(CNI_ERR_IO, strerror(errno), "cannot remove the record %s", pm.record);
}

/* CHECK: the launcher ADD started is still running (if it started one). */
static void pm_check(void)
{
	struct launch_rec r;

	if (!pm.nlst)
		return;
	if (!pm_read_record(&r))
		pm_fail(PM_ERR_GONE, NULL, "the port mappings of container %s interface %s are not running", pm.id,
			pm.ifname);
}

/* VERSION: the configuration may be empty; its cniVersion, if any, is echoed. */
static void pm_version(void)
{
	struct json_object *o = json_object_new_object(), *list = json_object_new_array(), *conf, *v;
	char *text = pm_read_stdin();
	size_t i;

	conf = json_tokener_parse(text);
	if (conf && json_object_is_type(conf, json_type_object) &&
	    json_object_object_get_ex(conf, "cniVersion", &v) && json_object_is_type(v, json_type_string))
		pm.version = json_object_get_string(v);
	for (i = 0; i < sizeof(pm_versions) / sizeof(pm_versions[0]); i++)
		json_object_array_add(list, json_object_new_string(pm_versions[i]));
	json_object_object_add(o, "cniVersion", json_object_new_string(pm.version));
	json_object_object_add(o, "supportedVersions", list);
	pm_print(o);
	/* Freed though we exit next, so that a leak checker sees none. */
	json_object_put(o);
	pm.version = "";	/* it pointed into conf */
	json_object_put(conf);
}

int main(int argc, char **argv)
{
	/* A local: clang's analyzer loses pm's fields across pm_read_stdin(). */
	const char *command;

	util_std_fds();
	log_init("ntb-portmap");
	if (argc > 1) {
		if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
			fputs(usage, stdout);
			return 0;
		}
		if (!strcmp(argv[1], "--version")) {
			printf("ntb-portmap %s (CNI 0.4.0, 1.0.0)\n", NTB_VERSION);
			return 0;
		}
		log_usage_error("unexpected argument '%s': a CNI plugin takes CNI_COMMAND and stdin (see --help)",
				argv[1]);
	}
	command = getenv("CNI_COMMAND");
	if (!command || !*command)
		pm_fail(CNI_ERR_ENV, NULL, "CNI_COMMAND is not set");
	if (!strcmp(command, "VERSION")) {
		pm_version();
		return 0;
	}
	if (strcmp(command, "ADD") != 0 && strcmp(command, "DEL") != 0 && strcmp(command, "CHECK") != 0)
		pm_fail(CNI_ERR_ENV, NULL, "CNI_COMMAND '%s' is not ADD, DEL, CHECK or VERSION", command);
	pm_parse_conf(pm_read_stdin());
	pm.id = pm_env("CNI_CONTAINERID", 1);
	pm.ifname = pm_env("CNI_IFNAME", 1);
	/* DEL must work when the namespace is already gone. */
	if (strcmp(command, "DEL") != 0)
		pm.netns = pm_env("CNI_NETNS", 0);
	if (!pm.state_dir) {
		if (!strcmp(command, "ADD") && mkdir("/run/netns-tcp-bridge", 0755) && errno != EEXIST)
			pm_fail(CNI_ERR_IO, strerror(errno), "cannot create /run/netns-tcp-bridge");
		pm.state_dir = PM_STATE_DIR;
	}
	pm_record_path();
	if (!strcmp(command, "ADD"))
		pm_add();
	else if (!strcmp(command, "DEL"))
		pm_del();
	else
		pm_check();
	return 0;
}
