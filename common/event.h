/* SPDX-License-Identifier: MIT */
#ifndef NTB_EVENT_H
#define NTB_EVENT_H

#include <stdint.h>

/*
 * What an epoll event is about, in every program: the kind in the top
 * byte of epoll_data.u64, then for connections a side bit and a
 * generation, and an index in the low 32 bits.  Nothing in the tag is a
 * pointer: an event that arrives for something already gone finds a slot
 * whose generation has moved on, and is dropped.
 */
enum ev_kind {
	EV_NONE,
	EV_SIGNAL,	/* the signalfd */
	EV_NOTIFY,	/* ntb-connect: the relay's "count reached 0" eventfd */
	EV_RDV,		/* the rendezvous (listening socket or connection) */
	EV_RELAY,	/* ntb-connect: worker 0's epoll set, nested */
	EV_PEER,	/* ntb-connect: a rendezvous peer; index = slot */
	EV_LISTEN,	/* ntb-listen: the listening socket */
	EV_WAKE,	/* a relay worker's eventfd: new connections queued */
	EV_CONN,	/* a relayed connection; index, generation and side */
	EV_PENDING,	/* ntb-listen: a client whose PROXY header is awaited */
};

#define EV_GEN_MASK	0x7fffffu

static inline uint64_t ev_tag(enum ev_kind kind, uint32_t index, uint32_t gen, unsigned int side)
{
	return (uint64_t)kind << 56 | (uint64_t)(side & 1) << 55 |
	       (uint64_t)(gen & EV_GEN_MASK) << 32 | index;
}

static inline enum ev_kind ev_kind_of(uint64_t tag)
{
	return (enum ev_kind)(tag >> 56);
}

static inline uint32_t ev_index(uint64_t tag)
{
	return (uint32_t)tag;
}

static inline uint32_t ev_gen(uint64_t tag)
{
	return (uint32_t)(tag >> 32) & EV_GEN_MASK;
}

static inline unsigned int ev_side(uint64_t tag)
{
	return (unsigned int)(tag >> 55) & 1;
}

#endif
