/* SPDX-License-Identifier: MIT */
/*
 * sched.h - the data-plane scheduler: decides which tenant's next block
 * request a poller dispatches to io_uring. One struct sched per poller;
 * each tenant embeds a struct sched_entity. The scheduler never sees a
 * request, only "this entity has work", "who goes next?" and "this entity
 * dispatched N bytes". Time is passed in (now, in ns on any monotonic
 * clock), so the module is pure and tests run it on a simulated clock.
 *
 * Policy (SCHED_MODE_FAIR), see docs/qos.md for the operator's view:
 *
 *   cost        every request costs SCHED_OP_COST + its length in bytes, so
 *               a 4 KiB read costs 8 KiB-equivalent and a 1 MiB write
 *               1 MiB + 4 KiB: tenants are compared by cost, not by count.
 *   weight      start-time fair queueing on virtual time: an entity's
 *               virtual time advances by cost / weight at each dispatch and
 *               the active entity with the smallest one goes next, so
 *               backlogged entities share cost in proportion to weight.
 *               An entity that (re)activates starts at the system virtual
 *               time: idle time banks no credit.
 *   reservation a minimum in requests/s, served first (earliest reservation
 *               tag that is due, mClock's constraint phase). Dispatches won
 *               by weight count towards it, so an entity gets its
 *               reservation or its weighted share of what reservations
 *               leave, whichever is larger.
 *   limits      requests/s and bytes/s caps, each a GCRA (virtual-scheduling
 *               token bucket) with a burst of SCHED_BURST_NS worth of rate
 *               plus one request. A request is charged after it is
 *               dispatched, so pick needs no size; an entity in debt is
 *               parked until its debt falls back under the burst. Limits
 *               win over reservations.
 *   in-flight   at most inflight_cap requests dispatched and not completed,
 *               all entities together, so the queue builds here (where the
 *               policy is) and not in the device. Each busy entity (active,
 *               or with requests in flight) is guaranteed its weight's
 *               share of the cap, rounded down: while the cap is full, an
 *               entity below its share may still dispatch up to it. So a
 *               tenant whose requests are slow (a hung backend, long
 *               flushes) and that took every free slot cannot stall the
 *               others: they get their shares at once, and the total in
 *               flight stays below twice the cap. Below the cap, anyone may
 *               borrow free slots (work-conserving).
 *   latency     an optional latency target per entity (mean time from a
 *               request seen to its completion). Fair shares decide who
 *               goes next, but a light tenant's request still waits in the
 *               device behind everything in flight; so while an entity with
 *               a target misses it, the effective in-flight cap shrinks
 *               (multiplicatively, down to 1) and grows back (additively)
 *               while every target is met, like Linux's blk-iolatency. It
 *               trades the heavy tenants' throughput for the light one's
 *               latency, which is what an operator asks for by setting it.
 *
 * SCHED_MODE_FIFO ignores weights, reservations and limits: active entities are
 * served round-robin, one request each (still under the in-flight cap).
 *
 * Cost: sched_pick, sched_dispatched, sched_activate, sched_deactivate and
 * sched_set_qos are O(log n) in the number of active entities (three
 * indexed binary heaps); nothing allocates after sched_init.
 *
 * Threading: a struct sched and its entities belong to one poller thread;
 * every call is made from it, except sched_entity_stats(), which may be
 * called from any thread (counters are written with relaxed atomics).
 * Control-plane changes (set-qos, detach) are posted to the poller.
 */
#ifndef PVFS_SCHED_H
#define PVFS_SCHED_H

#include <stdbool.h>
#include <stdint.h>

enum sched_mode {
	SCHED_MODE_FAIR,	/* weights, reservations, limits */
	SCHED_MODE_FIFO,	/* round-robin, for comparison (pvfsd --scheduler fifo) */
};

