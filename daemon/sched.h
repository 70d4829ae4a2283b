/* SPDX-License-Identifier: MIT */
/*
 * sched.h - the data-plane scheduler: decides which tenant's next block
 * request a poller dispatches to io_uring. The scheduler never sees a
 * request, only "this entity has work", "who goes next?" and "this entity
 * dispatched N bytes". Time is passed in (now, in ns on any monotonic
 * clock), so the module is pure and tests run it on a simulated clock.
 *
 * Three objects:
 *   struct sched_domain  one per backing device (a disk, a remote target):
 *                        what its tenants compete for. In-flight cap, slot
 *                        shares, system virtual time, latency targets and
 *                        the cost model are per domain, shared by every
 *                        poller that serves one of its tenants (atomics,
 *                        no lock).
 *   struct sched         one per poller: its own entities, per domain.
 *   struct sched_entity  one per tenant, embedded in it.
 *
 * Policy (SCHED_MODE_FAIR), see docs/qos.md for the operator's view:
 *
 *   cost        the domain's model (struct sched_model): by default every
 *               request costs SCHED_OP_COST + its length in bytes, so a
 *               4 KiB read costs 8 KiB-equivalent and a 1 MiB write
 *               1 MiB + 4 KiB; a calibrated domain charges the device time
 *               measured for its kind (read or write, sequential or
 *               random: a request that starts where its tenant's last one
 *               ended is sequential) plus time per byte, and a flush its
 *               measured time (blk-iocost's linear model). Tenants are
 *               compared by cost, not by count.
 *   weight      start-time fair queueing on the domain's virtual time: an
 *               entity's virtual time advances by cost / weight at each
 *               dispatch and the entity with the smallest one goes next, so
 *               continuously active entities share cost in proportion to
 *               weight. One order across pollers: each poller publishes
 *               the smallest virtual time among its entities of a domain
 *               (its front), and an entity goes only while it is at most
 *               SCHED_LEAD_COST / weight ahead of every front. An entity
 *               that (re)activates starts at the system virtual time: idle
 *               time banks no credit.
 *   anticipation an entity whose queue just ran empty while it had at
 *               least SCHED_ANTIC_MIN_INFLIGHT requests in flight keeps its
 *               place in the front for the domain's anticipation window
 *               (default SCHED_ANTIC_NS_DEFAULT): a guest refilling its
 *               queue does not lose its share to a neighbour that happens
 *               to have work at that instant (BFQ's idling). It costs
 *               throughput only while nobody else may go, at most one
 *               window per gap. A synchronous tenant (one request at a
 *               time) is not waited for: it cannot use its share; nor is
 *               one whose gaps are usually longer than the window
 *               (BFQ's think time): waiting for it would idle the device
 *               for nothing.
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
 *               win over reservations. A parked entity is in no front.
 *   in-flight   at most inflight_cap requests dispatched and not completed
 *               per domain, all pollers together (a poller may overshoot
 *               it by one request per other poller racing for the last
 *               slot), so the queue builds here (where the policy is) and
 *               not in the device. Each busy entity (active, or with
 *               requests in flight) is guaranteed its weight's share of the
 *               cap (with slots_by_cost: in proportion to its weight over
 *               the average cost of its requests, for devices that serve
 *               their queue in order), rounded down: while the cap is
 *               full, an entity below its share may still dispatch up to
 *               it. So a tenant whose
 *               requests are slow (a hung backend, long flushes) and that
 *               took every free slot cannot stall the others: they get
 *               their shares at once, and the total in flight stays below
 *               twice the cap.
 *   latency     an optional latency target per entity (mean time from a
 *               request seen to its completion). While an entity with a
 *               target misses it, the domain's effective in-flight cap
 *               shrinks (multiplicatively, down to 1) and grows back
 *               (additively) while every target is met, like Linux's
 *               blk-iolatency.
 *
 * SCHED_MODE_FIFO ignores weights, reservations and limits: active entities are
 * served round-robin, one request each (still under the in-flight cap).
 *
 * Cost: sched_pick, sched_dispatched, sched_activate, sched_deactivate and
 * sched_set_qos are O(log n) in the poller's active entities of a domain
 * plus O(pollers) relaxed atomic loads (the fronts), plus O(domains) in
 * sched_pick; nothing allocates after sched_domain_create and sched_init.
 *
 * Threading: a struct sched and its entities belong to one poller thread;
 * every call is made from it, except sched_entity_stats() and
 * sched_domain_stats(), which may be called from any thread. A domain is
 * shared: its fields are written with atomics by every poller. Control-
 * plane changes (set-qos, detach) are posted to the poller. An entity moves
 * between pollers by sched_entity_detach() on the old one and
 * sched_entity_attach() on the new one (same domain): its tags, debts and
 * counters travel with it.
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
#define SCHED_POLLERS_MAX	64
/* Per-request overhead in the cost model, in bytes-equivalent. */
#define SCHED_OP_COST		4096u
/* How far (in cost) an entity may run ahead of the front before it waits. */
#define SCHED_LEAD_COST		(4ull * (SCHED_OP_COST + 4096))
/* Anticipation: how long an entity whose queue ran empty keeps its place. */
#define SCHED_ANTIC_NS_DEFAULT	200000ull
#define SCHED_ANTIC_NS_MAX	10000000ull	/* 10 ms */
/* ... for an entity with at least this many requests in flight as its queue ran empty. */
#define SCHED_ANTIC_MIN_INFLIGHT 2u
/* How soon a poller whose entities wait for another poller's looks again. */
#define SCHED_RECHECK_NS	20000ull
/*
 * A front unchanged for this long is not waited for: its poller is not
 * dispatching (its thread preempted on a busy host, or its entity held by
 * the cap), and the others must not stall behind it.
 */
