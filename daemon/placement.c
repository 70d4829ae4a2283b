/* SPDX-License-Identifier: MIT */
/*
 * placement.c - which poller serves which tenant, decided on the control
 * thread from what the pollers measured (docs/placement.md has the
 * operator's view):
 *
 *   load        once per tick (a second, from main.c), each poller's busy
 *               share: the part of the interval it spent on passes that did
 *               work (poller_stats busy_ns), 0 if none of its tenants had a
 *               request (then it is only noise); and each tenant's cost rate,
 *               what the scheduler charges for its requests (SCHED_OP_COST
 *               per request plus its bytes). A tenant's part of its
 *               poller's load is the poller's busy share split by cost.
 *   plug        a new tenant goes to the active poller with the lowest load;
 *               loads within PICK_TIE of each other count as equal, and then
 *               the one with fewer tenants wins (so a burst of plugs before
 *               any load is measured still spreads out).
 *   rebalance   when the busiest and the idlest active poller differ by more
 *               than REBALANCE_GAP for REBALANCE_TICKS ticks in a row, one
 *               tenant moves from the busiest to the idlest: the one whose
 *               load is closest to half the gap, and only if its load is
 *               below the gap (after the move the gap is smaller, so two
 *               pollers never trade one tenant back and forth), and only if
 *               it has not moved in the last REBALANCE_COOLDOWN_NS. One move
 *               per tick, then the streak starts again: hysteresis in time
 *               and in size.
 *   auto        with --io-threads auto, pollers are started for every CPU of
 *               the cpus list (or every online CPU) and the first
 *               ceil(busy tenants / tenants_per_poller) are active; the
 *               others are parked: placement never chooses them, their
 *               tenants are moved off, and with nothing to serve they sleep
 *               like any idle poller. A busy tenant is one that had a
 *               request in the last tick. More are activated at once when
 *               needed, fewer only after SHRINK_TICKS ticks of less need.
 *
 * Moves go through tenant_move(), the same as `pvfsctl move`.
 */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "placement.h"
#include "poller.h"
#include "pvfsd.h"
#include "tenant.h"
#include "util.h"

#define MAX_POLLERS		64
#define PICK_TIE		0.05
#define REBALANCE_GAP		0.20
#define REBALANCE_TICKS		3
#define REBALANCE_COOLDOWN_NS	10000000000ull	/* 10 s */
#define SHRINK_TICKS		5

static struct {
	uint64_t busy_ns;	/* at the last tick */
	double load;		/* busy share over the last tick */
	double cost_rate;	/* sum of its tenants' cost rates */
} pl[MAX_POLLERS];

/* Per tenant, keyed by pointer (rebuilt each tick; control thread only). */
struct tenant_load {
	const struct tenant *t;
	uint64_t cost;		/* total at the last tick */
	double rate;		/* per second over the last tick */
};

#define MAX_LOADS PVFSD_MAX_TENANTS
static struct tenant_load loads[MAX_LOADS];
static unsigned nr_loads;
static uint64_t last_tick;
static int active = -1;		/* -1: not decided yet (all, or 1 with auto) */
static unsigned gap_streak, shrink_streak;

int placement_active(void)
{
	int n = poller_count();

	if (active < 0)
		active = cfg.io_threads_auto ? 1 : n;
	return MIN(active, n);
}

double placement_load(int i)
{
	return i >= 0 && i < MAX_POLLERS ? pl[i].load : 0;
}

/*
 * assigned - tenants per poller as the control thread placed them (a
 * moving one counts where it goes). Not poller_tenants(): a poller counts
 * a tenant only once it has taken in the hand-over message, and two plugs
 * in a row would both see the first poller empty.
 */
static void assigned(unsigned *count, int n)
{
	memset(count, 0, sizeof(*count) * (size_t)n);
	for (const struct tenant *t = tenant_first(); t; t = t->next) {
		int p;

		if (!t->tio)
			continue;
		p = poller_index(t->move_to ? t->move_to : t->tio->p);
		if (p < n)
			count[p]++;
	}
}

struct poller *placement_pick(void)
{
	unsigned count[MAX_POLLERS];
	int best = 0, n = MIN(placement_active(), MAX_POLLERS);

	assigned(count, n);
	for (int i = 1; i < n; i++) {
		double d = pl[i].load - pl[best].load;

		if (d < -PICK_TIE || (d <= PICK_TIE && count[i] < count[best]))
			best = i;
	}
	return poller_get(best);
}

static uint64_t tenant_cost(const struct tenant *t)
{
	uint64_t c = 0;

	for (unsigned i = 0; i < PVFS_OP_MAX; i++)
		c += stat_get(&t->st.op[i].ops) * SCHED_OP_COST + stat_get(&t->st.op[i].bytes);
	return c;
}

static const struct tenant_load *load_of(const struct tenant *t)
{
	for (unsigned i = 0; i < nr_loads; i++)
		if (loads[i].t == t)
			return &loads[i];
	return NULL;
}

/* tenant_poller - the index of the poller serving t, or -1 (not running, or moving). */
static int tenant_poller(const struct tenant *t)
{
	if (t->state != TENANT_RUNNING || !t->tio || t->move_to)
		return -1;
	return poller_index(t->tio->p);
}

