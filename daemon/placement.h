/* SPDX-License-Identifier: MIT */
/*
 * placement.h - which poller serves which tenant (placement.c), on the
 * control thread: the poller for a new plug, by measured load; automatic
 * rebalancing between pollers; with --io-threads auto, how many pollers
 * are in use. The measurements are taken once per placement_tick().
 */
#ifndef PVFSD_PLACEMENT_H
#define PVFSD_PLACEMENT_H

#include <stdbool.h>
#include <stdint.h>

struct poller;

/* placement_pick - the poller for a tenant being plugged. */
struct poller *placement_pick(void);
/*
 * placement_tick - measure every poller's busy share and every tenant's
 * cost rate since the last tick, then (cfg.rebalance) move at most one
 * tenant if the imbalance has lasted (see placement.c for the rules).
 */
void placement_tick(void);
/* placement_active - pollers in use: all, or with --io-threads auto those not parked. */
int placement_active(void);
/* placement_load - poller i's busy share (0-1) over the last tick. */
double placement_load(int i);

#endif
