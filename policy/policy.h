/* SPDX-License-Identifier: MIT */
#ifndef NTB_POLICY_H
#define NTB_POLICY_H

#include <stdio.h>
#include <sys/types.h>

#include "cli.h"

enum policy_role {
	POLICY_LISTEN,		/* ntb-listen once serving */
	POLICY_CONNECT,		/* ntb-connect once serving */
	POLICY_LAUNCHER,	/* netns-tcp-bridge after spawning the agents */
};

/* What each syscall rule allows: all calls, or a restricted subset. */
enum policy_arg {
	ARG_ANY,
	ARG_TCP_ONLY,		/* socket(): AF_INET or AF_INET6, SOCK_STREAM (with
				 * SOCK_NONBLOCK, SOCK_CLOEXEC), protocol 0 or TCP */
	ARG_SELF,		/* kill, tgkill: arg 0 is our own pid (tgid) */
	ARG_KILL_PIDS,		/* kill: arg 0 is one of p->kill_pids */
	ARG_CONNECT_FDS,	/* connect: arg 0 is one of p->connect_fds */
	ARG_THREAD_ONLY,	/* clone(): CLONE_THREAD set (threads, no processes) */
	ARG_NO_EXEC,		/* mmap/mprotect: PROT_EXEC clear */
	ARG_VALUES1,		/* arg 1 is one of .vals (fcntl commands) */
	ARG_VALUES2,		/* args 1 and 2 are a pair in .vals (level, option) */
	ARG_ERRNO,		/* not allowed: fails with .err instead of a kill */
};

struct policy_syscall {
	const char *name;
	enum policy_arg arg;
	int err;		/* with ARG_ERRNO */
	const char *why;	/* the code that needs it */
	const int *vals;	/* ARG_VALUES1, ARG_VALUES2 */
	unsigned int nvals;
};

struct policy {
	enum policy_role role;
	int seccomp_log;	/* --seccomp=log: log violations, do not kill */
	int threads;		/* role creates threads after the sandbox */
	int *keep_fds;		/* fds the role serves with; caller's array */
	unsigned int n_keep;	/* entries used */
	unsigned int keep_cap;	/* entries the array has */
	int switch_user;	/* --user given */
	uid_t uid;
	gid_t gid;
	const char *user;
	int transparent;	/* ntb-connect --transparent-source: CAP_NET_ADMIN stays */
	const pid_t *kill_pids;	/* ARG_KILL_PIDS: the launcher's agents */
	unsigned int n_kill_pids;
	const int *connect_fds;	/* ARG_CONNECT_FDS: ntb-listen's spare rendezvous sockets */
	unsigned int n_connect_fds;
};

const char *policy_role_name(enum policy_role role);
const struct policy_syscall *policy_syscalls(enum policy_role role, unsigned int *n);
const struct policy_syscall *policy_mode_syscalls(const struct policy *p, unsigned int *n);
void policy_adopt(struct policy *p, const struct cli *cli);
void policy_keep_fd(struct policy *p, int fd);
void policy_apply(struct policy *p);
void policy_print(const struct policy *p, FILE *out);

#endif
