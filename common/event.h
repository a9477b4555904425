/* SPDX-License-Identifier: MIT */
#ifndef NTB_EVENT_H
#define NTB_EVENT_H

#include <assert.h>
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
	EV_PEER,	/* ntb-connect: a rendezvous peer; index = slot */
	EV_LISTEN,	/* ntb-listen: the listening socket */
	EV_WAKE,	/* a relay worker's eventfd: new connections queued */
	EV_CONN,	/* a relayed connection; index, generation and side */
	EV_PENDING,	/* ntb-listen: a client whose PROXY header is awaited */
	EV_NKINDS
};

#define EV_KIND_SHIFT	56	/* bits 56..63 */
#define EV_SIDE_SHIFT	55	/* bit 55 */
#define EV_GEN_SHIFT	32	/* bits 32..54; the index is bits 0..31 */
#define EV_GEN_MASK	0x7fffffu
static_assert(EV_NKINDS <= 1 << (64 - EV_KIND_SHIFT), "every kind fits in the top byte");
static_assert(EV_SIDE_SHIFT + 1 == EV_KIND_SHIFT, "the side bit sits right below the kind");
static_assert((uint64_t)EV_GEN_MASK + 1 == (uint64_t)1 << (EV_SIDE_SHIFT - EV_GEN_SHIFT),
	      "the generation fills the bits between the index and the side");

static inline uint64_t ev_tag(enum ev_kind kind, uint32_t index, uint32_t gen, unsigned int side)
{
	return (uint64_t)kind << EV_KIND_SHIFT | (uint64_t)(side & 1) << EV_SIDE_SHIFT |
	       (uint64_t)(gen & EV_GEN_MASK) << EV_GEN_SHIFT | index;
}

static inline enum ev_kind ev_kind_of(uint64_t tag)
{
	return (enum ev_kind)(tag >> EV_KIND_SHIFT);
}

static inline uint32_t ev_index(uint64_t tag)
{
	return (uint32_t)tag;
}

static inline uint32_t ev_gen(uint64_t tag)
{
	return (uint32_t)(tag >> EV_GEN_SHIFT) & EV_GEN_MASK;
}

static inline unsigned int ev_side(uint64_t tag)
{
	return (unsigned int)(tag >> EV_SIDE_SHIFT) & 1;
}

#endif