#define SCHED_WEIGHT_MIN	1
#define SCHED_WEIGHT_DEFAULT	100
#define SCHED_WEIGHT_MAX	10000
#define SCHED_IOPS_MAX		100000000ull	/* 1e8 requests/s */
#define SCHED_BPS_MAX		(1ull << 40)	/* 1 TiB/s */
#define SCHED_INFLIGHT_CAP_DEFAULT 64
#define SCHED_INFLIGHT_CAP_MAX	65536
#define SCHED_ENTITIES_MAX	65536
/* Per-request overhead in the cost model, in bytes-equivalent. */
#define SCHED_OP_COST		4096u
/* Burst of every rate (limit or reservation catch-up): 100 ms of that rate. */
#define SCHED_BURST_NS		100000000ull
/* Latency targets: evaluated every SCHED_LAT_WINDOW_NS over >= SCHED_LAT_SAMPLES completions. */
#define SCHED_LAT_WINDOW_NS	10000000ull
#define SCHED_LAT_SAMPLES	8u
/* Windows without a targeted completion before the cap returns to full. */
#define SCHED_LAT_QUIET_WINDOWS	10u
#define SCHED_LAT_TARGET_MAX	(10ull * 1000000000ull)	/* 10 s */

/* QoS of one entity. 0 in a rate field means none (no reservation, no limit). */
struct sched_qos {
	uint32_t weight;		/* SCHED_WEIGHT_MIN..SCHED_WEIGHT_MAX */
	uint32_t pad;			/* must be zero */
	uint64_t iops_reservation;	/* minimum requests/s, <= iops_limit if set */
	uint64_t iops_limit;		/* maximum requests/s */
	uint64_t bps_limit;		/* maximum bytes/s */
	uint64_t latency_target_ns;	/* mean latency to defend, 0 = none */
};

#define SCHED_QOS_DEFAULT ((struct sched_qos){ .weight = SCHED_WEIGHT_DEFAULT })

/* Counters of one entity since sched_entity_add (see sched_entity_stats). */
struct sched_stats {
	uint64_t dispatched;		/* requests */
	uint64_t resv_dispatched;	/* of which served by the reservation */
	uint64_t cost;			/* sum of sched_cost() of its requests */
	uint64_t throttled;		/* times a limit held it back while it had work */
	uint64_t throttled_ns;		/* total time held back by a limit */
	uint64_t inflight;		/* dispatched, not yet completed */
};

enum {
	SCHED_HEAP_WEIGHT,	/* active, not throttled; by virtual time */
	SCHED_HEAP_RESV,	/* same, with a reservation; by reservation tag */
	SCHED_HEAP_THROTTLE,	/* active, held by a limit; by eligible time */
	SCHED_HEAP_NR,
};

/*
 * Embedded in the caller's tenant; every field is private to sched.c. The
 * memory must stay valid until the entity is removed and its last
 * in-flight request completed.
 */
struct sched_entity {
	struct sched_qos qos;
	uint64_t vtime;		/* virtual start time of its next request */
	uint64_t vrem;		/* remainder of cost / weight */
	uint64_t resv_tag;	/* when its next reserved request is due */
	uint64_t resv_rem;
	uint64_t iops_tat;	/* GCRA theoretical arrival times */
	uint64_t iops_rem;
	uint64_t bps_tat;
	uint64_t bps_rem;
	uint64_t ready_ns;	/* limits allow a dispatch from this time */
	uint64_t throttle_start;
	uint32_t heap_idx[SCHED_HEAP_NR];
	uint32_t flags;
	uint32_t lat_cnt;	/* latency samples since the last evaluation */
	uint64_t lat_sum;
	struct sched_stats stats;
};

struct sched_heap {
	struct sched_entity **v;
	uint32_t n;
};

/* Embedded or allocated by the poller; fields private to sched.c. */
struct sched {
	enum sched_mode mode;
	uint32_t inflight_cap;
	uint32_t cap_eff;	/* inflight_cap lowered by latency targets (atomic reads) */
	uint32_t inflight;
	uint64_t lat_window_end;
	bool lat_missed;	/* some target was missed in this window */
	bool lat_met;		/* some target was evaluated and met */
	uint32_t lat_quiet;	/* consecutive windows without any evaluation */
	uint32_t nentities;
	uint32_t max_entities;
	uint64_t busy_weight;	/* sum of weights of busy entities (slot shares) */
	uint32_t busy_count;
	uint64_t vnow;		/* system virtual time */
	uint64_t seq;		/* FIFO round-robin order */
	struct sched_heap heap[SCHED_HEAP_NR];
};

