// SPDX-License-Identifier: MIT
/*
 * loadtool - load generators and an echo server for the fault and load
 * tests (tests/integration/80-faults.sh), where Python would be the
 * bottleneck.  All on 127.0.0.1; every loop bounded by a count and a time.
 *
 *   loadtool echo PORT                  epoll echo server; passes a FIN on
 *                                       once its echo is written
 *   loadtool mesh PORT CONNS BYTES SECS CONNS connections at once, each
 *                                       sending BYTES of its own
 *                                       pseudo-random stream and checking
 *                                       the echo byte by byte; prints
 *                                       "OK ..." or "FAIL ..."
 *   loadtool idle PORT COUNT SECS       open COUNT connections, one byte
 *                                       echoed on each, print "ready", hold
 *                                       them until stdin closes or SECS pass
 *   loadtool firstbyte PORT COUNT       COUNT new connections one after the
 *                                       other: ms from connect() to the
 *                                       first echoed byte; prints p50, max
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct sockaddr_in target;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "loadtool: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void raise_nofile(void)
{
	struct rlimit rl;

	if (!getrlimit(RLIMIT_NOFILE, &rl)) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* ------------------------------------------------------------ echo server */

struct echo_conn {
	int fd;
	char buf[65536];
	size_t len, off;
	int eof;
};

static void echo_close(int ep, struct echo_conn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c);
}

static void echo_event(int ep, struct echo_conn *c)
{
	for (;;) {
		ssize_t n;

		while (c->off < c->len) {
			n = write(c->fd, c->buf + c->off, c->len - c->off);
			if (n < 0) {
				if (errno == EAGAIN) {
					struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLET,
								  .data.ptr = c };

					epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
					return;
				}
				echo_close(ep, c);
				return;
			}
			c->off += (size_t)n;
		}
		c->off = c->len = 0;
		if (c->eof) {
			shutdown(c->fd, SHUT_WR);
			echo_close(ep, c);
			return;
		}
		n = read(c->fd, c->buf, sizeof(c->buf));
		if (n < 0) {
			if (errno == EAGAIN)
				return;
			echo_close(ep, c);
			return;
		}
		if (n == 0)
			c->eof = 1;
		c->len = (size_t)n;
	}
}

static _Noreturn void cmd_echo(void)
{
	int one = 1, ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };

	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(ls, (struct sockaddr *)&target, sizeof(target)) || listen(ls, 4096))
		die("bind");
	epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
	for (;;) {
		struct epoll_event evs[256];
		int n = epoll_wait(ep, evs, 256, -1), i;

		for (i = 0; i < n; i++) {
			if (!evs[i].data.ptr) {
				int fd;

				while ((fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
					struct echo_conn *c = calloc(1, sizeof(*c));
					struct epoll_event cev = { .events = EPOLLIN | EPOLLOUT | EPOLLET };

					if (!c)
						die("calloc");
					c->fd = fd;
					cev.data.ptr = c;
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
				}
				continue;
			}
			echo_event(ep, evs[i].data.ptr);
		}
	}
}

/* ------------------------------------------------------------ mesh client */

/* One connection's stream: xorshift64 seeded by its index. */
struct stream {
	uint64_t s;
	uint8_t block[8];
	unsigned int used;
};

static void stream_init(struct stream *st, unsigned int index)
{
	st->s = 0x9e3779b97f4a7c15ULL * (index + 1);
	st->used = 8;
}

static uint8_t stream_byte(struct stream *st)
{
	if (st->used == 8) {
		st->s ^= st->s << 13;
		st->s ^= st->s >> 7;
		st->s ^= st->s << 17;
		memcpy(st->block, &st->s, 8);
		st->used = 0;
	}
	return st->block[st->used++];
}

struct mesh_conn {
	int fd;
	struct stream out, in;
	size_t sent, got;
	int shut, done, bad;
};

