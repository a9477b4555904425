// SPDX-License-Identifier: MIT
/* Unit tests: rendezvous forms and the peer allowlist. */
#include "rendezvous.h"
#include "tap.h"

#include <string.h>

static void good(const char *text, enum rdv_kind kind, const char *name, int fd)
{
	struct rdv_spec s;
	const char *why = NULL;
	int rc = rdv_parse(text, &s, &why);

	CHECK(rc == 0 && s.kind == kind && (!name || !strcmp(s.name, name)) && s.fd == fd,
	      "rendezvous '%s' parses (%s)", text, rc ? why : "ok");
}

static void bad(const char *text)
{
	struct rdv_spec s;
	const char *why = NULL;

	CHECK(rdv_parse(text, &s, &why) == -1 && why, "rendezvous '%s' refused (%s)",
	      text ? text : "(null)", why ? why : "no reason");
}

int main(void)
{
	char longname[200];
	struct rdv_acl acl;
	unsigned int i;
	int rc = 0;

	good("fd:3", RDV_FD, NULL, 3);
	good("@ntb", RDV_ABSTRACT, "ntb", -1);
	good("/run/ntb.sock", RDV_PATH, "/run/ntb.sock", -1);
	good("./rel.sock", RDV_PATH, "./rel.sock", -1);
	bad("");
	bad(NULL);
	bad("@");
	bad("fd:");
	bad("fd:x");
	bad("relative.sock");
	memset(longname, 'a', sizeof(longname));
	longname[0] = '@';
	longname[sizeof(longname) - 1] = '\0';
	bad(longname);
	longname[0] = '/';
	bad(longname);
	longname[108] = '\0';
	longname[0] = '@';
	bad(longname);	/* 107 name bytes: past the documented 106 */
	longname[107] = '\0';
	good(longname, RDV_ABSTRACT, longname + 1, -1);

	rdv_acl_init(&acl);
	CHECK(acl.n == 1, "allowlist starts with our own uid");
	CHECK(rdv_acl_add(&acl, "1234") == 0 && acl.uids[1] == 1234, "numeric uid added");
	CHECK(rdv_acl_add(&acl, "root") == 0 && acl.uids[2] == 0, "user name resolved");
	CHECK(rdv_acl_add(&acl, "no-such-user-ntb") == -1, "unknown user refused");
	for (i = acl.n; i < RDV_MAX_UIDS; i++)
		rc |= rdv_acl_add(&acl, "7");
	CHECK(rc == 0 && rdv_acl_add(&acl, "8") == -1, "allowlist is bounded");

	/* Into a rootless user namespace: "0 1000 1" maps our 1000 to 0. */
	acl.n = 3;
	acl.uids[0] = 1000;
	acl.uids[1] = 1001;
	acl.uids[2] = 100005;
	CHECK(rdv_acl_map(&acl, "         0       1000          1\n") == 1 && acl.uids[0] == 0,
	      "uid_map: our uid becomes 0, unmapped uids are dropped");
	acl.n = 3;
	acl.uids[0] = 1000;
	acl.uids[1] = 1001;
	acl.uids[2] = 100005;
	CHECK(rdv_acl_map(&acl, "0 1000 1\n1 100000 65536\n") == 2 && acl.uids[0] == 0 &&
	      acl.uids[1] == 6, "uid_map with a subordinate range");
	acl.n = 1;
	acl.uids[0] = 1000;
	CHECK(rdv_acl_map(&acl, "0 0 4294967295\n") == 1 && acl.uids[0] == 1000,
	      "identity map keeps uids");
	acl.n = 1;
	CHECK(rdv_acl_map(&acl, "") == 0, "empty map keeps nothing");
	return tap_done();
}