/* The cost model: what a request of `bytes` is charged, in bytes-equivalent. */
static inline uint64_t sched_cost(uint32_t bytes)
{
	return (uint64_t)SCHED_OP_COST + bytes;
}

/*
 * sched_init - inflight_cap in 1..SCHED_INFLIGHT_CAP_MAX, max_entities in
 * 1..SCHED_ENTITIES_MAX. Allocates its heaps: -EINVAL, -ENOMEM.
 * sched_destroy accepts a zeroed or destroyed struct.
 */
int sched_init(struct sched *s, enum sched_mode mode, uint32_t inflight_cap,
	       uint32_t max_entities);
void sched_destroy(struct sched *s);

/* 0, or -EINVAL if a field is out of range (the control plane calls it first). */
int sched_qos_validate(const struct sched_qos *q);

/*
 * sched_entity_add - a new, inactive entity with QoS q. -EINVAL on bad q,
 * -ENOSPC past max_entities.
 * sched_entity_remove - forget it, active or not. Requests it still has in
 * flight keep counting against the cap until their sched_completed().
 */
int sched_entity_add(struct sched *s, struct sched_entity *e,
		     const struct sched_qos *q, uint64_t now);
void sched_entity_remove(struct sched *s, struct sched_entity *e);

/* Change QoS at run time; tags, debts and counters are kept. -EINVAL on bad q. */
int sched_set_qos(struct sched *s, struct sched_entity *e,
		  const struct sched_qos *q, uint64_t now);

/*
 * The caller's queue for e became non-empty / empty. Idempotent. Only
 * active entities are picked.
 */
void sched_activate(struct sched *s, struct sched_entity *e, uint64_t now);
void sched_deactivate(struct sched *s, struct sched_entity *e, uint64_t now);

/*
 * sched_pick - the entity whose request goes next, or NULL if the in-flight
 * cap is reached (and every runnable entity has its slot share in flight)
 * or no active entity is allowed to go. *ret_wake_ns is
 * always written: the earliest time a throttled entity becomes eligible,
 * or UINT64_MAX (nobody is throttled, or the cap is reached: then a
 * completion is what makes progress possible). Picking changes nothing the
 * caller can see; follow it by sched_dispatched() of exactly one request
 * of the picked entity, or by sched_deactivate() if its queue turned out
 * empty, before the next pick (otherwise the same pick comes again).
 */
struct sched_entity *sched_pick(struct sched *s, uint64_t now, uint64_t *ret_wake_ns);

/*
 * Charge one request of `bytes` (0 for a flush) that e just dispatched.
 * Also allowed without a pick (re-issuing requests recovered from a
 * previous pvfsd): it is charged as a weighted dispatch and counts against
 * the cap, which it may then exceed until enough requests complete.
 */
void sched_dispatched(struct sched *s, struct sched_entity *e, uint32_t bytes,
		      uint64_t now);

/*
 * One request of e completed (also after e was removed), lat_ns after it
 * was first seen; lat_ns = 0 for a request that never reached the device
 * (rejected at once), which is not a latency sample.
 */
void sched_completed(struct sched *s, struct sched_entity *e, uint64_t lat_ns, uint64_t now);

/* The in-flight cap in force now (latency targets may have lowered it); any thread. */
static inline uint32_t sched_effective_cap(const struct sched *s)
{
	return __atomic_load_n(&s->cap_eff, __ATOMIC_RELAXED);
}

/* Requests dispatched and not completed, all entities together. */
static inline uint32_t sched_inflight(const struct sched *s)
{
	return __atomic_load_n(&s->inflight, __ATOMIC_RELAXED);
}

/* A consistent-enough copy of e's counters, from any thread. */
void sched_entity_stats(const struct sched_entity *e, struct sched_stats *ret);

#endif /* PVFS_SCHED_H */
