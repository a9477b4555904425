// SPDX-License-Identifier: MIT
/*
 * fuzz_msg - libFuzzer target for the rendezvous decoder.
 *
 * Input: one byte giving how many fds "arrived" (0-3), then the packet.
 * Checks: msg_decode() never reads out of bounds (ASan), and whatever it
 * accepts encodes back to exactly the bytes it was given.
 */
#include "msg.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t again[MSG_BUF_MAX];
	const char *why = NULL;
	struct msg m;
	size_t len;

	if (size < 1)
		return 0;
	if (msg_decode(data + 1, size - 1, data[0] & 3, &m, &why)) {
		if (!why)
			abort();	/* a refusal always says why */
		return 0;
	}
	if (m.type == MSG_HELLO)
		len = msg_encode_hello(again, sizeof(again), (enum msg_role)m.u.hello.role,
				       m.u.hello.forwards, m.u.hello.flags);
	else if (m.type == MSG_LISTENER)
		len = msg_encode_listener(again, sizeof(again), m.u.listener.index);
	else if (m.type == MSG_LISTENER_BACK)
		len = msg_encode_listener_back(again, sizeof(again), m.u.back.index,
					       (enum msg_back_reason)m.u.back.reason);
	else
		len = msg_encode_conn(again, sizeof(again), (struct sockaddr *)&m.u.conn.client,
				      (struct sockaddr *)&m.u.conn.local, m.u.conn.index);
	if (len != size - 1 || memcmp(again, data + 1, len))
		abort();	/* accepted bytes must be canonical */
	return 0;
}