static int cmd_mesh(int conns, size_t bytes, double secs)
{
	struct mesh_conn *m = calloc((size_t)conns, sizeof(*m));
	int ep = epoll_create1(0), i, left = conns, bad = 0;
	double start = now_s(), deadline = start + secs;
	uint8_t buf[65536];

	if (!m)
		die("calloc");
	for (i = 0; i < conns; i++) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLET, .data.u32 = (uint32_t)i };

		m[i].fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (m[i].fd < 0)
			die("socket");
		if (connect(m[i].fd, (struct sockaddr *)&target, sizeof(target)) && errno != EINPROGRESS)
			die("connect");
		stream_init(&m[i].out, (unsigned int)i);
		stream_init(&m[i].in, (unsigned int)i);
		epoll_ctl(ep, EPOLL_CTL_ADD, m[i].fd, &ev);
	}
	while (left > 0 && now_s() < deadline) {
		struct epoll_event evs[256];
		int n = epoll_wait(ep, evs, 256, 100), k;

		for (k = 0; k < n; k++) {
			struct mesh_conn *c = &m[evs[k].data.u32];
			ssize_t r;

			if (c->done)
				continue;
			while (c->sent < bytes) {
				size_t chunk = bytes - c->sent < sizeof(buf) ? bytes - c->sent : sizeof(buf), j;
				struct stream save = c->out;

				for (j = 0; j < chunk; j++)
					buf[j] = stream_byte(&c->out);
				r = write(c->fd, buf, chunk);
				if (r < 0) {
					c->out = save;
					if (errno != EAGAIN && errno != ENOTCONN)
						c->bad = 1;
					break;
				}
				/* Rewind the stream to what was really written. */
				c->out = save;
				for (j = 0; j < (size_t)r; j++)
					stream_byte(&c->out);
				c->sent += (size_t)r;
			}
			if (c->sent == bytes && !c->shut) {
				shutdown(c->fd, SHUT_WR);
				c->shut = 1;
			}
			for (;;) {
				r = read(c->fd, buf, sizeof(buf));
				if (r > 0) {
					ssize_t j;

					for (j = 0; j < r; j++)
						if (buf[j] != stream_byte(&c->in))
							c->bad = 1;
					c->got += (size_t)r;
					continue;
				}
				if (r == 0 || (errno != EAGAIN && errno != ENOTCONN)) {
					if (r < 0 || c->got != bytes)
						c->bad = 1;
					c->done = 1;
					left--;
					bad += c->bad;
					close(c->fd);
				}
				break;
			}
		}
	}
	printf("%s conns=%d intact=%d unfinished=%d bytes_each_way=%zu seconds=%.2f\n",
	       !bad && !left ? "OK" : "FAIL", conns, conns - bad - left, left, bytes, now_s() - start);
	return !bad && !left ? 0 : 1;
}

/* ------------------------------------------------------------ idle, firstbyte */

static int dial_echo_byte(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct pollfd p;
	char b = 'x';

	if (fd < 0 || connect(fd, (struct sockaddr *)&target, sizeof(target)))
		return -1;
	p.fd = fd;
	p.events = POLLIN;
	if (write(fd, &b, 1) != 1 || poll(&p, 1, 5000) != 1 || read(fd, &b, 1) != 1) {
		close(fd);
		return -1;
	}
	return fd;
}

static int cmd_idle(int count, int secs)
{
	struct pollfd p = { .fd = 0, .events = POLLIN };
	int i;
	char c;

	for (i = 0; i < count; i++)
		if (dial_echo_byte() < 0) {
			printf("FAIL after %d connections: %s\n", i, strerror(errno));
			return 1;
		}
	printf("ready %d\n", count);
	fflush(stdout);
	/* Until stdin closes (or has data), or the time is up. */
	if (poll(&p, 1, secs * 1000) == 1 && read(0, &c, 1) < 0)
		return 0;
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int cmd_firstbyte(int count)
{
	double *ms = calloc((size_t)count, sizeof(double));
	int i;

	if (!ms)
		die("calloc");
	for (i = 0; i < count; i++) {
		double t0 = now_s();
		int fd = dial_echo_byte();

		if (fd < 0) {
			printf("FAIL connection %d: %s\n", i, strerror(errno));
			return 1;
		}
		ms[i] = (now_s() - t0) * 1000;
		close(fd);
	}
	qsort(ms, (size_t)count, sizeof(double), cmp_double);
	printf("firstbyte count=%d p50_ms=%.2f max_ms=%.2f\n", count, ms[count / 2], ms[count - 1]);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: loadtool echo|mesh|idle|firstbyte PORT ...\n");
		return 2;
	}
	raise_nofile();
	target.sin_family = AF_INET;
	target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	target.sin_port = htons((uint16_t)atoi(argv[2]));
	if (!strcmp(argv[1], "echo"))
		cmd_echo();
	if (!strcmp(argv[1], "mesh") && argc == 6)
		return cmd_mesh(atoi(argv[3]), (size_t)atoll(argv[4]), atof(argv[5]));
	if (!strcmp(argv[1], "idle") && argc == 5)
		return cmd_idle(atoi(argv[3]), atoi(argv[4]));
	if (!strcmp(argv[1], "firstbyte") && argc == 4)
		return cmd_firstbyte(atoi(argv[3]));
	fprintf(stderr, "loadtool: bad arguments\n");
	return 2;
}
