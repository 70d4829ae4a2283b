/* SPDX-License-Identifier: MIT */
/*
 * stats.h - snapshots of the data plane's counters for the control API
 * (JSON) and the metrics endpoint (Prometheus text). Counters are read with
 * relaxed atomic loads; a snapshot is consistent per counter, not across
 * counters.
 */
#ifndef PVFSD_STATS_H
#define PVFSD_STATS_H

#include <jansson.h>

#include "pvfsd.h"

/* stats_tenant_summary - name, state, volume, QoS: what `list` shows. */
json_t *stats_tenant_summary(const struct tenant *t);
/* stats_json - counters of t, or of every tenant and poller when t is NULL. */
json_t *stats_json(const struct tenant *t);
/* stats_tick - recompute per-tenant rates; main.c calls it once a second. */
void stats_tick(void);

/* stats_domains_json - every domain (or only's), as in stats_json's "domains". */
json_t *stats_domains_json(const struct tenant *only);

#endif
