// SPDX-License-Identifier: MIT
/*
 * policy.c - the privilege sequence, run once per process as the last step
 * before serving.
 *
 * Theory of operation, in the order policy_apply() runs it:
 *   1. empty the bounding set, when CAP_SETPCAP allows it (it must be
 *      held, so this comes first);
 *   2. switch to --user (setgroups, setresgid, setresuid) if asked: needs
 *      CAP_SETUID/CAP_SETGID, so it comes before the capability drop;
 *   3. drop the ambient, effective, permitted and inheritable sets; no
 *      role keeps any capability at serving time;
 *   4. PR_SET_NO_NEW_PRIVS and PR_SET_DUMPABLE 0;
 *   5. stdin and stdout onto /dev/null unless the role serves with them,
 *      every fd above 2 the role does not serve with closed;
 *   6. resource limits;
 *   7. the role's seccomp allowlist (policy/syscalls.c), default action
 *      kill the process.
 * Any failure is fatal: an agent never serves with more than it should.
 *
 * What the C library may open on its own later, with no open() left:
 * malloc's arena limit (fixed by relay_init() with M_ARENA_MAX, since past
 * eight arenas glibc reads /sys/devices/system/cpu/online); the first trim
 * of a thread arena's heap, which reads /proc/sys/vm/overcommit_memory
 * (policy_apply() stops trimming: freed memory stays for reuse; a worker
 * was killed so after 1,000 connections ended at once); the time zone
 * (nothing calls localtime or strftime); message catalogues (no setlocale,
 * so strerror() stays in the C locale and opens nothing); NSS (getpwnam
 * and getpwuid run only while parsing arguments); syslog (not used: logs
 * go to stderr).
 */
#include "policy.h"
#include "log.h"

#include <cap-ng.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <linux/prctl.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

const char *policy_role_name(enum policy_role role)
{
	switch (role) {
	case POLICY_LISTEN:
		return "ntb-listen";
	case POLICY_CONNECT:
		return "ntb-connect";
	case POLICY_LAUNCHER:
		break;
	}
	return "netns-tcp-bridge";
}

/**
 * policy_adopt() - take --user and --seccomp from the parsed command line;
 * with --print-policy, print the policy and exit
 * @p:		the policy, role and threads already set
 * @cli:	the parsed options
 */
void policy_adopt(struct policy *p, const struct cli *cli)
{
	p->seccomp_log = cli->seccomp_log;
	if (cli->user) {
		p->switch_user = 1;
		p->uid = cli->uid;
		p->gid = cli->gid;
		p->user = cli->user;
	}
	if (cli->print_policy) {
		policy_print(p, stdout);
		exit(0);
	}
}

static void policy_switch_user(const struct policy *p)
{
	int pdeath = 0;

	if (!p->switch_user)
		return;
	/* A credential change clears the parent-death signal: keep it. */
	if (prctl(PR_GET_PDEATHSIG, &pdeath))
		log_die_errno(errno, "cannot read the parent-death signal");
	if (setgroups(1, &p->gid))
		log_die_errno(errno, "cannot drop supplementary groups for user %s", p->user);
	if (setresgid(p->gid, p->gid, p->gid))
		log_die_errno(errno, "cannot switch to the group of user %s", p->user);
	if (setresuid(p->uid, p->uid, p->uid))
		log_die_errno(errno, "cannot switch to user %s", p->user);
	if (pdeath && prctl(PR_SET_PDEATHSIG, pdeath))
		log_die_errno(errno, "cannot restore the parent-death signal");
	log_info("running as user %s (uid %u)", p->user, (unsigned int)p->uid);
}

/*
 * The bounding set can only shrink while CAP_SETPCAP is held, so this
 * comes before the user switch, which loses every capability.
 */
static void policy_drop_bounding(void)
{
	if (capng_get_caps_process())
		log_die("cannot drop capabilities: cannot read them");
	if (!capng_have_capability(CAPNG_EFFECTIVE, CAP_SETPCAP))
		return;
	capng_clear(CAPNG_SELECT_BOUNDS);
	if (capng_apply(CAPNG_SELECT_BOUNDS))
		log_die("cannot drop capabilities: bounding set");
}

/*
 * Every capability goes, but for CAP_NET_ADMIN in ntb-connect with
 * --transparent-source (IP_TRANSPARENT needs it, over the target's
 * namespace), kept effective and permitted, never inheritable.
 */
