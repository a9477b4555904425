// SPDX-License-Identifier: MIT
/*
 * fdpass.c - one record plus at most one fd over a SOCK_SEQPACKET socket.
 *
 * Receiving is where fds leak: every fd that arrives is marked CLOEXEC by
 * the kernel (MSG_CMSG_CLOEXEC) and handed to the caller in @in, even when
 * the packet is refused, so the caller can close them all in one place.
 * A packet whose data or control part was cut (MSG_TRUNC, MSG_CTRUNC) is
 * reported as truncated: with MSG_CTRUNC the kernel may already have
 * installed some of the fds, and those still get closed.
 */
#include "fdpass.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/**
 * fdpass_send() - send one record, with @fd attached unless it is -1
 * @sock:	connected SOCK_SEQPACKET unix socket
 * @buf:	the record
 * @len:	its length
 * @fd:		fd to pass, or -1
 *
 * Return: bytes sent, or -1 with errno set.
 *
 * syscalls: sendmsg
 */
ssize_t fdpass_send(int sock, const void *buf, size_t len, int fd)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (fd >= 0) {
		struct cmsghdr *cm;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n;
}

/**
 * fdpass_recv() - receive one record and every fd sent with it
 * @sock:	SOCK_SEQPACKET unix socket
 * @buf:	record buffer; make it larger than any valid record
 * @size:	size of @buf
 * @in:	what arrived; in->fds must be closed by the caller
 *
 * Return: bytes received (0 at end of stream), or -1 with errno set.
 *
 * syscalls: recvmsg
 */
ssize_t fdpass_recv(int sock, void *buf, size_t size, struct fdpass_in *in)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * FDPASS_MAX)];
	} ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = size };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
	};
	struct cmsghdr *cm;
	ssize_t n;

	memset(in, 0, sizeof(*in));
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;

	in->len = (size_t)n;
	in->truncated = !!(mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC));
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		size_t count, i;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) {
			/* Credentials or anything else: not part of the protocol. */
			in->truncated = 1;
			continue;
		}
		count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < count; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (in->nfds < FDPASS_MAX)
				in->fds[in->nfds++] = fd;
			else
				close(fd);	/* cannot happen: buffer holds FDPASS_MAX */
		}
	}
	return n;
}

/**
 * fdpass_at_eof() - after a 0 from fdpass_recv(): end of stream, or an
 * empty record?
 * @sock:	SOCK_SEQPACKET unix socket
 *
 * recvmsg() returns 0 for both.  At the end of the stream a second look
 * returns 0 again; after an empty record it finds nothing (or the next
 * record).  The look is a peek: nothing is consumed, no fd installed.
 *
 * Return: 1 at end of stream, 0 otherwise.
 *
 * syscalls: recvmsg
 */
int fdpass_at_eof(int sock)
{
	char c;
	struct iovec iov = { .iov_base = &c, .iov_len = 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	return recvmsg(sock, &mh, MSG_PEEK | MSG_DONTWAIT) == 0;
}

/**
 * fdpass_close_all() - close every fd that arrived with a record
 * @in:	what fdpass_recv() returned
 *
 * syscalls: close
 */
void fdpass_close_all(struct fdpass_in *in)
{
	unsigned int i;

	for (i = 0; i < in->nfds; i++)
		close(in->fds[i]);
	in->nfds = 0;
}