#define SCHED_FRONT_STALE_NS	2000000ull
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

/* What the cost model needs of a dispatched request. */
enum sched_io_op { SCHED_IO_READ, SCHED_IO_WRITE, SCHED_IO_FLUSH };

struct sched_io {
	enum sched_io_op op;	/* DISCARD and WRITE_ZEROES are writes of their length */
	uint32_t bytes;		/* 0 for a flush */
	uint64_t offset;
};

/*
 * A domain's cost model: device time per request (sequential, random) and
 * per byte, for reads and writes, and per flush. All 0: the fixed model,
 * SCHED_OP_COST + bytes. Otherwise the cost is in nanoseconds. Limits:
 * SCHED_MODEL_NS_MAX per request, SCHED_MODEL_PS_MAX per byte.
 */
struct sched_model {
	uint64_t seq_ns[2];	/* [SCHED_IO_READ], [SCHED_IO_WRITE] */
	uint64_t rand_ns[2];
	uint64_t byte_ps[2];	/* picoseconds per byte */
	uint64_t flush_ns;
};

#define SCHED_MODEL_NS_MAX	1000000000ull	/* 1 s per request */
#define SCHED_MODEL_PS_MAX	1000000ull	/* 1 us per byte (1 MB/s) */

/*
 * Online refinement of a calibrated model (sched_model.c). The model's
 * shape (per request and per byte, as calibrated) is kept; what is learned
 * is one scale per class of request (sequential and random reads and
 * writes, flushes) that multiplies its calibrated cost. Completions are
 * summed per class, at their calibrated cost, in windows of
 * SCHED_LEARN_WINDOW_NS; a window in which the domain kept at least
 * SCHED_LEARN_DEPTH requests in flight (or its whole cap, if smaller) the
 * whole time was device-bound: its length is the device time its
 * requests cost, the same quantity the probe measured (pvfsctl calibrate:
 * 1 / requests/s at queue depth 32). Each such window is one row of a
 * least-squares fit of the scales, kept with exponential forgetting and
 * held towards 1 (a ridge prior), so that only what the windows tell apart
 * moves: a class whose share never varies between windows keeps its
 * calibrated cost. Every scale stays within [1 / SCHED_LEARN_CLAMP,
 * SCHED_LEARN_CLAMP], whatever tenants do.
 */
enum sched_learn_class {
	SCHED_LC_SEQ_READ, SCHED_LC_RAND_READ, SCHED_LC_SEQ_WRITE, SCHED_LC_RAND_WRITE,
	SCHED_LC_FLUSH,
	SCHED_LC_NR,
	SCHED_LC_NONE = 255,	/* not a sample (fixed model, learning off) */
};
#define SCHED_LEARN_WINDOW_NS	50000000ull	/* 50 ms */
#define SCHED_LEARN_DEPTH	32u		/* the probe's queue depth */
#define SCHED_LEARN_MIN_OPS	32u		/* completions in a window that counts */
#define SCHED_LEARN_MIN_WINDOWS	20u		/* saturated windows before a refit */
#define SCHED_LEARN_CLAMP	4u		/* scales within [1/4, 4] */
#define SCHED_SCALE_ONE		1024u		/* a scale of 1.0, fixed point */

