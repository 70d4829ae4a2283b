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

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sched.h"

#define DOMAIN_KEY_MAX	128	/* bytes, with the NUL */
#define DOMAINS_MAX	1024

/* A domain as the control plane sees it. Created and read on the control thread. */
struct domain {
	struct domain *next;
	struct sched_domain *sd;
	uint32_t tenants;		/* attached tenants in it */
	char key[DOMAIN_KEY_MAX];
};

/*
 * domain_setup - how new domains are made (the pollers' scheduler mode,
 * in-flight cap, anticipation window and number). Called when the pollers
 * start; domain_teardown frees every domain once they have stopped.
 */
void domain_setup(enum sched_mode mode, uint32_t inflight_cap, uint64_t antic_ns,
		  uint32_t npollers);
void domain_teardown(void);

/*
 * domain_get - the domain named key, created if new; takes a tenant
 * reference (domain_put drops it; the domain itself stays, for stats, until
 * teardown). -EINVAL (empty or too long key), -ENOSPC (DOMAINS_MAX), -ENOMEM.
 */
int domain_get(const char *key, struct domain **ret);
void domain_put(struct domain *dom);

/*
 * domain_key_dev - the key of a local volume on device dev (st_dev of a
 * file, st_rdev of a block device): "dev:MAJOR:MINOR" of the whole disk
 * when dev is a partition, so two partitions of one disk share a domain.
 */
void domain_key_dev(dev_t dev, char *buf, size_t len);

/*
 * domain_whole_disk - the disk that block device dev is a partition of, or
 * dev itself when it is not a partition or sysfs cannot tell.
 */
dev_t domain_whole_disk(dev_t dev);

/* Every domain, oldest first: for stats and metrics (control thread). */
const struct domain *domain_first(void);

#endif
