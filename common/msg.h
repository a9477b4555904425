/* SPDX-License-Identifier: MIT */
#ifndef NTB_MSG_H
#define NTB_MSG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/*
 * The rendezvous wire format (see ntb-rendezvous(7)).  Records travel on
 * SOCK_SEQPACKET unix sockets, one record per packet, so a record is the
 * whole packet: a 4-byte header and exactly header.length payload bytes.
 */
#define MSG_VERSION	4		/* 2: HELLO counts forwards, CONN names one; 3: LISTENER; 4: LISTENER_BACK */
#define MSG_MAGIC	0x4e544221u	/* "NTB!" */
#define MSG_HDR_LEN	4
#define MSG_HELLO_LEN	12
#define MSG_CONN_LEN	40
#define MSG_LISTENER_LEN	4
#define MSG_LISTENER_BACK_LEN	4
/* Listening sockets (forwards) in one pair, at most. */
#define MSG_MAX_FORWARDS	1024
/* HELLO flags: ntb-connect takes LISTENER records (accepts clients itself). */
#define MSG_HELLO_TAKES_LISTENERS	1u
/* Receive buffer: larger than any record so oversize shows as such. */
#define MSG_BUF_MAX	128

enum msg_type {
	MSG_HELLO = 1,	/* first record each way; no fd */
	MSG_CONN = 2,	/* one accepted client; exactly one fd */
	MSG_LISTENER = 3,	/* one listening socket to accept on; exactly one fd */
	MSG_LISTENER_BACK = 4,	/* ntb-connect no longer accepts on one; no fd */
};

/* Why a LISTENER_BACK: ntb-listen names it in its line. */
enum msg_back_reason {
	MSG_BACK_REFUSED = 1,	/* never taken: a fault of the record, or no room */
	MSG_BACK_STOPPING = 2,	/* ntb-connect is draining (SIGQUIT) */
	MSG_BACK_DROPPED = 3,	/* taken, then given up: no worker could watch it */
};
#define MSG_BACK_MAX	MSG_BACK_DROPPED

enum msg_role {
	MSG_ROLE_LISTEN = 1,
	MSG_ROLE_CONNECT = 2,
};

struct msg {
	enum msg_type type;
	union {
		struct {
			uint16_t version;
			uint16_t role;
			uint16_t forwards;	/* listeners, or targets */
			uint16_t flags;		/* MSG_HELLO_* */
		} hello;
		struct {
			struct sockaddr_storage client;
			struct sockaddr_storage local;
			socklen_t len;	/* of both: same family */
			uint16_t index;	/* the listener it came from */
		} conn;
		struct {
			uint16_t index;	/* its forward: the target it goes to */
		} listener;
		struct {
			uint16_t index;	/* the LISTENER's index */
			uint16_t reason;	/* enum msg_back_reason */
		} back;
	} u;
};

size_t msg_encode_hello(uint8_t *buf, size_t size, enum msg_role role, unsigned int forwards,
			unsigned int flags);
size_t msg_encode_conn(uint8_t *buf, size_t size, const struct sockaddr *client,
		       const struct sockaddr *local, unsigned int index);
size_t msg_encode_listener(uint8_t *buf, size_t size, unsigned int index);
size_t msg_encode_listener_back(uint8_t *buf, size_t size, unsigned int index,
				enum msg_back_reason reason);
const char *msg_back_reason_text(unsigned int reason);
int msg_decode(const uint8_t *buf, size_t len, unsigned int nfds, struct msg *out,
	       const char **why);
unsigned int msg_fds_expected(enum msg_type type);

#endif