/* share - t's part of its poller's load. */
static double share(const struct tenant *t, int p)
{
	const struct tenant_load *l = load_of(t);

	if (!l || pl[p].cost_rate <= 0)
		return 0;
	return pl[p].load * l->rate / pl[p].cost_rate;
}

/* measure - loads since the last tick; returns the number of busy tenants. */
static unsigned measure(uint64_t now)
{
	static struct tenant_load next[MAX_LOADS];
	double dt = (double)(now - last_tick) / 1e9;
	unsigned n = 0, busy = 0;

	for (int i = 0; i < poller_count() && i < MAX_POLLERS; i++) {
		uint64_t b = stat_get(&poller_stats(i)->busy_ns);

		pl[i].load = last_tick && dt > 0 ? MIN((double)(b - pl[i].busy_ns) / 1e9 / dt, 1.0)
						 : 0;
		pl[i].busy_ns = b;
		pl[i].cost_rate = 0;
	}
	for (const struct tenant *t = tenant_first(); t && n < MAX_LOADS; t = t->next) {
		const struct tenant_load *old = load_of(t);
		struct tenant_load *l = &next[n++];
		int p = tenant_poller(t);

		l->t = t;
		l->cost = tenant_cost(t);
		l->rate = old && last_tick && dt > 0 ? (double)(l->cost - old->cost) / dt : 0;
		if (l->rate > 0)
			busy++;
		if (p >= 0 && p < MAX_POLLERS)
			pl[p].cost_rate += l->rate;
	}
	/*
	 * A poller none of whose tenants had a request did nothing worth
	 * balancing: what its busy time shows then is its heartbeat passes,
	 * stretched by whatever preempted them on a loaded host. Count it
	 * as 0, so that idle pollers tie and plugs spread by tenant count.
	 */
	for (int i = 0; i < poller_count() && i < MAX_POLLERS; i++)
		if (pl[i].cost_rate <= 0)
			pl[i].load = 0;
	memcpy(loads, next, sizeof(next[0]) * n);
	nr_loads = n;
	last_tick = now;
	return busy;
}

static void move(struct tenant *t, struct poller *dst, const char *why)
{
	char err[256];
	int from = tenant_poller(t);

	if (tenant_move(t, dst, NULL, NULL, err, sizeof(err)) > 0)
		log_info("tenant %s: moving from poller %d to poller %d (%s)", t->name, from,
			 poller_index(dst), why);
}

/* auto_size - --io-threads auto: how many pollers are active, and park the rest. */
static void auto_size(unsigned busy)
{
	int n = poller_count(), want;

	want = (int)((busy + cfg.tenants_per_poller - 1) / cfg.tenants_per_poller);
	want = MAX(1, MIN(want, n));
	if (want > active) {
		log_info("%u busy tenant(s): %d active poller(s), was %d", busy, want, active);
		active = want;
		shrink_streak = 0;
	} else if (want < active) {
		if (++shrink_streak >= SHRINK_TICKS) {
			log_info("%u busy tenant(s): %d active poller(s), was %d; parking the rest",
				 busy, want, active);
			active = want;
			shrink_streak = 0;
		}
	} else {
		shrink_streak = 0;
	}
	/* Tenants left on parked pollers go to active ones. */
	for (struct tenant *t = tenant_first(); t; t = t->next) {
		int p = tenant_poller(t);

		if (p >= active)
			move(t, placement_pick(), "its poller is parked");
	}
}

static void rebalance(uint64_t now)
{
	int hot = 0, cold = 0, n = placement_active();
	struct tenant *best = NULL;
	double gap, best_d = 0;

	if (n < 2)
		return;
	for (int i = 1; i < n; i++) {
		if (pl[i].load > pl[hot].load)
			hot = i;
		if (pl[i].load < pl[cold].load)
			cold = i;
	}
	gap = pl[hot].load - pl[cold].load;
	if (gap <= REBALANCE_GAP) {
		gap_streak = 0;
		return;
	}
	if (++gap_streak < REBALANCE_TICKS)
		return;
	for (struct tenant *t = tenant_first(); t; t = t->next) {
		double s, d;

		if (tenant_poller(t) != hot || (t->moves && now - t->moved_ns < REBALANCE_COOLDOWN_NS))
			continue;
		s = share(t, hot);
		if (s <= 0 || s >= gap)
			continue;
		d = s > gap / 2 ? s - gap / 2 : gap / 2 - s;
		if (!best || d < best_d) {
			best = t;
			best_d = d;
		}
	}
	if (best) {
		char why[96];

		snprintf(why, sizeof(why), "rebalancing: poller loads %.2f and %.2f",
			 pl[hot].load, pl[cold].load);
		move(best, poller_get(cold), why);
		gap_streak = 0;
	}
}

void placement_tick(void)
{
	uint64_t now = now_ns();
	unsigned busy = measure(now);

	placement_active();
	if (cfg.io_threads_auto)
		auto_size(busy);
	if (cfg.rebalance)
		rebalance(now);
}
