/* SPDX-License-Identifier: MIT */
#ifndef NTB_POLICY_H
#define NTB_POLICY_H

#include <stdio.h>
#include <sys/types.h>

enum policy_role {
	POLICY_LISTEN,		/* ntb-listen once serving */
	POLICY_CONNECT,		/* ntb-connect once serving */
	POLICY_LAUNCHER,	/* netns-tcp-bridge after spawning the agents */
};

/* What each syscall rule allows: all calls, or a restricted subset. */
enum policy_arg {
	ARG_ANY,
	ARG_INET_ONLY,		/* socket(): AF_INET and AF_INET6 only */
	ARG_THREAD_ONLY,	/* clone(): CLONE_THREAD set (threads, no processes) */
	ARG_NO_EXEC,		/* mmap/mprotect: PROT_EXEC clear */
	ARG_ERRNO,		/* not allowed: fails with .err instead of a kill */
};

struct policy_syscall {
	const char *name;
	enum policy_arg arg;
	int err;		/* with ARG_ERRNO */
	const char *why;	/* the code that needs it */
};

struct policy {
	enum policy_role role;
	int seccomp_log;	/* --seccomp=log: log violations, do not kill */
	int threads;		/* role creates threads after the sandbox */
	const int *keep_fds;	/* fds the role serves with, besides 0-2 */
	unsigned int n_keep;
	int switch_user;	/* --user given */
	uid_t uid;
	gid_t gid;
	const char *user;
};

const char *policy_role_name(enum policy_role role);
const struct policy_syscall *policy_syscalls(enum policy_role role, unsigned int *n);
int policy_parse_seccomp(const char *text, int *log_mode);
int policy_lookup_user(const char *name, struct policy *p);
void policy_apply(const struct policy *p);
void policy_print(const struct policy *p, FILE *out);

#endif
