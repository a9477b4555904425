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
 *   5. stdin and stdout onto /dev/null, every other fd the role does not
 *      serve with closed;
 *   6. resource limits;
 *   7. the role's seccomp allowlist (policy/syscalls.c), default action
 *      kill the process.
 * Any failure is fatal: an agent never serves with more than it should.
 */
#include "policy.h"
#include "log.h"

#include <cap-ng.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/prctl.h>
#include <pwd.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
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
 * policy_parse_seccomp() - parse the --seccomp=MODE value
 * @text:	"kill" or "log"
 * @log_mode:	1 for log
 *
 * Return: 0, or -1 for anything else.
 */
int policy_parse_seccomp(const char *text, int *log_mode)
{
	if (!strcmp(text, "kill"))
		*log_mode = 0;
	else if (!strcmp(text, "log"))
		*log_mode = 1;
	else
		return -1;
	return 0;
}

/**
 * policy_lookup_user() - resolve --user NAME while files are reachable
 * @name:	user name or numeric uid
 * @p:		policy to fill
 *
 * Return: 0, or -1 if there is no such user.
 */
int policy_lookup_user(const char *name, struct policy *p)
{
	struct passwd *pw = getpwnam(name);
	char *end;

	if (!pw) {
		unsigned long v = strtoul(name, &end, 10);

		if (*name && !*end)
			pw = getpwuid((uid_t)v);
	}
	if (!pw)
		return -1;
	p->switch_user = 1;
	p->uid = pw->pw_uid;
	p->gid = pw->pw_gid;
	p->user = name;
	return 0;
}

static void policy_switch_user(const struct policy *p)
{
	int pdeath = 0;

	if (!p->switch_user)
		return;
	/* A credential change clears the parent-death signal: keep it. */
	prctl(PR_GET_PDEATHSIG, &pdeath);
	if (setgroups(1, &p->gid))
		log_die_errno(errno, "cannot drop supplementary groups for user %s", p->user);
	if (setresgid(p->gid, p->gid, p->gid))
		log_die_errno(errno, "cannot switch to the group of user %s", p->user);
	if (setresuid(p->uid, p->uid, p->uid))
		log_die_errno(errno, "cannot switch to user %s", p->user);
	if (pdeath)
		prctl(PR_SET_PDEATHSIG, pdeath);
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

static void policy_drop_caps(void)
{
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) && errno != EINVAL)
		log_die_errno(errno, "cannot drop capabilities: ambient set");
	if (capng_get_caps_process())
		log_die("cannot drop capabilities: cannot read them");
	capng_clear(CAPNG_SELECT_CAPS);
	if (capng_apply(CAPNG_SELECT_CAPS))
		log_die("cannot drop capabilities: effective/permitted/inheritable sets");

	/* Trust, but verify: a silent partial drop would be the worst case. */
	if (capng_get_caps_process() || capng_have_capabilities(CAPNG_SELECT_CAPS) != CAPNG_NONE)
		log_die("cannot drop capabilities: some are still held");
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

static void policy_close_fds(const struct policy *p)
{
	int keep[64] = { 0 };
	unsigned int i, n = 0;
	int devnull, next = 3;

	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull >= 0) {
		/* Keep stderr for the log; 0 and 1 could hold a pipe open. */
		dup2(devnull, STDIN_FILENO);
		dup2(devnull, STDOUT_FILENO);
		if (devnull > STDERR_FILENO)
			close(devnull);
	}
	for (i = 0; i < p->n_keep && n < sizeof(keep) / sizeof(keep[0]); i++)
		if (p->keep_fds[i] > STDERR_FILENO)
			keep[n++] = p->keep_fds[i];
	qsort(keep, n, sizeof(int), cmp_int);
	for (i = 0; i < n; i++) {
		if (keep[i] > next)
			close_range((unsigned int)next, (unsigned int)keep[i] - 1, 0);
		next = keep[i] + 1;
	}
	close_range((unsigned int)next, ~0U, 0);
}

static void policy_limits(const struct policy *p)
{
	struct rlimit rl;

	/* Many connections need many fds: take all the hard limit allows. */
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	rl.rlim_cur = rl.rlim_max = 0;
	if (setrlimit(RLIMIT_CORE, &rl))
		log_die_errno(errno, "cannot set RLIMIT_CORE");
	/* No new processes; threads count too, so only roles without them. */
	if (!p->threads && setrlimit(RLIMIT_NPROC, &rl))
		log_die_errno(errno, "cannot set RLIMIT_NPROC");
	/*
	 * RLIMIT_FSIZE stays: stderr may be a log file, and a zero limit would
	 * turn every log line into SIGXFSZ.  The sandbox has no open() anyway.
	 */
}

static int policy_add_rule(scmp_filter_ctx ctx, const struct policy_syscall *s)
{
	int nr = seccomp_syscall_resolve_name(s->name);

	/* Unknown, or a libseccomp pseudo-number: not a syscall on this arch. */
	if (nr < 0)
		return 0;
	switch (s->arg) {
	case ARG_ANY:
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
	case ARG_INET_ONLY:
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1, SCMP_A0(SCMP_CMP_EQ, AF_INET)) ?:
		       seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1, SCMP_A0(SCMP_CMP_EQ, AF_INET6));
	case ARG_THREAD_ONLY:
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
					SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
	case ARG_NO_EXEC:
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
					SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
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
		rc = policy_add_rule(ctx, &calls[i]);
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
void policy_apply(const struct policy *p)
{
	policy_drop_bounding();
	policy_switch_user(p);
	policy_drop_caps();
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		log_die_errno(errno, "cannot set no_new_privs");
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0))
		log_die_errno(errno, "cannot clear the dumpable flag");
	policy_close_fds(p);
	policy_limits(p);
	policy_seccomp(p);
	log_info("sandboxed: no capabilities, no_new_privs, seccomp %s",
		 p->seccomp_log ? "log" : "kill");
}

static const char *policy_arg_text(const struct policy_syscall *s)
{
	switch (s->arg) {
	case ARG_ANY:
		return "";
	case ARG_INET_ONLY:
		return " [AF_INET, AF_INET6 only]";
	case ARG_THREAD_ONLY:
		return " [CLONE_THREAD only]";
	case ARG_NO_EXEC:
		return " [no PROT_EXEC]";
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

	calls = policy_syscalls(p->role, &n);
	for (i = 0; i < n; i++)
		if (calls[i].arg != ARG_ERRNO && seccomp_syscall_resolve_name(calls[i].name) >= 0)
			allowed++;
	fprintf(out, "role: %s\n", policy_role_name(p->role));
	fprintf(out, "user: %s\n", p->switch_user ? p->user : "unchanged");
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
}
