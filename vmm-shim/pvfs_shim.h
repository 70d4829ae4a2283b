/* SPDX-License-Identifier: MIT */
/*
 * pvfs_shim.h - libpvfs-shim, the C API a VMM uses to connect a VM to pvfsd.
 *
 * A VMM (pvfs-shim for stock QEMU, pvfs-bench's simulated VM, or any VMM
 * that links this library) does three things:
 *
 *   1. pvfs_region_create(): create the VM's ring region (a sealed memfd) and
 *      one kick and one call eventfd per queue. The VMM owns these, so a
 *      pvfsd restart does not lose them.
 *   2. describe its guest memory as a table of (gpa, size, fd, offset).
 *   3. pvfs_plug(): hand region, memory table and eventfds to pvfsd for a
 *      tenant that an operator provisioned with `attach`. The plug lasts as
 *      long as the returned connection; closing it (or the VMM dying)
 *      unplugs the VM.
 *
 * The userspace guest driver (pvfs_uguest_*) drives the guest side of a
 * region from a process, for simulated VMs and tests.
 *
 * Every function returns 0 (or a count) or a negative errno. Functions that
 * talk to pvfsd copy the daemon's error message into err/errlen.
 */
#ifndef PVFS_SHIM_H
#define PVFS_SHIM_H

#include <stddef.h>
#include <stdint.h>

#include "pvfs_ring.h"

struct pvfs_region {
	void *base;			/* the mapping, region_size bytes */
	uint64_t size;
	int memfd;
	uint32_t nr_queues, depth, max_segs;
	int kick_fd[PVFS_MAX_QUEUES];	/* guest -> host doorbell, per queue */
	int call_fd[PVFS_MAX_QUEUES];	/* host -> guest interrupt, per queue */
};

struct pvfs_region_params {
	uint32_t nr_queues;		/* 1 .. PVFS_MAX_QUEUES */
	uint32_t depth;			/* power of two, 2 .. PVFS_MAX_DEPTH */
	uint32_t max_segs;		/* 1 .. PVFS_MAX_SEGS */
	uint32_t doorbell_peer;		/* ivshmem peer id of the host side (0 if unused) */
};

int pvfs_region_create(const struct pvfs_region_params *p, struct pvfs_region **ret);
void pvfs_region_free(struct pvfs_region *r);
struct pvfs_region_hdr *pvfs_region_hdr(const struct pvfs_region *r);

/* One guest-memory range: guest-physical [gpa, gpa+size) is fd at offset. */
struct pvfs_memregion {
	uint64_t gpa;
	uint64_t size;
	int fd;
	uint64_t offset;
};

struct pvfs_attach_opts {
	const char *volume;		/* path inside one of pvfsd's volume dirs */
	int readonly;
	const char *cache;		/* "none" (O_DIRECT, default) or "writeback" */
	uint32_t weight;		/* 0 = default (100) */
	uint64_t iops_limit, bps_limit, iops_reservation;	/* 0 = none */
};

/* pvfs_attach - provision tenant name on the pvfsd at socket path. -EEXIST if it exists. */
int pvfs_attach(const char *sock, const char *name, const struct pvfs_attach_opts *o,
		char *err, size_t errlen);

struct pvfs_plug;

/*
 * pvfs_plug - plug region r with memory table mem[nmem] into tenant name.
 * On success *ret holds the live connection.
 */
int pvfs_plug(const char *sock, const char *name, struct pvfs_region *r,
	      const struct pvfs_memregion *mem, unsigned nmem, struct pvfs_plug **ret,
	      char *err, size_t errlen);
/* pvfs_plug_fd - the connection; it becomes readable (EOF) if pvfsd goes away. */
int pvfs_plug_fd(const struct pvfs_plug *p);
/* pvfs_unplug - close the connection (unplugs the VM) and free p. Accepts NULL. */
void pvfs_unplug(struct pvfs_plug *p);

/* ---- userspace guest driver ---- */

