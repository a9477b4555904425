/* SPDX-License-Identifier: MIT */
#ifndef NTB_RULES_H
#define NTB_RULES_H

#include <stdint.h>
#include <sys/socket.h>

#define RULES_MAX		256
#define RULES_BUILTIN_MAX	128	/* the fixed list and the namespace's own addresses */

struct rule {
	int family;		/* AF_INET, AF_INET6 */
	uint8_t addr[16];
	unsigned int len;	/* prefix bits */
	uint16_t port_lo, port_hi;
	int allow;		/* --allow, or --deny */
};

struct rule_set {
	struct rule r[RULES_MAX];
	unsigned int n;
	struct rule builtin[RULES_BUILTIN_MAX];
	unsigned int nbuiltin;
	int allow_builtin_denied;	/* --allow-builtin-denied */
};

int rule_parse(const char *text, struct rule *out, const char **why);
void rules_init(struct rule_set *rs);
int rules_add(struct rule_set *rs, const char *text, int allow, const char **why);
void rules_add_builtin(struct rule_set *rs, const struct sockaddr *sa);
int rules_check(const struct rule_set *rs, const struct sockaddr *dst, const char **why);
int rules_check_narrow(const struct rule_set *rs, const struct sockaddr *dst, const char **why);

#endif
