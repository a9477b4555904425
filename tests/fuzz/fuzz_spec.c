// SPDX-License-Identifier: MIT
/*
 * fuzz_spec - libFuzzer target for the namespace (-n, -f, -t) and
 * rendezvous (-r) argument parsers.
 *
 * Input: the argument text.  Checks: no out-of-bounds access (ASan); a
 * refusal says why; an accepted fd:N has a non-negative fd; a name: never
 * leaves /run/netns; a rendezvous name fits sun_path with its NUL.
 */
#include "netns.h"
#include "rendezvous.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct netns_spec ns;
	struct rdv_spec rdv;
	const char *why = NULL;
	char text[512];

	if (size >= sizeof(text))
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	if (netns_spec_parse(text, &ns, &why)) {
		if (!why)
			abort();
	} else if (ns.kind == NETNS_FD ? ns.fd < 0 :
		   !memchr(ns.path, '\0', sizeof(ns.path)) ||
		   (!strncmp(text, "name:", 5) &&
		    (strncmp(ns.path, "/run/netns/", 11) || strchr(ns.path + 11, '/')))) {
		abort();
	}
	why = NULL;
	if (rdv_parse(text, &rdv, &why)) {
		if (!why)
			abort();
	} else if (rdv.kind == RDV_FD ? rdv.fd < 0 :
		   strnlen(rdv.name, sizeof(rdv.name)) >= sizeof(rdv.name) - (rdv.kind == RDV_ABSTRACT)) {
		abort();
	}
	return 0;
}