/* What a domain's refinement did; sched_domain_learn_stats, any thread. */
struct sched_learn_stats {
	bool on;		/* the domain is calibrated and learning is enabled */
	uint64_t windows;	/* saturated windows taken as samples */
	uint64_t refits;	/* times the scales were refitted */
	double scale[SCHED_LC_NR];	/* in force: multiplies each class's calibrated cost */
};

/* Private to sched_model.c. */
struct sched_learn {
	/* The window being counted: every poller adds to it (relaxed atomics). */
	uint64_t start __attribute__((aligned(64)));
	uint64_t x[SCHED_LC_NR];	/* calibrated cost (ns) completed per class */
	uint32_t min_depth;	/* smallest in-flight count seen; 0 after an idle moment */
	uint32_t n;		/* completions counted */
	/* The fit: one window closer at a time, under `lock`. */
	uint32_t lock __attribute__((aligned(64)));
	bool enabled;		/* pvfsd --cost-learning (atomic) */
	bool on;		/* enabled and calibrated (atomic) */
	double ata[SCHED_LC_NR][SCHED_LC_NR];
	double atb[SCHED_LC_NR];
	double mass;		/* sum of the forgetting weights of the rows */
	uint64_t windows, refits;	/* atomics */
};

/* Counters of one entity since sched_entity_add (see sched_entity_stats). */
struct sched_stats {
	uint64_t dispatched;		/* requests */
	uint64_t resv_dispatched;	/* of which served by the reservation */
	uint64_t cost;			/* sum of sched_cost() of its requests */
	uint64_t throttled;		/* times a limit held it back while it had work */
	uint64_t throttled_ns;		/* total time held back by a limit */
	uint64_t inflight;		/* dispatched, not yet completed */
};

/* Counters and gauges of a domain (see sched_domain_stats). */
struct sched_domain_stats {
	uint64_t inflight;
	uint64_t inflight_cap;		/* in force now (latency targets lower it) */
	uint64_t busy;			/* entities with work queued or in flight */
	uint64_t entities;
};

enum {
	SCHED_HEAP_WEIGHT,	/* active, not throttled; by virtual time */
	SCHED_HEAP_RESV,	/* same, with a reservation; by reservation tag */
	SCHED_HEAP_THROTTLE,	/* active, held by a limit; by eligible time */
	SCHED_HEAP_ANTIC,	/* inactive within its anticipation window; by virtual time */
	SCHED_HEAP_NR,
};

struct sched_domain;
struct sched_dq;

/*
 * Embedded in the caller's tenant; every field is private to sched.c. The
 * memory must stay valid until the entity is removed and its last
 * in-flight request completed.
 */
