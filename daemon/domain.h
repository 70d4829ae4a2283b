/* SPDX-License-Identifier: MIT */
/*
 * domain.h - scheduling domains (domain.c): one per backing device or
 * remote target, shared by every poller that serves one of its tenants.
 * The control thread finds or creates a tenant's domain by key when the
 * tenant is attached; the pollers only ever see its struct sched_domain
 * (sched.h), which is where the shared scheduling state lives.
 */
#ifndef PVFSD_DOMAIN_H
#define PVFSD_DOMAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "sched.h"

#define DOMAIN_KEY_MAX	128	/* bytes, with the NUL */
#define DOMAINS_MAX	1024

/* A domain as the control plane sees it. Created and read on the control thread. */
struct domain {
	struct domain *next;
	struct sched_domain *sd;
	uint32_t tenants;		/* attached tenants in it */
	bool calibrated;		/* its cost model was set (pvfsctl calibrate) */
	char key[DOMAIN_KEY_MAX];
};

/*
 * domain_setup - how new domains are made (the pollers' scheduler mode,
 * in-flight cap, anticipation window and number; whether calibrated models
 * are refined online; whether slot shares are by weight over cost). Called
 * when the pollers start; domain_teardown frees every domain once they
 * have stopped.
 */
void domain_setup(enum sched_mode mode, uint32_t inflight_cap, uint64_t antic_ns,
		  uint32_t npollers, bool learn, bool slots_by_cost);
void domain_teardown(void);

/*
 * domain_get - the domain named key, created if new; takes a tenant
 * reference (domain_put drops it; the domain itself stays, for stats, until
 * teardown). -EINVAL (empty or too long key), -ENOSPC (DOMAINS_MAX), -ENOMEM.
 */
int domain_get(const char *key, struct domain **ret);
void domain_put(struct domain *dom);

/*
 * domain_set_model - the cost model of the domain named key; all zeroes is
 * the fixed model. With create, a domain that does not exist yet is made
 * (the state file's models wait for their first tenant); without, that is
 * -ENOENT (a control client cannot make domains). -EINVAL (bad key or
 * coefficient), -ENOSPC, -ENOMEM.
 */
int domain_set_model(const char *key, const struct sched_model *m, bool create);

/* Every domain, oldest first: for stats and metrics (control thread). */
const struct domain *domain_first(void);

#endif