static void policy_drop_caps(const struct policy *p)
{
	int keep = p->transparent;

	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) && errno != EINVAL)
		log_die_errno(errno, "cannot drop capabilities: ambient set");
	if (capng_get_caps_process())
		log_die("cannot drop capabilities: cannot read them");
	if (keep && !capng_have_capability(CAPNG_PERMITTED, CAP_NET_ADMIN))
		log_die("--transparent-source needs CAP_NET_ADMIN over the target's network namespace: run as root, or join a namespace whose user namespace is ours");
	capng_clear(CAPNG_SELECT_CAPS);
	if (keep)
		capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED, CAP_NET_ADMIN);
	if (capng_apply(CAPNG_SELECT_CAPS))
		log_die("cannot drop capabilities: effective/permitted/inheritable sets");

	/* Trust, but verify: a silent partial drop would be the worst case. */
	if (capng_get_caps_process())
		log_die("cannot drop capabilities: cannot read them again");
	if (keep) {
		capng_update(CAPNG_DROP, CAPNG_EFFECTIVE | CAPNG_PERMITTED, CAP_NET_ADMIN);
		if (capng_have_capabilities(CAPNG_SELECT_CAPS) != CAPNG_NONE)
			log_die("cannot drop capabilities: more than CAP_NET_ADMIN is still held");
	} else if (capng_have_capabilities(CAPNG_SELECT_CAPS) != CAPNG_NONE) {
		log_die("cannot drop capabilities: some are still held");
	}
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

/**
 * policy_keep_fd() - add @fd to the fds the role keeps, or exit
 * @p:		the policy; p->keep_fds has room for p->keep_cap entries
 * @fd:		the fd
 *
 * The caller sized the list for what it serves with: one more is a bug
 * at start-up, never an fd closed silently.
 */
void policy_keep_fd(struct policy *p, int fd)
{
	if (p->n_keep >= p->keep_cap)
		log_die("cannot keep fd %d: the keep list holds %u fds", fd, p->keep_cap);
	p->keep_fds[p->n_keep++] = fd;
}

static int policy_kept(const struct policy *p, int fd)
{
	unsigned int i;

	for (i = 0; i < p->n_keep; i++)
		if (p->keep_fds[i] == fd)
			return 1;
	return 0;
}

/*
 * stdin and stdout onto /dev/null (a pipe there could be held open for
 * whoever reads it), unless the role serves with them (-S 0, -L 0);
 * every fd above 2 not on the keep list closed.
 */
static void policy_close_fds(struct policy *p)
{
	unsigned int i;
	int devnull, fd, next = 3;

	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0)
		log_die_errno(errno, "cannot open /dev/null");
	/* The syslog socket (--log syslog) is every role's. */
	if (log_fd() >= 0)
		policy_keep_fd(p, log_fd());
	for (fd = STDIN_FILENO; fd <= STDOUT_FILENO; fd++)
		if (fd != devnull && !policy_kept(p, fd) && dup2(devnull, fd) < 0)
			log_die_errno(errno, "cannot put /dev/null on fd %d", fd);
	if (devnull > STDERR_FILENO && !policy_kept(p, devnull))
		close(devnull);
	qsort(p->keep_fds, p->n_keep, sizeof(int), cmp_int);
	for (i = 0; i < p->n_keep; i++) {
		int k = p->keep_fds[i];

		if (k < next)
			continue;
		if (k > next && close_range((unsigned int)next, (unsigned int)k - 1, 0))
			log_die_errno(errno, "cannot close stray fds");
		next = k + 1;
	}
	if (close_range((unsigned int)next, ~0U, 0))
		log_die_errno(errno, "cannot close stray fds");
}

static void policy_limits(const struct policy *p)
{
	struct rlimit rl;

	/* RLIMIT_NOFILE was raised to the hard limit at start (util_raise_nofile()). */
	rl.rlim_cur = rl.rlim_max = 0;
	if (setrlimit(RLIMIT_CORE, &rl))
		log_die_errno(errno, "cannot set RLIMIT_CORE");
	/*
	 * No new processes, for roles without threads (threads count too).
	 * Only a second line of defence: the seccomp filter is what refuses
	 * fork, and the kernel does not apply this limit to root in the
	 * initial user namespace at all.
	 */
	if (!p->threads && setrlimit(RLIMIT_NPROC, &rl))
		log_die_errno(errno, "cannot set RLIMIT_NPROC");
	/*
	 * RLIMIT_FSIZE stays: stderr may be a log file, and a zero limit would
	 * turn every log line into SIGXFSZ.  The sandbox has no open() anyway.
	 */
}