struct sched_entity {
	struct sched_qos qos;
	struct sched_domain *dom;
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
	uint64_t antic_until;	/* end of its anticipation window */
	uint64_t idle_since;	/* when its queue last ran empty */
	uint64_t gap_avg;	/* moving average of how long it then stayed empty */
	uint64_t next_offset;	/* where its last request ended: sequential if the next starts here */
	uint64_t cost_avg;	/* moving average of its requests' cost */
	uint64_t share_key;	/* weight / cost_avg, scaled; in its domain's busy_key while busy */
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

/* One poller's entities of one domain; private to sched.c. */
struct sched_dq {
	struct sched_domain *dom;
	struct sched_dq *next;	/* the poller's list of domains it serves */
	uint32_t nentities;
	bool linked;
	struct sched_heap heap[SCHED_HEAP_NR];
};

/* A domain's published front for one poller: own cache line, atomics. */
struct sched_front {
	uint64_t vtime;		/* smallest virtual time of its entities, or UINT64_MAX */
	uint64_t until;		/* ... valid until then (an anticipated entity) */
	uint64_t stamp;		/* when it last changed */
} __attribute__((aligned(64)));

/* Allocated by sched_domain_create; fields private to sched.c. */
struct sched_domain {
	enum sched_mode mode;
	uint32_t inflight_cap;
	uint64_t antic_ns;
	uint32_t npollers;
	uint32_t max_entities;
	bool slots_by_cost;	/* slot shares by weight over cost (sched_domain_create) */
	/* Written by every poller, with atomics. */
	uint32_t cap_eff __attribute__((aligned(64)));
	uint32_t inflight;
	uint32_t busy_count;
	uint32_t nentities;
	uint64_t busy_key;	/* sum of share_key of busy entities (slot shares) */
	uint64_t vnow;		/* system virtual time */
	uint64_t seq;		/* FIFO round-robin order */
	uint64_t lat_window_end;
	struct sched_model model;	/* fields read and written with relaxed atomics */
	uint32_t scale[SCHED_LC_NR];	/* learned, SCHED_SCALE_ONE = 1.0 (atomics) */
	struct sched_learn learn;
	uint64_t lead_cost;	/* how far ahead of the front an entity may go, in cost */
	uint32_t lat_state;	/* LAT_MISSED | LAT_MET in this window */
	uint32_t lat_quiet;	/* consecutive windows without any evaluation */
	struct sched_dq *dq;	/* npollers entries, one per poller */
	struct sched_front front[];	/* npollers entries */
};

/* One per poller; fields private to sched.c. */
struct sched {
	uint32_t idx;		/* the poller's index in every domain */
	struct sched_dq *dqs;	/* domains with entities on this poller */
	struct sched_dq *rr;	/* where the next pick starts */
};

/* The fixed cost model: what a request of `bytes` is charged, in bytes-equivalent. */
static inline uint64_t sched_cost(uint32_t bytes)
{
	return (uint64_t)SCHED_OP_COST + bytes;
}

/*
 * sched_model_cost - what io costs under model m (sequential or not); the
 * fixed model when m is all zeroes.
 */
uint64_t sched_model_cost(const struct sched_model *m, const struct sched_io *io, bool seq);

/* 0, or -EINVAL if a coefficient is out of range (all 0 is valid: the fixed model). */
int sched_model_validate(const struct sched_model *m);

/*
 * sched_domain_set_model - use m from the next dispatch on (any thread;
 * a dispatch racing with it may mix old and new coefficients once); what
 * was learned for the previous model is forgotten (scales back to 1).
 * sched_domain_model - a copy of the model as set (the calibration); the
 * learned scales are in sched_domain_learn_stats.
 */
int sched_domain_set_model(struct sched_domain *d, const struct sched_model *m);
void sched_domain_model(const struct sched_domain *d, struct sched_model *ret);

/*
 * sched_domain_set_learning - refine d's model online (sched_learn.c) while
 * it is calibrated (not the fixed model). Default on. Any thread.
 */
void sched_domain_set_learning(struct sched_domain *d, bool enabled);
void sched_domain_learn_stats(const struct sched_domain *d, struct sched_learn_stats *ret);

/*
 * sched_domain_create - a domain for npollers pollers (1..SCHED_POLLERS_MAX)
 * each with up to max_entities (1..SCHED_ENTITIES_MAX) of its entities;
 * inflight_cap in 1..SCHED_INFLIGHT_CAP_MAX, antic_ns <= SCHED_ANTIC_NS_MAX.
 * -EINVAL, -ENOMEM. sched_domain_destroy accepts NULL; every entity must be
 * removed first.
 */
int sched_domain_create(enum sched_mode mode, uint32_t inflight_cap, uint64_t antic_ns,
			uint32_t npollers, uint32_t max_entities,
			struct sched_domain **ret_dom);
void sched_domain_destroy(struct sched_domain *d);

/*
 * sched_domain_set_slots_by_cost - slot shares of d by weight over each
 * entity's average cost instead of by weight (see "in-flight" above);
 * only before d has entities (-EBUSY after).
 */
int sched_domain_set_slots_by_cost(struct sched_domain *d, bool by_cost);

/* sched_init - poller idx's scheduler (idx < the domains' npollers). */
void sched_init(struct sched *s, uint32_t idx);

/* 0, or -EINVAL if a field is out of range (the control plane calls it first). */
int sched_qos_validate(const struct sched_qos *q);

/*
 * sched_entity_add - a new, inactive entity of domain d with QoS q. -EINVAL
 * on bad q, -ENOSPC past the domain's max_entities on this poller.
 * sched_entity_remove - forget it, active or not. Requests it still has in
 * flight keep counting against the cap until their sched_completed(). An
 * entity that was detached (or never added) is removed with s = NULL, by
 * whichever thread owns it then; removing twice is harmless.
 */
int sched_entity_add(struct sched *s, struct sched_entity *e, struct sched_domain *d,
		     const struct sched_qos *q, uint64_t now);
void sched_entity_remove(struct sched *s, struct sched_entity *e);

/*
 * Moving an entity to another poller: sched_entity_detach() on the poller
 * that has it (it leaves that poller's queues, inactive; its virtual time,
 * tags, debts, counters, slot share and in-flight count are kept), then
 * sched_entity_attach() on the new one (-ENOSPC as sched_entity_add). Its
 * requests in flight complete with sched_completed() on either poller.
 */
void sched_entity_detach(struct sched *s, struct sched_entity *e, uint64_t now);
int sched_entity_attach(struct sched *s, struct sched_entity *e, uint64_t now);

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
 * sched_pick - the entity whose request goes next, or NULL if no active
 * entity may go now: its domain's in-flight cap is reached (and every
 * runnable entity has its slot share in flight), a limit holds it, or it
 * waits for an entity further behind (on this or another poller, or
 * anticipated). *ret_wake_ns is always written: the earliest time something
 * may change without a completion or a new request (a throttled entity
 * becomes eligible, an anticipation window ends, another poller's front
 * should be looked at again), or UINT64_MAX. Picking changes nothing the
 * caller can see; follow it by sched_dispatched() of exactly one request
 * of the picked entity, or by sched_deactivate() if its queue turned out
 * empty, before the next pick (otherwise the same pick comes again).
 */
