// SPDX-License-Identifier: MIT
/*
 * domain.c - the registry of scheduling domains (see domain.h; the
 * scheduling itself is sched.c). Runs on the control thread only: tenants
 * are given their domain at attach and keep it; the pollers reach a domain
 * through the tenant's struct sched_domain pointer, never through this list.
 *
 * Domains are kept until the pollers stop, even with no tenant left: a
 * host has few devices, and a tenant that comes back finds its device's
 * state (effective cap, virtual time) where it was.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain.h"
#include "pvfsd.h"

static struct domain *domains, **domains_tail = &domains;
static uint32_t nr_domains;
static enum sched_mode d_mode;
static uint32_t d_cap = SCHED_INFLIGHT_CAP_DEFAULT, d_npollers = 1;
static uint64_t d_antic_ns = SCHED_ANTIC_NS_DEFAULT;
static bool d_learn = true, d_slots_by_cost;

void domain_setup(enum sched_mode mode, uint32_t inflight_cap, uint64_t antic_ns,
		  uint32_t npollers, bool learn, bool slots_by_cost)
{
	domain_teardown();
	d_mode = mode;
	d_cap = inflight_cap;
	d_antic_ns = antic_ns;
	d_npollers = npollers;
	d_learn = learn;
	d_slots_by_cost = slots_by_cost;
}

void domain_teardown(void)
{
	struct domain *dom, *next;

	for (dom = domains; dom; dom = next) {
		next = dom->next;
		sched_domain_destroy(dom->sd);
		free(dom);
	}
	domains = NULL;
	domains_tail = &domains;
	nr_domains = 0;
}

static int lookup(const char *key, bool create, struct domain **ret)
{
	struct domain *dom;
	size_t len = strlen(key);
	int r;

	if (!len || len >= DOMAIN_KEY_MAX)
		return -EINVAL;
	for (dom = domains; dom; dom = dom->next) {
		if (!strcmp(dom->key, key)) {
			*ret = dom;
			return 0;
		}
	}
	if (!create)
		return -ENOENT;
	if (nr_domains >= DOMAINS_MAX)
		return -ENOSPC;
	dom = calloc(1, sizeof(*dom));
	if (!dom)
		return -ENOMEM;
	r = sched_domain_create(d_mode, d_cap, d_antic_ns, d_npollers, PVFSD_MAX_TENANTS,
				&dom->sd);
	if (r < 0) {
		free(dom);
		return r;
	}
	sched_domain_set_learning(dom->sd, d_learn);
	sched_domain_set_slots_by_cost(dom->sd, d_slots_by_cost);	/* no entity yet */
	memcpy(dom->key, key, len + 1);
	*domains_tail = dom;
	domains_tail = &dom->next;
	nr_domains++;
	*ret = dom;
	return 0;
}

int domain_get(const char *key, struct domain **ret)
{
	struct domain *dom;
	int r = lookup(key, true, &dom);

	if (r < 0)
		return r;
	dom->tenants++;
	*ret = dom;
	return 0;
}

int domain_set_model(const char *key, const struct sched_model *m, bool create)
{
	static const struct sched_model fixed;
	struct domain *dom;
	int r;

	r = sched_model_validate(m);
	if (r < 0)
		return r;
	r = lookup(key, create, &dom);
	if (r < 0)
		return r;
	r = sched_domain_set_model(dom->sd, m);
	if (r < 0)
		return r;
	dom->calibrated = memcmp(m, &fixed, sizeof(*m)) != 0;
	return 0;
}

void domain_put(struct domain *dom)
{
	if (dom && dom->tenants)
		dom->tenants--;
}

const struct domain *domain_first(void)
{
	return domains;
}