/* socket(): the types a TCP socket may be asked for with. */
#define POLICY_SOCK_FLAGS	(SOCK_NONBLOCK | SOCK_CLOEXEC)

static int policy_add_rule(scmp_filter_ctx ctx, const struct policy *p, const struct policy_syscall *s)
{
	static const int families[] = { AF_INET, AF_INET6 }, protocols[] = { 0, IPPROTO_TCP };
	int nr = seccomp_syscall_resolve_name(s->name);
	unsigned int i, j;
	int rc;

	/* Unknown, or a libseccomp pseudo-number: not a syscall on this arch. */
	if (nr < 0)
		return 0;
	switch (s->arg) {
	case ARG_ANY:
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
	case ARG_TCP_ONLY:
		/*
		 * The type is an int: the mask keeps the upper half of the
		 * register out of it, and SOCK_NONBLOCK, SOCK_CLOEXEC.  UDP,
		 * raw, SCTP and MPTCP sockets (spoofed datagrams with a kept
		 * CAP_NET_ADMIN) fail the type or the protocol.
		 */
		for (i = 0; i < 2; i++)
			for (j = 0; j < 2; j++) {
				rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 3,
						      SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)families[i]),
						      SCMP_A1(SCMP_CMP_MASKED_EQ,
							      0xffffffffu & ~(scmp_datum_t)POLICY_SOCK_FLAGS,
							      SOCK_STREAM),
						      SCMP_A2(SCMP_CMP_EQ, (scmp_datum_t)protocols[j]));
				if (rc)
					return rc;
			}
		return 0;
	case ARG_SELF:
		/* Our pid now is our pid for good: no fork once serving. */
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
					SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid()));
	case ARG_KILL_PIDS:
		for (i = 0; i < p->n_kill_pids; i++) {
			rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
					      SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)p->kill_pids[i]));
			if (rc)
				return rc;
		}
		return 0;
	case ARG_CONNECT_FDS:
		for (i = 0; i < p->n_connect_fds; i++) {
			rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
					      SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)p->connect_fds[i]));
			if (rc)
				return rc;
		}
		return 0;
	case ARG_THREAD_ONLY:
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
					SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
	case ARG_NO_EXEC:
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
					SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	case ARG_VALUES1:
		for (i = 0; i < s->nvals; i++) {
			rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
					      SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)s->vals[i]));
			if (rc)
				return rc;
		}
		return 0;
	case ARG_VALUES2:
		for (i = 0; i + 1 < s->nvals; i += 2) {
			rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 2,
					      SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)s->vals[i]),
					      SCMP_A2(SCMP_CMP_EQ, (scmp_datum_t)s->vals[i + 1]));
			if (rc)
				return rc;
		}
		return 0;
	case ARG_ERRNO:
		return seccomp_rule_add(ctx, SCMP_ACT_ERRNO((uint32_t)s->err), nr, 0);
	}
	return -EINVAL;
}

static void policy_seccomp(const struct policy *p)
{
	const struct policy_syscall *calls;
	unsigned int i, n;
	scmp_filter_ctx ctx;
	int log_mode = p->seccomp_log;
	int rc;

#ifdef NTB_SANITIZER_BUILD
	/*
	 * `make asan` only: the sanitizer runtime makes calls of its own
	 * (/proc/self/maps, sched_yield, ...).  The filter is still loaded,
	 * so tests see it, but it logs instead of killing.  Never in a
	 * normal build.
	 */
	log_mode = 1;
#endif
	ctx = seccomp_init(log_mode ? SCMP_ACT_LOG : SCMP_ACT_KILL_PROCESS);
	if (!ctx)
		log_die("cannot install seccomp filter: seccomp_init failed");
	calls = policy_syscalls(p->role, &n);
	for (i = 0; i < n; i++) {
		rc = policy_add_rule(ctx, p, &calls[i]);
		if (rc)
			log_die_errno(-rc, "cannot install seccomp filter: rule for %s",
				      calls[i].name);
	}
	calls = policy_mode_syscalls(p, &n);
	for (i = 0; i < n; i++) {
		rc = policy_add_rule(ctx, p, &calls[i]);
		if (rc)
			log_die_errno(-rc, "cannot install seccomp filter: rule for %s",
				      calls[i].name);
	}
	rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc)
		log_die_errno(-rc, "cannot install seccomp filter");
	if (p->seccomp_log)
		log_warn("seccomp in log mode: violations are logged by the kernel, not stopped");
	else if (log_mode)
		log_info("sanitizer build: seccomp violations are logged, not stopped");
}

