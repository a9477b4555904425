// SPDX-License-Identifier: MIT
/*
 * fuzz_proxy - libFuzzer target for the PROXY protocol reader
 * (ntb-listen --accept-proxy).
 *
 * Checks: no out-of-bounds access (ASan); an accepted header is no longer
 * than the input, and its addresses, written again as v1 and as v2, read
 * back the same.
 */
#include "proxy.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_info pi, again;
	uint8_t buf[PROXY_HEADER_MAX];
	const char *why;
	int rc, v;

	rc = proxy_parse(data, size, &pi, &why);
	if (rc == -1 && !why)
		abort();	/* a refusal always says why */
	if (rc != 1)
		return 0;
	if (pi.len > size || !pi.len)
		abort();
	if (pi.local)
		return 0;
	for (v = 1; v <= 2; v++) {
		size_t n = proxy_header(buf, sizeof(buf), v, (struct sockaddr *)&pi.src,
					(struct sockaddr *)&pi.dst);

		if (!n || proxy_parse(buf, n, &again, &why) != 1 || again.len != n || again.local ||
		    memcmp(&again.src, &pi.src, sizeof(pi.src)) || memcmp(&again.dst, &pi.dst, sizeof(pi.dst)))
			abort();
	}
	return 0;
}
