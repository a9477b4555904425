// SPDX-License-Identifier: MIT
/*
 * cli.c - the command-line options the three programs share, handled in
 * one place so that their spelling, checks and messages cannot drift.
 * Each program's getopt loop hands every option it does not know itself
 * to cli_option().
 */
#include "cli.h"
#include "log.h"
#include "netns.h"
#include "util.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --user NAME, or a numeric uid that has a passwd entry (for its group). */
static int cli_lookup_user(struct cli *cli, const char *name)
{
	struct passwd *pw = getpwnam(name);
	uid_t uid;

	if (!pw && !util_parse_uid(name, &uid))
		pw = getpwuid(uid);
	if (!pw)
		return -1;
	cli->user = name;
	cli->uid = pw->pw_uid;
	cli->gid = pw->pw_gid;
	return 0;
}

/**
 * cli_option() - handle a shared option, or fail on an unknown one
 * @cli:	the program's state
 * @c:		getopt_long()'s return value
 * @argv:	the arguments, for messages
 */
void cli_option(struct cli *cli, int c, char **argv)
{
	struct netns_spec ns;
	const char *why;

	switch (c) {
	case CLI_USER:
		if (cli_lookup_user(cli, optarg))
			log_usage_error("bad value '%s' for --user: no such user", optarg);
		return;
	case CLI_SECCOMP:
		if (strcmp(optarg, "kill") != 0 && strcmp(optarg, "log") != 0)
			log_usage_error("bad value '%s' for --seccomp: expected kill or log", optarg);
		cli->seccomp_log = !strcmp(optarg, "log");
		cli->seccomp = optarg;
		return;
	case CLI_LOG:
		if (strcmp(optarg, "stderr") != 0 && strcmp(optarg, "syslog") != 0)
			log_usage_error("bad value '%s' for --log: expected stderr or syslog", optarg);
		/* Connected now: the sandbox could not. */
		if (!strcmp(optarg, "syslog") && log_to_syslog())
			log_die_errno(errno, "cannot log to syslog: cannot connect to /dev/log");
		cli->log = optarg;
		return;
	case CLI_PRINT_POLICY:
		cli->print_policy = 1;
		return;
	case 'v':
		log_set_verbose(++cli->verbose);
		return;
	case 'h':
		fputs(cli->usage, stdout);
		exit(0);
	case CLI_VERSION:
		printf("%s %s\n", cli->prog, NTB_VERSION);
		exit(0);
	case ':':
		log_usage_error("option %s needs a value", argv[optind - 1]);
	default:
		break;
	}
	if (cli->rdv) {
		switch (c) {
		case 'n':
			if (cli->netns_text)
				log_usage_error("-n/--netns: give one namespace, once (see --help)");
			if (netns_spec_parse(optarg, &ns, &why))
				log_usage_error("bad namespace '%s' for --netns: %s", optarg, why);
			cli->netns_text = optarg;
			return;
		case 'r':
			if (cli->rdv_text)
				log_usage_error("-r/--rendezvous: give one rendezvous, once (see --help)");
			if (rdv_parse(optarg, cli->rdv, &why))
				log_usage_error("bad rendezvous '%s' for --rendezvous: %s", optarg, why);
			cli->rdv_text = optarg;
			return;
		case CLI_ALLOW_UID:
			if (rdv_acl_add(cli->acl, optarg))
				log_usage_error("bad value '%s' for --allow-uid: no such user, or too many",
						optarg);
			return;
		default:
			break;
		}
	}
	log_usage_error("unknown option '%s' (see --help)", argv[optind - 1]);
}

/**
 * cli_getopt() - getopt_long(), but long options only in full
 * @argc:	argument count
 * @argv:	the arguments
 * @shortopts:	as for getopt_long()
 * @longopts:	as for getopt_long()
 *
 * getopt_long() reads any unambiguous prefix of a long option as that
 * option: "--allow" would be taken for "--allow-uid", so a mistyped
 * security option could silently mean another.  A long option given only
 * in part is refused with one line naming it (exit 2).
 *
 * Return: as getopt_long().
 */
int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts)
{
	int idx = -1, c = getopt_long(argc, argv, shortopts, longopts, &idx);
	const char *text;
	size_t len;

	if (c == -1 || idx < 0 || optind < 1)
		return c;
	/* The option's own word: the one before its value, when that came apart. */
	text = argv[optind - 1];
	if (optarg && optarg == argv[optind - 1] && optind >= 2)
		text = argv[optind - 2];
	if (strncmp(text, "--", 2) != 0)
		return c;
	text += 2;
	len = strcspn(text, "=");
	if (len != strlen(longopts[idx].name) || strncmp(text, longopts[idx].name, len) != 0)
		log_usage_error("unknown option '--%.*s': long options are taken in full only (--%s?)",
				(int)len, text, longopts[idx].name);
	return c;
}

/**
 * cli_proxy_version() - the version --proxy-protocol names, or exit 2
 * @text:	the value: v1 or v2
 *
 * Return: 1 or 2.
 */
int cli_proxy_version(const char *text)
{
	if (strcmp(text, "v1") != 0 && strcmp(text, "v2") != 0)
		log_usage_error("bad value '%s' for --proxy-protocol: expected v1 or v2", text);
	return text[1] - '0';
}

/**
 * cli_finish() - after the getopt loop: leftovers, a missing rendezvous
 * @cli:	the program's state
 * @argc:	argument count
 * @argv:	the arguments
 */
void cli_finish(struct cli *cli, int argc, char **argv)
{
	if (optind < argc)
		log_usage_error("unexpected argument '%s' (see --help)", argv[optind]);
	if (cli->rdv && !cli->rdv_text && !cli->print_policy)
		log_usage_error("missing -r/--rendezvous (see --help)");
}
