/* SPDX-License-Identifier: MIT */
#ifndef NTB_RENDEZVOUS_H
#define NTB_RENDEZVOUS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include "fdpass.h"
#include "msg.h"

enum rdv_kind {
	RDV_FD,		/* fd:N - an inherited connected socket */
	RDV_ABSTRACT,	/* @name - abstract unix socket of the current netns */
	RDV_PATH,	/* /path - unix socket file */
};

#define RDV_MAX_UIDS 16

struct rdv_spec {
	enum rdv_kind kind;
	char name[108];		/* sun_path without the leading NUL or '@' */
	int fd;
};

struct rdv_acl {
	uid_t uids[RDV_MAX_UIDS];
	unsigned int n;
};

int rdv_parse(const char *text, struct rdv_spec *out, const char **why);
void rdv_acl_init(struct rdv_acl *acl);
int rdv_acl_add(struct rdv_acl *acl, const char *text);
unsigned int rdv_acl_map(struct rdv_acl *acl, const char *map);
void rdv_acl_joined_userns(struct rdv_acl *acl, const char *what);
int rdv_check_peer(int sock, const struct rdv_acl *acl, char *why, size_t size);
int rdv_listen(const struct rdv_spec *spec, const char *text, const struct rdv_acl *acl);
int rdv_connect(const struct rdv_spec *spec, const char *text, int timeout_ms);
int rdv_inherited(const struct rdv_spec *spec, const char *text);
int rdv_hello_send(int sock, enum msg_role role, unsigned int forwards, unsigned int flags);
int rdv_hello_check(const uint8_t *buf, ssize_t n, const struct fdpass_in *in, enum msg_role want,
		    unsigned int *forwards, unsigned int *flags, const char **why);
socklen_t rdv_sockaddr(const struct rdv_spec *spec, struct sockaddr_un *sun);
int rdv_hello_wait(int sock, enum msg_role want, int timeout_ms, unsigned int *forwards,
		   unsigned int *flags, const char **why);

#endif
