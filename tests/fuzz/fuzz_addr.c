// SPDX-License-Identifier: MIT
/*
 * fuzz_addr - libFuzzer target for the address parsers (-l, -c, and the
 * numbers of --keepalive and fd:N).
 *
 * Input: the argument text.  Checks: no out-of-bounds access (ASan); an
 * accepted address formats to text that parses back to the same socket
 * address; a range is 1 to 65536 ports that stay within 1..65535; an
 * accepted --keepalive is three numbers within the kernel's limits.
 */
#include "addr.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[256], again[ADDR_STRLEN];
	struct addr a, b, list[4];
	unsigned int count, n = 0;
	int ka[3], fd;
	long long v;

	if (size >= sizeof(text))
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	if (!addr_parse(text, &a)) {
		if (a.len > sizeof(a.ss) || !addr_port(&a))
			abort();
		addr_format((struct sockaddr *)&a.ss, a.len, again, sizeof(again));
		if (addr_parse(again, &b) || b.len != a.len || memcmp(&a.ss, &b.ss, a.len))
			abort();	/* what we print, we read back the same */
	}
	if (!addr_parse_range(text, &a, &count)) {
		if (!count || addr_port(&a) + count - 1 > 65535 || !addr_port(&a))
			abort();
	}
	if (!addr_append(text, list, 4, &n) && (n < 1 || n > 4))
		abort();
	if (!addr_parse_keepalive(text, ka) &&
	    (ka[0] < 1 || ka[0] > 32767 || ka[1] < 1 || ka[1] > 32767 || ka[2] < 1 || ka[2] > 127))
		abort();
	if (!addr_parse_fd(text, &fd) && fd < 0)
		abort();
	if (!addr_parse_uint(text, 1000, &v) && (v < 0 || v > 1000))
		abort();
	return 0;
}
