/* SPDX-License-Identifier: MIT */
#ifndef NTB_CLI_H
#define NTB_CLI_H

#include <getopt.h>

#include <sys/types.h>

#include "rendezvous.h"

/* Options every program shares; program-specific ones start at 256. */
enum {
	CLI_USER = 0x200, CLI_SECCOMP, CLI_PRINT_POLICY, CLI_VERSION, CLI_ALLOW_UID, CLI_LOG,
};

#define CLI_COMMON_OPTS							\
	{ "user", required_argument, NULL, CLI_USER },			\
	{ "seccomp", required_argument, NULL, CLI_SECCOMP },		\
	{ "print-policy", no_argument, NULL, CLI_PRINT_POLICY },	\
	{ "log", required_argument, NULL, CLI_LOG },			\
	{ "verbose", no_argument, NULL, 'v' },				\
	{ "help", no_argument, NULL, 'h' },				\
	{ "version", no_argument, NULL, CLI_VERSION }

/* The agents' options for where they run and whom they meet. */
#define CLI_AGENT_OPTS							\
	{ "netns", required_argument, NULL, 'n' },			\
	{ "rendezvous", required_argument, NULL, 'r' },			\
	{ "allow-uid", required_argument, NULL, CLI_ALLOW_UID }

struct cli {
	const char *prog;
	const char *usage;
	int verbose;
	int print_policy;
	const char *user;	/* --user as given, to pass on */
	uid_t uid;		/* and what it names */
	gid_t gid;
	const char *seccomp;	/* --seccomp as given, to pass on */
	const char *log;	/* --log as given, to pass on */
	int seccomp_log;	/* --seccomp=log */
	/* Agents only (rdv non-NULL): */
	const char *netns_text;
	const char *rdv_text;
	struct rdv_spec *rdv;
	struct rdv_acl *acl;
};

int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts);
int cli_proxy_version(const char *text);
void cli_option(struct cli *cli, int c, char **argv);
void cli_finish(struct cli *cli, int argc, char **argv);

#endif