struct pvfs_uguest_queue {
	struct pvfs_queue q;
	uint32_t sq_tail;		/* private copy: next slot to fill */
	uint32_t sq_published;
	uint32_t cq_head;		/* private copy: next CQE to consume */
	int kick_fd, call_fd;
	uint16_t *free_tags;		/* stack of free tags */
	uint32_t nr_free;
	uint64_t kicks;			/* doorbells rung (would-be VM exits) */
	uint64_t submitted;		/* SQEs published */
};

struct pvfs_uguest {
	struct pvfs_region *r;
	uint32_t nr_queues;
	struct pvfs_uguest_queue *queues;
};

int pvfs_uguest_init(struct pvfs_uguest *g, struct pvfs_region *r);
void pvfs_uguest_free(struct pvfs_uguest *g);
/* pvfs_uguest_host_state - the host state (acquire), and its generation in *gen. */
uint32_t pvfs_uguest_host_state(struct pvfs_uguest *g, uint32_t *gen);
/*
 * pvfs_uguest_queue_sqe - fill the next SQE (and the tag's segments) from
 * *sqe and segs[nsegs]; the tag is allocated here and returned (>= 0), or
 * -EBUSY when all tags are in flight. Not visible to the host until
 * pvfs_uguest_commit().
 */
int pvfs_uguest_queue_sqe(struct pvfs_uguest_queue *uq, const struct pvfs_sqe *sqe,
			  const struct pvfs_seg *segs, unsigned nsegs);
/* pvfs_uguest_next_tag - the tag the next pvfs_uguest_queue_sqe() will use, or -EBUSY. */
int pvfs_uguest_next_tag(const struct pvfs_uguest_queue *uq);
/*
 * pvfs_uguest_limit_tags - use only tags [0, n) from now on (n <= depth),
 * e.g. to have one buffer per tag. Call while no request is in flight.
 */
void pvfs_uguest_limit_tags(struct pvfs_uguest_queue *uq, uint32_t n);
/* pvfs_uguest_commit - publish queued SQEs; kick only if the host asked for it. */
int pvfs_uguest_commit(struct pvfs_uguest_queue *uq);
/* pvfs_uguest_reap - copy up to max CQEs out, free their tags; returns the count. */
unsigned pvfs_uguest_reap(struct pvfs_uguest_queue *uq, struct pvfs_cqe *out, unsigned max);
/*
 * pvfs_uguest_wait - wait up to timeout_ms for the interrupt eventfd (and
 * consume it). 1 = interrupt, 0 = timeout, < 0 = -errno.
 */
int pvfs_uguest_wait(struct pvfs_uguest_queue *uq, int timeout_ms);
/* pvfs_uguest_set_polling - set or clear NO_INTERRUPT on the queue. */
void pvfs_uguest_set_polling(struct pvfs_uguest_queue *uq, int polling);
/*
 * pvfs_uguest_reset - the reset handshake (pvfs_ring.h "Reset"): ask the
 * host to forget everything this region's guest had submitted, and wait up
 * to timeout_ms for its answer. On 0 every queue is empty and every tag
 * free, and nothing submitted before will ever complete or touch guest
 * memory. -EOPNOTSUPP: the last host did not offer PVFS_F_RESET (nothing
 * was asked); -ENODEV: the host removed the volume (REMOVED, or a state this
 * driver does not know); -ETIMEDOUT: no answer in time (pvfsd is gone, or a
 * request cannot be cancelled yet): the request stays pending, and the
 * caller must neither submit nor reuse the memory of earlier requests until
 * a later call succeeds. The caller must not submit or reap meanwhile.
 */
int pvfs_uguest_reset(struct pvfs_uguest *g, int timeout_ms);
/*
 * pvfs_uguest_capacity - the volume's capacity and the config_generation it
 * belongs to (PVFS_F_RESIZE), or -EAGAIN while the host is changing it.
 */
int pvfs_uguest_capacity(struct pvfs_uguest *g, uint64_t *ret_capacity, uint32_t *ret_gen);

#endif