struct sched_entity *sched_pick(struct sched *s, uint64_t now, uint64_t *ret_wake_ns);

/*
 * Charge one request io that e just dispatched (its cost under the
 * domain's model; io->bytes against the bytes/s limit). Also allowed
 * without a pick (re-issuing requests recovered from a previous pvfsd): it
 * is charged as a weighted dispatch and counts against the cap, which it
 * may then exceed until enough requests complete. Returns the request's
 * class for sched_learn() (SCHED_LC_NONE when the domain does not learn).
 */
unsigned sched_dispatched(struct sched *s, struct sched_entity *e, const struct sched_io *io,
			  uint64_t now);

/*
 * sched_learn - a request of e in class cls (sched_dispatched's answer) of
 * `bytes` (0 for a flush) completed successfully at now, after reaching
 * the device; call it before that request's sched_completed(). Refines
 * the domain's scales (see SCHED_LEARN_*); costs a few relaxed atomics,
 * and a small fit once per window on whichever poller closes it. Nothing
 * for SCHED_LC_NONE.
 */
void sched_learn(struct sched_entity *e, unsigned cls, uint32_t bytes, uint64_t now);

/* Between sched.c and sched_model.c: a dispatch's class; the device was idle. */
unsigned sched_learn_class(const struct sched_domain *d, const struct sched_io *io, bool seq);
void sched_learn_idle(struct sched_domain *d);

/*
 * One request of e completed (also after e was removed), lat_ns after it
 * was first seen; lat_ns = 0 for a request that never reached the device
 * (rejected at once), which is not a latency sample.
 */
void sched_completed(struct sched *s, struct sched_entity *e, uint64_t lat_ns, uint64_t now);

/* The in-flight cap of d in force now (latency targets may have lowered it); any thread. */
static inline uint32_t sched_effective_cap(const struct sched_domain *d)
{
	return __atomic_load_n(&d->cap_eff, __ATOMIC_RELAXED);
}

/* Requests of d dispatched and not completed, all pollers together; any thread. */
static inline uint32_t sched_inflight(const struct sched_domain *d)
{
	return __atomic_load_n(&d->inflight, __ATOMIC_RELAXED);
}

/* A consistent-enough copy of e's counters, from any thread. */
void sched_entity_stats(const struct sched_entity *e, struct sched_stats *ret);
/* The same for a domain. */
void sched_domain_stats(const struct sched_domain *d, struct sched_domain_stats *ret);

#endif /* PVFS_SCHED_H */
