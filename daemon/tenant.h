/* SPDX-License-Identifier: MIT */
/*
 * tenant.h - the core tenant API called by the control methods (control.c)
 * and by state restore (state.c). No JSON here: methods decode their
 * parameters into these structs. All calls happen on the control thread.
 */
#ifndef PVFSD_TENANT_H
#define PVFSD_TENANT_H

#include <stdbool.h>
#include <stddef.h>

#include "pvfsd.h"

struct attach_params {
	const char *name;
	const char *volume;
	bool readonly;
	enum cache_mode cache;
	struct sched_qos qos;
	struct irq_coalesce coalesce;
	/* state restore: a remote volume's geometry as last seen (its server may be down) */
	const struct backend_info *known;
	/* RBD volumes only */
	const char *ceph_conf;		/* one of the config's ceph_conf (NULL: its first) */
	const char *ceph_id;		/* one of the config's ceph_id (NULL: its first) */
	bool force;			/* break another client's exclusive lock */
	bool restore;			/* from the state file: wait for a dead owner's lock */
};

struct plug_mem {
	uint64_t gpa, size, offset;
};

struct plug_params {
	const char *name;
	uint32_t queues;
	struct plug_mem mem[PVFS_CTL_MAX_MEMREGIONS];
	uint32_t nr_mem;
	struct poller *poller;		/* to serve it (placement_pick); NULL: the first */
};

const char *tenant_state_name(enum tenant_state s);
/* cache_mode_name - "none" or "writeback", as in attach's "cache" parameter. */
const char *cache_mode_name(enum cache_mode m);
struct tenant *tenant_find(const char *name);
/* tenant_first - the list of tenants, newest first (then t->next). */
struct tenant *tenant_first(void);
int tenant_name_valid(const char *name);
unsigned tenant_count(void);
enum tenant_state tenant_effective_state(const struct tenant *t);
int tenant_attach(const struct attach_params *ap, struct tenant **ret, char *err, size_t errlen);
/*
 * tenant_plug - fds are region, kick[q], call[q], memory[n]; on success the
 * kick/call fds are owned by the tenant and set to -1 in fds (the caller
 * closes what is left: the region and memory fds, which are mapped).
 */
int tenant_plug(const struct plug_params *pp, int *fds, size_t nfds, struct ctl_conn *conn,
		char *err, size_t errlen);
void tenant_unplug(struct tenant *t);
/* Called once a detach that had to wait for a drain is done (t is freed after it). */
typedef void (*tenant_detach_cb)(void *arg, const char *name);
/*
 * tenant_detach - 0: detached now (cb is not called); 1: draining, cb(arg)
 * runs when done; -EALREADY: a detach is in progress already (with force,
 * it is escalated to cancel the in-flight I/O; its own cb stays the one
 * that runs).
 */
int tenant_detach(struct tenant *t, bool force, tenant_detach_cb cb, void *arg);
/*
 * tenant_move - move a running tenant to poller dst, at a quiescent point
 * (poller_move), without stopping its guest. 0: it is there already (cb
 * not called); 1: on its way, cb(arg, name, poller index) runs once it has
 * arrived, or cb(arg, name, -ENODEV) if an unplug or detach came first;
 * -EBUSY: a move is on its way already; -EINVAL: not running (err says why).
 */
typedef void (*tenant_move_cb)(void *arg, const char *name, int result);
int tenant_move(struct tenant *t, struct poller *dst, tenant_move_cb cb, void *arg, char *err,
		size_t errlen);
/* tenant_moves_total - moves finished since pvfsd started, all tenants together. */
uint64_t tenant_moves_total(void);
int tenant_set_qos(struct tenant *t, const struct sched_qos *q, char *err, size_t errlen);
/* tenant_set_coalesce - interrupt coalescing (validated by the caller), now and at every plug. */
void tenant_set_coalesce(struct tenant *t, const struct irq_coalesce *c);
/*
 * tenant_resize - grow t's volume to size bytes (a multiple of its block
 * size) through its backend's resize hook, or with size 0 take the size the
 * volume has now (a block device grown on the host), and tell a plugged
 * guest (pvfs_ring.h PVFS_F_RESIZE). Refuses to shrink.
 */
int tenant_resize(struct tenant *t, uint64_t size, char *err, size_t errlen);
/* tenant_drop_interrupts - test hook: t's next count interrupts are not sent. */
int tenant_drop_interrupts(struct tenant *t, uint32_t count, char *err, size_t errlen);
void tenant_conn_closed(struct ctl_conn *conn);
/*
 * tenant_drained - the poller has let go of tio (main.c passes it to
 * poller_reap_done): unmap, finish an unplug or a detach.
 */
void tenant_drained(struct tenant_io *tio);
/* tenant_stop_plugging - shutdown has begun: plug fails with -ESHUTDOWN. */
void tenant_stop_plugging(void);
/*
 * tenant_free_all - at exit, once every tenant is unplugged: close their
 * volumes (a remote one's connection ends cleanly: an RBD image's lock is
 * released for the next pvfsd instead of lingering with a dead client).
 * The state file keeps them.
 */
void tenant_free_all(void);
/*
 * tenant_set_wait_tick - fn is called about every 250 ms while an attach
 * waits for a remote server (its connect runs on a thread of its own).
 */
void tenant_set_wait_tick(void (*fn)(void));
/*
 * tenant_changed_fd - readable when a volume changed underneath (an RBD
 * image resized with `rbd resize`); then call tenant_volumes_changed(),
 * which re-reads their sizes as `pvfsctl resize NAME 0` would.
 */
int tenant_changed_fd(void);
void tenant_volumes_changed(void);

#endif
