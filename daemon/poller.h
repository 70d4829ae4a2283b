/* SPDX-License-Identifier: MIT */
/*
 * poller.h - the data plane's pollers (poller.c), as the control thread
 * sees them: start and stop them, pick one for a tenant, hand tenants in
 * and ask for them back, read their counters. The handover rules are
 * pvfsd.h's; results come back by callback (poller_reap_done), never by a
 * call into the control plane.
 */
#ifndef PVFSD_POLLER_H
#define PVFSD_POLLER_H

#include <stdbool.h>
#include <stdint.h>

#include "sched.h"

struct irq_coalesce;
struct poller;
struct poller_stats;
struct tenant_io;

int poller_start_all(int n, enum sched_mode mode, uint32_t inflight_cap);
void poller_stop_all(void);
int poller_count(void);
const struct poller_stats *poller_stats(int i);
/* poller_get - poller i (0 <= i < poller_count()); poller_index - its number. */
struct poller *poller_get(int i);
int poller_index(const struct poller *p);
/* poller_tenants - how many tenants poller i serves now (any thread). */
uint32_t poller_tenants(int i);
/*
 * poller_add - hand a plugged tenant to poller p (control thread); moved:
 * it comes from another poller (poller_move), not from a plug.
 */
void poller_add(struct poller *p, struct tenant_io *tio, bool moved);
/*
 * poller_move - ask tio's poller to hand it back at a quiescent point: it
 * stops consuming the tenant's SQEs, waits until its in-flight requests
 * have completed, cancels its eventfd operations and hands tio back
 * through poller_reap_done() with tio->moving set, like a drained remove.
 * The control thread then adds it to the new poller (poller_add, moved).
 * A remove that comes first or meanwhile wins: tio comes back drained.
 */
void poller_move(struct tenant_io *tio);
/*
 * poller_remove - ask the poller to stop serving tio; fail_new makes new
 * requests complete with -ENODEV (detach) instead of staying queued (unplug);
 * force also cancels what io_uring can cancel (a hung backend). The control
 * thread learns of the drain from poller_reap_done().
 */
void poller_remove(struct tenant_io *tio, bool fail_new, bool force);
/* poller_set_qos - apply new QoS to a running tenant. */
void poller_set_qos(struct tenant_io *tio, const struct sched_qos *q);
/* poller_resize - a running tenant's volume grew to capacity: tell its guest. */
void poller_resize(struct tenant_io *tio, uint64_t capacity);
/* poller_set_coalesce - apply new interrupt coalescing to a running tenant. */
void poller_set_coalesce(struct tenant_io *tio, const struct irq_coalesce *c);
/* poller_drop_interrupts - test hook (--test-hooks): do not send the next count needed interrupts. */
void poller_drop_interrupts(struct tenant_io *tio, uint32_t count);
/* poller_done_fd - readable when a remove finished; then call poller_reap_done(). */
int poller_done_fd(void);
/* poller_reap_done - cb(tio) for each tenant whose remove has finished (control thread). */
void poller_reap_done(void (*cb)(struct tenant_io *tio));

#endif
