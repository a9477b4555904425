// SPDX-License-Identifier: MIT
/*
 * benchtool - the load generators and the echo server of `make bench`.
 *
 *   benchtool echo PORT                 epoll echo server on 127.0.0.1:PORT;
 *                                       passes a FIN on once its echo is out
 *   benchtool rtt PORT COUNT            COUNT 64-byte round trips on one
 *                                       connection; prints p50 and p99 in us
 *   benchtool rate PORT SECONDS THREADS connect, 16-byte exchange, close, in
 *                                       a loop; prints connections per second
 *   benchtool idle PORT COUNT           open COUNT connections, one exchange
 *                                       each, print "ready", hold them until
 *                                       stdin closes
 *   benchtool mesh PORT CONNS BYTES SECS
 *                                       CONNS connections at once, each
 *                                       sending BYTES of its own
 *                                       pseudo-random stream and checking
 *                                       the echo byte by byte; "OK ..." or
 *                                       "FAIL ..." (the fault tests)
 *   benchtool firstbyte PORT COUNT      COUNT connections one after the
 *                                       other: ms from connect() to the
 *                                       first echoed byte; p50 and max
 * Every loop is bounded by its count or its seconds.  The address is
 * 127.0.0.1 unless BENCHTOOL_ADDR names another IPv4 address (the echo
 * server in a container published by DNAT must listen on 0.0.0.0).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
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
	fprintf(stderr, "benchtool: %s: %s\n", what, strerror(errno));
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

static int dial(void)
{
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&target, sizeof(target))) {
		close(fd);
		return -1;
	}
	return fd;
}

static int exchange(int fd, size_t n)
{
	char buf[64] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde";
	size_t got = 0;

	if (write(fd, buf, n) != (ssize_t)n)
		return -1;
	while (got < n) {
		ssize_t r = read(fd, buf, n - got);

		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

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

/*
 * The echo server: edge-triggered, a buffer per connection, so a slow
 * reader holds back its writer instead of losing bytes; a FIN is passed on
 * once the echo is written.
 */
static _Noreturn void echo_server(void)
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

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int rtt(long count)
{
	double *t = calloc((size_t)count, sizeof(double));
	int fd = dial();
	long i;

	if (fd < 0 || !t)
		die("connect");
	for (i = 0; i < 200; i++)	/* warm-up */
		if (exchange(fd, 64))
			die("exchange");
	for (i = 0; i < count; i++) {
		double s = now_s();

		if (exchange(fd, 64))
			die("exchange");
		t[i] = (now_s() - s) * 1e6;
	}
	qsort(t, (size_t)count, sizeof(double), cmp_double);
	printf("p50_us %.2f p99_us %.2f\n", t[count / 2], t[count * 99 / 100]);
	return 0;
}

static double rate_until;
static atomic_long rate_done, rate_failed;

static void *rate_thread(void *arg)
{
	(void)arg;
	while (now_s() < rate_until) {
		int fd = dial();

		if (fd < 0 || exchange(fd, 16)) {
			atomic_fetch_add(&rate_failed, 1);
			if (fd >= 0)
				close(fd);
			continue;
		}
		close(fd);
		atomic_fetch_add(&rate_done, 1);
	}
	return NULL;
}

static int rate(double seconds, int threads)
{
	pthread_t th[64];
	double start = now_s();
	int i;

	rate_until = start + seconds;
	for (i = 0; i < threads && i < 64; i++)
		pthread_create(&th[i], NULL, rate_thread, NULL);
	for (i = 0; i < threads && i < 64; i++)
		pthread_join(th[i], NULL);
	printf("conn_per_s %.0f failed %ld\n", (double)atomic_load(&rate_done) / (now_s() - start),
	       atomic_load(&rate_failed));
	return 0;
}

static int idle(long count)
{
	struct rlimit rl = { (rlim_t)count + 64, (rlim_t)count + 64 };
	char c;
	long i;

	setrlimit(RLIMIT_NOFILE, &rl);
	for (i = 0; i < count; i++) {
		int fd = dial();

		if (fd < 0 || exchange(fd, 16))
			die("idle connection");
	}
	printf("ready\n");
	fflush(stdout);
	while (read(STDIN_FILENO, &c, 1) > 0)
		;
	return 0;
}

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
	char why[96];
};

/* Marks c bad, keeping the first reason. */
static void mesh_bad(struct mesh_conn *c, const char *what, int err)
{
	if (!c->bad)
		snprintf(c->why, sizeof(c->why), "%s%s%s", what, err ? ": " : "",
			 err ? strerror(err) : "");
	c->bad = 1;
}

static int mesh(int conns, size_t bytes, double secs)
{
	struct mesh_conn *m = calloc((size_t)conns, sizeof(*m));
	int ep = epoll_create1(0), i, shown, left = conns, bad = 0;
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
						mesh_bad(c, "write", errno);
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
						if (buf[j] != stream_byte(&c->in) && !c->bad) {
							char at[64];

							snprintf(at, sizeof(at), "byte %zu differs",
								 c->got + (size_t)j);
							mesh_bad(c, at, 0);
						}
					c->got += (size_t)r;
					continue;
				}
				if (r == 0 || (errno != EAGAIN && errno != ENOTCONN)) {
					if (r < 0)
						mesh_bad(c, "read", errno);
					else if (c->got != bytes) {
						char at[64];

						snprintf(at, sizeof(at), "end of stream after %zu bytes",
							 c->got);
						mesh_bad(c, at, 0);
					}
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
	for (i = 0, shown = 0; i < conns && shown < 8; i++)
		if (m[i].bad || !m[i].done) {
			printf("connection %d: sent %zu, got %zu: %s\n", i, m[i].sent, m[i].got,
			       m[i].bad ? m[i].why : "unfinished");
			shown++;
		}
	return !bad && !left ? 0 : 1;
}


/* COUNT new connections one after another: ms from connect() to the echo. */
static int firstbyte(int count)
{
	double *ms = calloc((size_t)count, sizeof(double));
	int i;

	if (!ms)
		die("calloc");
	for (i = 0; i < count; i++) {
		double t0 = now_s();
		int fd = dial();

		if (fd < 0 || exchange(fd, 1)) {
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
		fprintf(stderr, "usage: see the comment at the top of benchtool.c\n");
		return 2;
	}
	raise_nofile();
	target.sin_family = AF_INET;
	target.sin_port = htons((uint16_t)atoi(argv[2]));
	target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (getenv("BENCHTOOL_ADDR") && inet_pton(AF_INET, getenv("BENCHTOOL_ADDR"), &target.sin_addr) != 1) {
		fprintf(stderr, "benchtool: BENCHTOOL_ADDR is not an IPv4 address\n");
		return 2;
	}
	if (!strcmp(argv[1], "echo"))
		echo_server();
	if (!strcmp(argv[1], "mesh") && argc == 6)
		return mesh(atoi(argv[3]), (size_t)atoll(argv[4]), atof(argv[5]));
	if (!strcmp(argv[1], "firstbyte") && argc == 4)
		return firstbyte(atoi(argv[3]));
	if (!strcmp(argv[1], "rtt") && argc == 4)
		return rtt(atol(argv[3]));
	if (!strcmp(argv[1], "rate") && argc == 5)
		return rate(atof(argv[3]), atoi(argv[4]));
	if (!strcmp(argv[1], "idle") && argc == 4)
		return idle(atol(argv[3]));
	fprintf(stderr, "benchtool: bad arguments\n");
	return 2;
}
