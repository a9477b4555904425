// SPDX-License-Identifier: MIT
/*
 * benchtool - the load generators and the echo server of `make bench`.
 *
 *   benchtool echo PORT                 epoll echo server on 127.0.0.1:PORT
 *   benchtool rtt PORT COUNT            COUNT 64-byte round trips on one
 *                                       connection; prints p50 and p99 in us
 *   benchtool rate PORT SECONDS THREADS connect, 16-byte exchange, close, in
 *                                       a loop; prints connections per second
 *   benchtool idle PORT COUNT           open COUNT connections, one exchange
 *                                       each, print "ready", hold them until
 *                                       stdin closes
 * Every loop is bounded by its count or its seconds.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
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

static _Noreturn void echo_server(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int one = 1, lfd, ep;
	struct epoll_event ev = { .events = EPOLLIN };

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) || listen(lfd, 4096))
		die("bind");
	ep = epoll_create1(0);
	ev.data.fd = lfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	for (;;) {
		struct epoll_event evs[64];
		int n = epoll_wait(ep, evs, 64, -1), i;

		for (i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == lfd) {
				int c;

				while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
					setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					ev.data.fd = c;
					epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
				}
				continue;
			}
			for (;;) {
				char buf[16384];
				ssize_t r = read(fd, buf, sizeof(buf));

				if (r > 0) {
					if (write(fd, buf, (size_t)r) != r) {
						close(fd);
						break;
					}
					continue;
				}
				if (r < 0 && errno == EAGAIN)
					break;
				close(fd);
				break;
			}
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

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: see the comment at the top of benchtool.c\n");
		return 2;
	}
	target.sin_family = AF_INET;
	target.sin_port = htons((uint16_t)atoi(argv[2]));
	target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (!strcmp(argv[1], "echo"))
		echo_server(atoi(argv[2]));
	if (!strcmp(argv[1], "rtt") && argc == 4)
		return rtt(atol(argv[3]));
	if (!strcmp(argv[1], "rate") && argc == 5)
		return rate(atof(argv[3]), atoi(argv[4]));
	if (!strcmp(argv[1], "idle") && argc == 4)
		return idle(atol(argv[3]));
	fprintf(stderr, "benchtool: bad arguments\n");
	return 2;
}
