// SPDX-License-Identifier: MIT
/*
 * fuzz_rules - libFuzzer target for the --allow/--deny rule parser.
 *
 * Checks: no out-of-bounds access (ASan); a refusal says why; an accepted
 * rule has a prefix within its family and a port range within 1..65535;
 * a rule always covers its own first address and port.
 */
#include "rules.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct rule_set rs;
	struct sockaddr_storage ss;
	const char *why = NULL;
	char text[256];
	struct rule r;

	if (size >= sizeof(text))
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (rule_parse(text, &r, &why)) {
		if (!why)
			abort();
		return 0;
	}
	if (r.len > (r.family == AF_INET ? 32u : 128u) || !r.port_lo || r.port_lo > r.port_hi)
		abort();
	memset(&ss, 0, sizeof(ss));
	if (r.family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)&ss;

		s->sin_family = AF_INET;
		memcpy(&s->sin_addr, r.addr, 4);
		s->sin_port = htons(r.port_lo);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;

		s->sin6_family = AF_INET6;
		memcpy(&s->sin6_addr, r.addr, 16);
		s->sin6_port = htons(r.port_lo);
	}
	memset(&rs, 0, sizeof(rs));	/* no built-in list: the rule alone decides */
	rs.r[0] = r;
	rs.r[0].allow = 1;
	rs.n = 1;
	if (rules_check(&rs, (struct sockaddr *)&ss, &why) != 1)
		abort();
	return 0;
}
