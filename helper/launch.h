/* SPDX-License-Identifier: MIT */
#ifndef NTB_LAUNCH_H
#define NTB_LAUNCH_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Starting netns-tcp-bridge detached for a container runtime (the CNI
 * plugin and the OCI hook), recording it by pid and start time, and
 * stopping it later from another process.
 */

/* A launcher as recorded: its pid and when it started (/proc/PID/stat 22). */
struct launch_rec {
	pid_t pid;
	unsigned long long start;
};

ssize_t launch_read_small(int dirfd, const char *path, char *buf, size_t size);
unsigned long long launch_start_time(pid_t pid);
int launch_is_launcher(const struct launch_rec *r);
int launch_find(char *path, size_t size);
pid_t launch_spawn(const char *launcher, const char *const *argv, int ready, int errpipe,
		   const int *keep, unsigned int nkeep);
int launch_wait_ready(int ready, int errpipe, const pid_t *pids, unsigned int want,
		      long long deadline, const char *late, char *why, size_t whysize);
void launch_stop(const struct launch_rec *recs, unsigned int n, int patience_ms, int kill_wait_ms);

#endif