/**
 * policy_apply() - give up everything the role does not need, or exit
 * @p:		role and options
 *
 * The last call before serving; see the file comment for the order.
 */
void policy_apply(struct policy *p)
{
	policy_drop_bounding();
	/* A kept capability must outlive the user switch. */
	if (p->transparent && p->switch_user && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0))
		log_die_errno(errno, "cannot keep CAP_NET_ADMIN across the user switch");
	policy_switch_user(p);
	policy_drop_caps(p);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		log_die_errno(errno, "cannot set no_new_privs");
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0))
		log_die_errno(errno, "cannot clear the dumpable flag");
	policy_close_fds(p);
	policy_limits(p);
	/* Not fatal: an allocator that refuses (ASan's) is not glibc's. */
	if (!mallopt(M_TRIM_THRESHOLD, INT_MAX))
		log_info("malloc did not take a trim threshold; going on");
	policy_seccomp(p);
	log_info("sandboxed: %s, no_new_privs, seccomp %s",
		 p->transparent ? "CAP_NET_ADMIN only" : "no capabilities",
		 p->seccomp_log ? "log" : "kill");
}

static const char *policy_arg_text(const struct policy_syscall *s)
{
	switch (s->arg) {
	case ARG_ANY:
		return "";
	case ARG_TCP_ONLY:
		return " [AF_INET, AF_INET6 only; SOCK_STREAM, protocol 0 or IPPROTO_TCP only]";
	case ARG_SELF:
		return " [own process only]";
	case ARG_KILL_PIDS:
		return " [the agents' pids only]";
	case ARG_CONNECT_FDS:
		return " [the spare rendezvous sockets only]";
	case ARG_THREAD_ONLY:
		return " [CLONE_THREAD only]";
	case ARG_NO_EXEC:
		return " [no PROT_EXEC]";
	case ARG_VALUES1:
		return " [only the commands named]";
	case ARG_VALUES2:
		return " [only the options named]";
	case ARG_ERRNO:
		break;
	}
	return " [fails with an errno]";
}

/**
 * policy_print() - print what the role keeps once serving (--print-policy)
 * @p:		role and options
 * @out:	where to print
 */
void policy_print(const struct policy *p, FILE *out)
{
	const struct policy_syscall *calls;
	unsigned int i, n, allowed = 0;

	const struct policy_syscall *extra;
	unsigned int nextra;

	calls = policy_syscalls(p->role, &n);
	extra = policy_mode_syscalls(p, &nextra);
	for (i = 0; i < n; i++)
		if (calls[i].arg != ARG_ERRNO && seccomp_syscall_resolve_name(calls[i].name) >= 0)
			allowed++;
	for (i = 0; i < nextra; i++)
		if (strcmp(extra[i].name, "setsockopt") != 0)	/* counted already */
			allowed++;
	fprintf(out, "role: %s\n", policy_role_name(p->role));
	fprintf(out, "user: %s\n", p->switch_user ? p->user : "unchanged");
	if (p->transparent)
		fprintf(out, "capabilities kept: CAP_NET_ADMIN (effective, permitted; for IP_TRANSPARENT with --transparent-source), no other in any set;"
			     " bounding set emptied when CAP_SETPCAP is held\n");
	else
		fprintf(out, "capabilities kept: none (effective, permitted, inheritable, ambient;"
			     " bounding set too when CAP_SETPCAP is held)\n");
	fprintf(out, "no_new_privs: 1\ndumpable: 0\n");
	fprintf(out, "limits: RLIMIT_NOFILE soft=hard, RLIMIT_CORE 0%s\n",
		p->threads ? "" : ", RLIMIT_NPROC 0");
	fprintf(out, "files: none (no open/openat); fds: stderr, /dev/null on 0-1, the role's sockets\n");
	fprintf(out, "seccomp: default action %s; %u syscalls allowed:\n",
		p->seccomp_log ? "log" : "kill process", allowed);
	for (i = 0; i < n; i++) {
		if (seccomp_syscall_resolve_name(calls[i].name) < 0)
			continue;
		fprintf(out, "  %-18s %s%s\n", calls[i].name, calls[i].why, policy_arg_text(&calls[i]));
	}
	for (i = 0; i < nextra; i++)
		fprintf(out, "  %-18s %s%s\n", extra[i].name, extra[i].why, policy_arg_text(&extra[i]));
}
