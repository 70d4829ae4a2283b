// SPDX-License-Identifier: MIT
/*
 * test_sched.c - unit tests of daemon/sched.c on a simulated clock and a
 * simulated backend: every dispatched request completes after a service
 * time proportional to its cost (10 ns per cost byte, so a 4 KiB request
 * takes 82 us), with no limit on the backend's own concurrency, so the
 * scheduler's in-flight cap sets the device queue depth. Tenants either
 * always have work inside their active window or none. Deterministic: no
 * real time, no threads. One line per check (tlib), exit 0 or 1.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "sched.h"
#include "tlib.h"
#include "util.h"

#define MS 1000000ull
#define SEC 1000000000ull
#define MAX_TENANTS 8
#define MAX_INFLIGHT 256
#define NS_PER_COST_BYTE 10

struct tenant {
	struct sched_entity se;		/* first: the entity is the tenant */
	const char *name;
	uint32_t bytes;			/* size of each of its requests */
	uint64_t on_ns, off_ns;		/* has work in [on_ns, off_ns) */
	bool active;
	bool removed;
	/* counted since the last sim_reset_counters() */
	uint64_t ops, bytes_done, cost;
};

struct sim {
	struct sched s;
	uint64_t now;
	uint32_t cap;
	int nt;
	struct tenant t[MAX_TENANTS];
	struct {
		uint64_t done;
		struct tenant *t;
	} q[MAX_INFLIGHT];
	uint32_t nq;
	uint32_t max_nq;
	bool bad_pick;			/* picked a removed or inactive tenant */
	bool cap_exceeded;
};

static uint64_t svc_ns(uint32_t bytes)
{
	return sched_cost(bytes) * NS_PER_COST_BYTE;
}

static void sim_init(struct sim *m, enum sched_mode mode, uint32_t cap)
{
	int r;

	memset(m, 0, sizeof(*m));
	m->cap = cap;
	r = sched_init(&m->s, mode, cap, MAX_TENANTS);
	if (r < 0)
		TL_CHECK(0, "sched_init: %d", r);
}

static struct tenant *sim_add(struct sim *m, const char *name, uint32_t bytes,
			      const struct sched_qos *q)
{
	struct tenant *t = &m->t[m->nt++];
	int r;

	t->name = name;
	t->bytes = bytes;
	t->off_ns = UINT64_MAX;
	r = sched_entity_add(&m->s, &t->se, q, m->now);
	if (r < 0)
		TL_CHECK(0, "sched_entity_add %s: %d", name, r);
	return t;
}

static void sim_reset_counters(struct sim *m)
{
	int i;

	for (i = 0; i < m->nt; i++)
		m->t[i].ops = m->t[i].bytes_done = m->t[i].cost = 0;
}

static void sim_sync_activity(struct sim *m)
{
	int i;

	for (i = 0; i < m->nt; i++) {
		struct tenant *t = &m->t[i];
		bool want = !t->removed && t->on_ns <= m->now && m->now < t->off_ns;

		if (want && !t->active)
			sched_activate(&m->s, &t->se, m->now);
		else if (!want && t->active)
			sched_deactivate(&m->s, &t->se, m->now);
		t->active = want;
	}
}

/* Advance the simulation to `until`, dispatching and completing as the poller would. */
static void sim_run(struct sim *m, uint64_t until)
{
	while (m->now < until) {
		uint64_t next = until, wake = UINT64_MAX;
		struct sched_entity *e;
		uint32_t i;
		int k;

		sim_sync_activity(m);
		while ((e = sched_pick(&m->s, m->now, &wake))) {
			struct tenant *t = (struct tenant *)e;

			if (t->removed || !t->active) {
				m->bad_pick = true;
				return;
			}
			/* Slot shares may take the total above the cap, never to twice it. */
			if (m->nq >= 2 * m->cap || m->nq >= MAX_INFLIGHT) {
				m->cap_exceeded = true;
				return;
			}
			m->q[m->nq].done = m->now + svc_ns(t->bytes);
			m->q[m->nq].t = t;
			m->nq++;
			if (m->nq > m->max_nq)
				m->max_nq = m->nq;
			sched_dispatched(&m->s, e, t->bytes, m->now);
			t->ops++;
			t->bytes_done += t->bytes;
			t->cost += sched_cost(t->bytes);
		}

		if (wake < next)
			next = wake;
		for (i = 0; i < m->nq; i++)
			if (m->q[i].done < next)
				next = m->q[i].done;
		for (k = 0; k < m->nt; k++) {
			if (m->t[k].on_ns > m->now && m->t[k].on_ns < next)
				next = m->t[k].on_ns;
			if (m->t[k].off_ns > m->now && m->t[k].off_ns < next)
				next = m->t[k].off_ns;
		}
		m->now = next;

		for (i = 0; i < m->nq;) {
			if (m->q[i].done <= m->now) {
				sched_completed(&m->s, &m->q[i].t->se, 0, m->now);
				m->q[i] = m->q[--m->nq];
			} else {
				i++;
			}
		}
	}
}

static void sim_check_invariants(struct sim *m, const char *test)
{
	TL_CHECK(!m->bad_pick, "%s: never picked an inactive or removed tenant", test);
	TL_CHECK(!m->cap_exceeded && m->max_nq < 2 * m->cap,
	      "%s: in flight always below twice the cap %u (max %u)", test, m->cap, m->max_nq);
	TL_CHECK(sched_inflight(&m->s) == m->nq, "%s: scheduler in-flight %u == backend %u",
	      test, sched_inflight(&m->s), m->nq);
}

static double rel_err(double got, double want)
{
	double d = (got - want) / want;

	return d < 0 ? -d : d;
}

static struct sched_qos qos_w(uint32_t weight)
{
	struct sched_qos q = SCHED_QOS_DEFAULT;

	q.weight = weight;
	return q;
}

static void test_validate(void)
{
	struct sched_qos q = SCHED_QOS_DEFAULT;
	struct sched s;
	struct sched_entity e[3];

	TL_CHECK(sched_qos_validate(&q) == 0, "validate: default QoS is valid");
	q.weight = 0;
	TL_CHECK(sched_qos_validate(&q) == -EINVAL, "validate: weight 0 rejected");
	q.weight = SCHED_WEIGHT_MAX + 1;
	TL_CHECK(sched_qos_validate(&q) == -EINVAL, "validate: weight 10001 rejected");
	q = SCHED_QOS_DEFAULT;
	q.iops_limit = 100;
	q.iops_reservation = 200;
	TL_CHECK(sched_qos_validate(&q) == -EINVAL, "validate: reservation above limit rejected");
	q = SCHED_QOS_DEFAULT;
	q.bps_limit = SCHED_BPS_MAX + 1;
	TL_CHECK(sched_qos_validate(&q) == -EINVAL, "validate: bps limit out of range rejected");

	TL_CHECK(sched_init(&s, SCHED_MODE_FAIR, 0, 4) == -EINVAL, "init: in-flight cap 0 rejected");
	TL_CHECK(sched_init(&s, SCHED_MODE_FAIR, 4, 2) == 0, "init: ok");
	q = SCHED_QOS_DEFAULT;
	sched_entity_add(&s, &e[0], &q, 0);
	sched_entity_add(&s, &e[1], &q, 0);
	TL_CHECK(sched_entity_add(&s, &e[2], &q, 0) == -ENOSPC, "add: -ENOSPC past max_entities");
	sched_entity_remove(&s, &e[1]);
	TL_CHECK(sched_entity_add(&s, &e[2], &q, 0) == 0, "add: room again after remove");
	sched_destroy(&s);
	sched_destroy(&s);
}

/* Exact GCRA arithmetic and the wake time reported to the poller. */
static void test_wake(void)
{
	struct sched_qos q = SCHED_QOS_DEFAULT;
	struct sched_entity e, *p;
	struct sched_stats st;
	struct sched s;
	uint64_t wake, now = 5 * SEC;

	sched_init(&s, SCHED_MODE_FAIR, 64, 4);
	q.iops_limit = 10;	/* 100 ms a request, burst 100 ms: 2 back to back */
	sched_entity_add(&s, &e, &q, now);
	sched_activate(&s, &e, now);
	p = sched_pick(&s, now, &wake);
	TL_CHECK(p == &e && wake == UINT64_MAX, "wake: first request of a 10 IOPS tenant goes");
	sched_dispatched(&s, &e, 4096, now);
	p = sched_pick(&s, now, &wake);
	TL_CHECK(p == &e, "wake: second request goes (burst)");
	sched_dispatched(&s, &e, 4096, now);
	p = sched_pick(&s, now, &wake);
	TL_CHECK(p == NULL && wake == now + 100 * MS,
	      "wake: third is held, wake at +100 ms (got +%lld ns)",
	      (long long)(wake - now));
	p = sched_pick(&s, now + 100 * MS - 1, &wake);
	TL_CHECK(p == NULL, "wake: still held 1 ns before");
	p = sched_pick(&s, now + 100 * MS, &wake);
	TL_CHECK(p == &e, "wake: eligible at the wake time");
	sched_entity_stats(&e, &st);
	TL_CHECK(st.throttled == 1 && st.throttled_ns == 100 * MS && st.inflight == 2,
	      "wake: stats throttled=%llu throttled_ns=%llu inflight=%llu",
	      (unsigned long long)st.throttled, (unsigned long long)st.throttled_ns,
	      (unsigned long long)st.inflight);
	sched_completed(&s, &e, 0, 0);
	sched_completed(&s, &e, 0, 0);
	TL_CHECK(sched_inflight(&s) == 0, "wake: completions return the in-flight count to 0");
	sched_destroy(&s);
}

static double jain(const double *x, int n)
{
	double sum = 0, sq = 0;
	int i;

	for (i = 0; i < n; i++) {
		sum += x[i];
		sq += x[i] * x[i];
	}
	return sum * sum / (n * sq);
}

static void test_equal_weights(void)
{
	static const uint32_t sizes[4] = { 4096, 16384, 65536, 4096 };
	struct sched_qos q = SCHED_QOS_DEFAULT;
	struct sim m;
	double x[4];
	int i;

	sim_init(&m, SCHED_MODE_FAIR, 64);
	for (i = 0; i < 4; i++)
		sim_add(&m, "t", sizes[i], &q);
	sim_run(&m, 1 * SEC);
	sim_reset_counters(&m);
	sim_run(&m, 11 * SEC);
	for (i = 0; i < 4; i++)
		x[i] = (double)m.t[i].cost;
	TL_CHECK(jain(x, 4) >= 0.99, "equal weights, 4 tenants (4K/16K/64K/4K): Jain index %.5f >= 0.99",
	      jain(x, 4));
	sim_check_invariants(&m, "equal weights");
	sched_destroy(&m.s);
}

static void test_weights(void)
{
	static const uint32_t w[3] = { 1, 2, 4 };
	struct sched_qos q;
	uint64_t total = 0;
	struct sim m;
	int i;

	sim_init(&m, SCHED_MODE_FAIR, 32);
	for (i = 0; i < 3; i++) {
		q = qos_w(w[i] * 100);
		sim_add(&m, "w", 4096, &q);
	}
	sim_run(&m, 1 * SEC);
	sim_reset_counters(&m);
	sim_run(&m, 11 * SEC);
	for (i = 0; i < 3; i++)
		total += m.t[i].cost;
	for (i = 0; i < 3; i++) {
		double share = (double)m.t[i].cost / total, want = w[i] / 7.0;

		TL_CHECK(rel_err(share, want) <= 0.02, "weights 1:2:4: tenant %d share %.4f, want %.4f +-2%%",
		      i, share, want);
	}
	sim_check_invariants(&m, "weights");
	sched_destroy(&m.s);
}

static void test_limits(void)
{
	struct sched_qos qi = SCHED_QOS_DEFAULT, qb = SCHED_QOS_DEFAULT, qf = SCHED_QOS_DEFAULT;
	struct tenant *ti, *tb, *tf;
	struct sched_stats st;
	struct sim m;

	sim_init(&m, SCHED_MODE_FAIR, 32);
	qi.iops_limit = 5000;
	qb.bps_limit = 50000000;	/* 50 MB/s in 64 KiB requests */
	ti = sim_add(&m, "iops", 4096, &qi);
	tb = sim_add(&m, "bps", 65536, &qb);
	tf = sim_add(&m, "free", 4096, &qf);
	/* From t=0, so the initial burst is inside the 10 s measured. */
	sim_run(&m, 10 * SEC);
	TL_CHECK(rel_err((double)ti->ops, 50000) <= 0.02,
	      "limits: IOPS limit 5000 over 10 s: %llu ops (want 50000 +-2%%)",
	      (unsigned long long)ti->ops);
	TL_CHECK(rel_err((double)tb->bytes_done, 500e6) <= 0.02,
	      "limits: bytes/s limit 50 MB/s over 10 s: %llu bytes (want 5e8 +-2%%)",
	      (unsigned long long)tb->bytes_done);
	TL_CHECK(tf->ops > 10 * ti->ops, "limits: the unlimited tenant takes the rest (%llu ops)",
	      (unsigned long long)tf->ops);
	sched_entity_stats(&ti->se, &st);
	TL_CHECK(st.throttled > 0 && st.throttled_ns > 5 * SEC,
	      "limits: throttled stats count (%llu times, %.2f s)",
	      (unsigned long long)st.throttled, st.throttled_ns / 1e9);
	sim_check_invariants(&m, "limits");
	sched_destroy(&m.s);
}

static void test_reservation(void)
{
	struct sched_qos qr = qos_w(1), qn = qos_w(100);
	struct tenant *tr, *t1, *t2;
	uint64_t cap_ops;
	struct sim m;

	/* 16 in flight x 82 us per 4 KiB = ~195k IOPS; reserve ~30% of it. */
	sim_init(&m, SCHED_MODE_FAIR, 16);
	cap_ops = 16 * SEC / svc_ns(4096);
	qr.iops_reservation = 60000;
	tr = sim_add(&m, "resv", 4096, &qr);
	t1 = sim_add(&m, "n1", 4096, &qn);
	t2 = sim_add(&m, "n2", 4096, &qn);
	sim_run(&m, 1 * SEC);
	sim_reset_counters(&m);
	sim_run(&m, 11 * SEC);
	TL_CHECK(rel_err((double)tr->ops, 600000) <= 0.02,
	      "reservation: weight-1 tenant reserving 60k of ~%llu IOPS gets %llu ops in 10 s (want 600000 +-2%%)",
	      (unsigned long long)cap_ops, (unsigned long long)tr->ops);
	TL_CHECK(rel_err((double)t1->ops, (double)t2->ops) <= 0.02,
	      "reservation: the two weight-100 neighbours split the rest (%llu / %llu)",
	      (unsigned long long)t1->ops, (unsigned long long)t2->ops);
	sim_check_invariants(&m, "reservation");
	sched_destroy(&m.s);

	/*
	 * A reservation below the weighted share adds nothing: the entity gets
	 * max(reservation, share), not the sum.
	 */
	sim_init(&m, SCHED_MODE_FAIR, 16);
	qn.iops_reservation = 20000;
	tr = sim_add(&m, "resv", 4096, &qn);
	qn.iops_reservation = 0;
	t1 = sim_add(&m, "n1", 4096, &qn);
	t2 = sim_add(&m, "n2", 4096, &qn);
	sim_run(&m, 1 * SEC);
	sim_reset_counters(&m);
	sim_run(&m, 11 * SEC);
	TL_CHECK(rel_err((double)tr->ops, (double)t1->ops) <= 0.02 &&
	      rel_err((double)tr->ops, (double)t2->ops) <= 0.02,
	      "reservation: 20k reserved below a ~65k weighted share changes nothing (%llu / %llu / %llu)",
	      (unsigned long long)tr->ops, (unsigned long long)t1->ops,
	      (unsigned long long)t2->ops);
	sim_check_invariants(&m, "reservation below share");
	sched_destroy(&m.s);
}

static void test_idle_credit(void)
{
	struct sched_qos q = SCHED_QOS_DEFAULT, ql = SCHED_QOS_DEFAULT;
	struct tenant *late, *lim;
	uint64_t total = 0;
	double share;
	struct sim m;
	int i;

	sim_init(&m, SCHED_MODE_FAIR, 32);
	for (i = 0; i < 3; i++)
		sim_add(&m, "busy", 4096, &q);
	late = sim_add(&m, "late", 4096, &q);
	late->off_ns = 1 * SEC;
	sim_run(&m, 1 * SEC);
	/* Idle 1 s .. 6 s while the others run, then back. */
	late->on_ns = 6 * SEC;
	late->off_ns = UINT64_MAX;
	sim_run(&m, 6 * SEC);
	sim_reset_counters(&m);
	sim_run(&m, 6 * SEC + 50 * MS);
	for (i = 0; i < 4; i++)
		total += m.t[i].cost;
	share = (double)late->cost / total;
	TL_CHECK(share >= 0.23 && share <= 0.27,
	      "idle: tenant idle for 5 s gets %.4f of the first 50 ms after waking (fair 0.25, no banked credit)",
	      share);
	sim_check_invariants(&m, "idle");
	sched_destroy(&m.s);

	/* A limited tenant after a long idle period gets its burst, not a backlog. */
	sim_init(&m, SCHED_MODE_FAIR, 32);
	ql.iops_limit = 1000;
	lim = sim_add(&m, "lim", 4096, &ql);
	sim_add(&m, "busy", 4096, &q);
	lim->off_ns = 1 * SEC;
	sim_run(&m, 1 * SEC);
	lim->on_ns = 6 * SEC;
	lim->off_ns = UINT64_MAX;
	sim_run(&m, 6 * SEC);
	sim_reset_counters(&m);
	sim_run(&m, 6 * SEC + 50 * MS);
	/* burst 1 + 1000 x 100 ms, then 1000/s for 50 ms */
	TL_CHECK(lim->ops >= 140 && lim->ops <= 152,
	      "idle: 1000 IOPS tenant back after 5 s idle does %llu ops in 50 ms (burst 101 + 50)",
	      (unsigned long long)lim->ops);
	sim_check_invariants(&m, "idle limited");
	sched_destroy(&m.s);
}

static void test_mixed_sizes(void)
{
	struct sched_qos q = SCHED_QOS_DEFAULT;
	struct tenant *small, *big;
	struct sim m;

	sim_init(&m, SCHED_MODE_FAIR, 64);
	small = sim_add(&m, "4k", 4096, &q);
	big = sim_add(&m, "1m", 1 << 20, &q);
	sim_run(&m, 1 * SEC);
	sim_reset_counters(&m);
	sim_run(&m, 11 * SEC);
	TL_CHECK(rel_err((double)small->cost / (small->cost + big->cost), 0.5) <= 0.02,
	      "mixed sizes: 4 KiB tenant cost share %.4f (1 MiB tenant %.4f), want 0.5 +-2%%",
	      (double)small->cost / (small->cost + big->cost),
	      (double)big->cost / (small->cost + big->cost));
	sim_check_invariants(&m, "mixed sizes");
	sched_destroy(&m.s);
}

static void test_fifo(void)
{
	struct sched_qos q1 = qos_w(1), q2 = qos_w(1000);
	struct tenant *a, *b;
	struct sim m;

	sim_init(&m, SCHED_MODE_FIFO, 8);
	q1.iops_limit = 100;
	a = sim_add(&m, "w1-limited", 4096, &q1);
	b = sim_add(&m, "w1000", 4096, &q2);
	sim_run(&m, 2 * SEC);
	TL_CHECK(rel_err((double)a->ops, (double)b->ops) <= 0.02,
	      "fifo: weights 1 vs 1000 ignored: %llu vs %llu ops",
	      (unsigned long long)a->ops, (unsigned long long)b->ops);
	TL_CHECK(a->ops > 100 * 2 * 10, "fifo: the 100 IOPS limit is ignored (%llu ops in 2 s)",
	      (unsigned long long)a->ops);
	TL_CHECK(m.max_nq == 8, "fifo: in-flight reaches the cap of 8 (max %u)", m.max_nq);
	sim_check_invariants(&m, "fifo");
	sched_destroy(&m.s);
}

static void test_inflight_cap(void)
{
	struct sched_qos q = SCHED_QOS_DEFAULT;
	struct sim m;
	int i;

	sim_init(&m, SCHED_MODE_FAIR, 5);
	for (i = 0; i < 6; i++)
		sim_add(&m, "t", i % 2 ? 4096 : 131072, &q);
	sim_run(&m, 1 * SEC);
	TL_CHECK(m.max_nq == 5, "cap: 6 saturating tenants keep exactly 5 in flight (max %u)", m.max_nq);
	sim_check_invariants(&m, "cap");
	sched_destroy(&m.s);
}

/*
 * A tenant whose requests never complete (a hung backend) takes every free
 * slot while it is alone; a neighbour that becomes active must still get
 * its weighted share of the cap at once, and only that (issue 8, item 5:
 * before slot shares, the neighbour waited for the hung requests).
 */
static void slow_share_case(enum sched_mode mode, uint32_t wa, uint32_t wb, uint32_t want_b)
{
	struct sched_qos qa = SCHED_QOS_DEFAULT, qb = SCHED_QOS_DEFAULT;
	struct sched_entity a, b, *p;
	const char *mname = mode == SCHED_MODE_FAIR ? "fair" : "fifo";
	uint32_t na = 0, nb = 0, extra = 0;
	uint64_t wake, now = 1000;
	struct sched s;

	qa.weight = wa;
	qb.weight = wb;
	sched_init(&s, mode, 8, 4);
	sched_entity_add(&s, &a, &qa, now);
	sched_entity_add(&s, &b, &qb, now);
	sched_activate(&s, &a, now);
	while ((p = sched_pick(&s, now, &wake)) && na < 100) {
		sched_dispatched(&s, p, 4096, now);
		na++;
	}
	TL_CHECK(na == 8, "slow %s: a tenant alone borrows every slot (%u of 8)", mname, na);
	sched_activate(&s, &b, now);
	while ((p = sched_pick(&s, now, &wake)) && nb + extra < 100) {
		sched_dispatched(&s, p, 4096, now);
		if (p == &b)
			nb++;
		else
			extra++;
	}
	TL_CHECK(nb == want_b && extra == 0,
	      "slow %s %u:%u: with the cap full of a's hung requests b still gets its share "
	      "%u at once (got %u, a got %u more)", mname, wa, wb, want_b, nb, extra);
	/* b's requests complete and are replaced; a's stay hung. */
	for (int i = 0; i < 50; i++) {
		sched_completed(&s, &b, 1000, ++now);
		p = sched_pick(&s, now, &wake);
		if (p != &b)
			break;
		sched_dispatched(&s, p, 4096, now);
		nb++;
	}
	TL_CHECK(nb == want_b + 50, "slow %s: b keeps doing I/O at its share while a is hung (%u)",
	      mname, nb - want_b);
	TL_CHECK(sched_inflight(&s) == 8 + want_b, "slow %s: in flight %u = cap 8 + b's share %u",
	      mname, sched_inflight(&s), want_b);
	/* a's requests finally complete: back under the cap, a can go again. */
	for (uint32_t i = 0; i < na; i++)
		sched_completed(&s, &a, 1000, ++now);
	p = sched_pick(&s, now, &wake);
	TL_CHECK(p != NULL, "slow %s: once a's requests complete, dispatch goes on", mname);
	sched_destroy(&s);
}

static void test_slow_tenant(void)
{
	slow_share_case(SCHED_MODE_FAIR, 100, 100, 4);
	slow_share_case(SCHED_MODE_FAIR, 100, 300, 6);
	slow_share_case(SCHED_MODE_FAIR, 300, 100, 2);
	slow_share_case(SCHED_MODE_FIFO, 300, 100, 4);
}

static void test_set_qos(void)
{
	struct sched_qos q = SCHED_QOS_DEFAULT;
	struct tenant *a, *b;
	struct sched_stats st;
	double share;
	struct sim m;

	sim_init(&m, SCHED_MODE_FAIR, 32);
	a = sim_add(&m, "a", 4096, &q);
	b = sim_add(&m, "b", 4096, &q);
	sim_run(&m, 3 * SEC);
	share = (double)b->cost / (a->cost + b->cost);
	TL_CHECK(rel_err(share, 0.5) <= 0.02, "set_qos: before, equal weights share %.4f", share);

	q.weight = 300;
	TL_CHECK(sched_set_qos(&m.s, &b->se, &q, m.now) == 0, "set_qos: weight 100 -> 300 accepted");
	sim_run(&m, 3 * SEC + 100 * MS);
	sim_reset_counters(&m);
	sim_run(&m, 6 * SEC);
	share = (double)b->cost / (a->cost + b->cost);
	TL_CHECK(rel_err(share, 0.75) <= 0.02, "set_qos: after, weights 1:3 share %.4f (want 0.75)", share);

	/* Add a limit to a running tenant, then lift it. */
	q = SCHED_QOS_DEFAULT;
	q.iops_limit = 2000;
	sched_set_qos(&m.s, &a->se, &q, m.now);
	sim_run(&m, 6 * SEC + 200 * MS);
	sim_reset_counters(&m);
	sim_run(&m, 9 * SEC + 200 * MS);
	TL_CHECK(rel_err((double)a->ops, 6000) <= 0.02,
	      "set_qos: a limit of 2000 IOPS set at run time holds (%llu ops in 3 s)",
	      (unsigned long long)a->ops);
	q.iops_limit = 0;
	sched_set_qos(&m.s, &a->se, &q, m.now);
	sim_run(&m, 9 * SEC + 300 * MS);
	sim_reset_counters(&m);
	sim_run(&m, 12 * SEC + 300 * MS);
	share = (double)b->cost / (a->cost + b->cost);
	TL_CHECK(rel_err(share, 0.75) <= 0.02,
	      "set_qos: limit lifted, a is back to its weighted share (b %.4f)", share);
	q.weight = 0;
	TL_CHECK(sched_set_qos(&m.s, &a->se, &q, m.now) == -EINVAL, "set_qos: invalid QoS rejected");
	sched_entity_stats(&a->se, &st);
	TL_CHECK(st.throttled > 0, "set_qos: throttling while limited was counted (%llu)",
	      (unsigned long long)st.throttled);
	sim_check_invariants(&m, "set_qos");
	sched_destroy(&m.s);
}

static void test_remove(void)
{
	struct sched_qos q = SCHED_QOS_DEFAULT, ql = SCHED_QOS_DEFAULT;
	struct tenant *a, *b, *c, *d;
	struct sched_stats st;
	uint64_t wake;
	struct sim m;

	sim_init(&m, SCHED_MODE_FAIR, 16);
	ql.iops_limit = 10;		/* nearly always parked */
	ql.iops_reservation = 5;
	a = sim_add(&m, "a", 4096, &q);
	b = sim_add(&m, "b", 65536, &q);
	c = sim_add(&m, "c", 4096, &q);
	d = sim_add(&m, "d", 4096, &ql);
	sim_run(&m, 2 * SEC);
	sched_entity_stats(&b->se, &st);
	TL_CHECK(st.inflight > 0, "remove: b has %llu requests in flight when removed",
	      (unsigned long long)st.inflight);
	sched_entity_stats(&d->se, &st);
	TL_CHECK(st.throttled > 0, "remove: d is throttled when removed (%llu times)",
	      (unsigned long long)st.throttled);
	sched_entity_remove(&m.s, &b->se);
	sched_entity_remove(&m.s, &d->se);
	b->removed = d->removed = true;
	sim_run(&m, 2 * SEC + 10 * MS);
	sim_reset_counters(&m);
	sim_run(&m, 4 * SEC);
	TL_CHECK(b->ops == 0 && d->ops == 0, "remove: removed tenants are never picked again");
	sched_entity_stats(&b->se, &st);
	TL_CHECK(st.inflight == 0, "remove: b's in-flight requests completed after removal");
	TL_CHECK(rel_err((double)a->cost, (double)c->cost) <= 0.02,
	      "remove: the remaining two share equally (%llu / %llu)",
	      (unsigned long long)a->cost, (unsigned long long)c->cost);
	sim_check_invariants(&m, "remove");

	/* Drain: everyone idle, all completions in, nothing left to pick. */
	a->off_ns = c->off_ns = m.now;
	sim_run(&m, 5 * SEC);
	TL_CHECK(sched_inflight(&m.s) == 0 && m.nq == 0, "remove: drained to 0 in flight");
	TL_CHECK(sched_pick(&m.s, m.now, &wake) == NULL && wake == UINT64_MAX,
	      "remove: nothing to pick, no wake-up");
	sched_destroy(&m.s);
}

/* xorshift64: deterministic pseudo-random operations for the stress test. */
static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/*
 * White-box: every heap is a valid min-heap on its key and each entity's
 * recorded index points back at it. Reads sched.c's private fields.
 */
static bool heaps_valid(const struct sched *s)
{
	int h;
	uint32_t i;

	for (h = 0; h < SCHED_HEAP_NR; h++) {
		const struct sched_heap *hp = &s->heap[h];

		for (i = 0; i < hp->n; i++) {
			const struct sched_entity *c = hp->v[i], *p;
			bool less;

			if (c->heap_idx[h] != i)
				return false;
			if (i == 0)
				continue;
			p = hp->v[(i - 1) / 2];
			if (h == SCHED_HEAP_WEIGHT)
				less = (int64_t)(c->vtime - p->vtime) < 0;
			else if (h == SCHED_HEAP_RESV)
				less = c->resv_tag < p->resv_tag;
			else
				less = c->ready_ns < p->ready_ns;
			if (less)
				return false;
		}
	}
	return true;
}

/*
 * Random activate/deactivate/set_qos/remove/re-add/dispatch/complete on
 * many entities; run under ASan this checks the heap bookkeeping, and
 * black-box: only added, active entities are picked, the cap holds, and
 * in-flight counts balance.
 */
static void test_stress(void)
{
	enum { N = 200, CAP = 48 };
	static struct sched_entity e[N];
	static bool added[N], active[N];
	static struct sched_entity *owner[2 * CAP];
	uint32_t npending = 0, bad = 0, overcap = 0, broken = 0, i;
	uint64_t x = 0x9e3779b97f4a7c15ull, now = 0, wake, step;
	struct sched s;

	sched_init(&s, SCHED_MODE_FAIR, CAP, N);
	for (step = 0; step < 400000; step++) {
		uint32_t k = rnd(&x) % N, op = rnd(&x) % 16;
		struct sched_qos q = SCHED_QOS_DEFAULT;
		struct sched_entity *p;

		now += rnd(&x) % 20000;
		if (step % 1000 == 0 && !heaps_valid(&s))
			broken++;
		q.weight = 1 + rnd(&x) % SCHED_WEIGHT_MAX;
		if (rnd(&x) % 2)
			q.iops_limit = 1 + rnd(&x) % 20000;
		if (rnd(&x) % 3 == 0)
			q.bps_limit = 1 + rnd(&x) % 100000000;
		if (rnd(&x) % 3 == 0)
			q.iops_reservation = rnd(&x) % (q.iops_limit ? q.iops_limit : 50000);

		if (op == 0 && !added[k]) {
			added[k] = sched_entity_add(&s, &e[k], &q, now) == 0;
		} else if (op == 1 && added[k]) {
			/* Removed with requests in flight: completions come later. */
			sched_entity_remove(&s, &e[k]);
			added[k] = active[k] = false;
		} else if (op <= 4 && added[k]) {
			sched_activate(&s, &e[k], now);
			active[k] = true;
		} else if (op == 5 && added[k]) {
			sched_deactivate(&s, &e[k], now);
			active[k] = false;
		} else if (op == 6 && added[k]) {
			sched_set_qos(&s, &e[k], &q, now);
		} else if (op <= 10 && npending) {
			i = rnd(&x) % npending;
			sched_completed(&s, owner[i], 0, now);
			owner[i] = owner[--npending];
		} else {
			p = sched_pick(&s, now, &wake);
			if (!p)
				continue;
			i = (uint32_t)(p - e);
			if (i >= N || !added[i] || !active[i])
				bad++;
			if (npending >= 2 * CAP) {
				overcap++;
				continue;
			}
			owner[npending++] = p;
			sched_dispatched(&s, p, (uint32_t)(rnd(&x) % (1 << 20)), now);
		}
	}
	TL_CHECK(!bad && !overcap, "stress: 400k random operations on %d entities: %u bad picks, "
	      "%u at twice the cap",
	      N, bad, overcap);
	TL_CHECK(!broken && heaps_valid(&s), "stress: heaps valid at every check (%u broken)", broken);
	TL_CHECK(sched_inflight(&s) == npending, "stress: in-flight %u == outstanding %u",
	      sched_inflight(&s), npending);
	sched_destroy(&s);
}

/*
 * A device that serves one request at a time in arrival order (each takes
 * DEV_SVC_NS): a request's latency is the queue ahead of it in the device,
 * which is what the in-flight cap bounds. The victim is a closed loop at
 * queue depth 1 (its next request is seen when the last completes); the
 * noisy neighbour always has work. Returns the victim's mean latency and
 * sets *ret_p99 and *ret_victim_ops, *ret_noisy_ops, *ret_min_cap.
 */
#define DEV_SVC_NS 20000ull

static double run_victim(enum sched_mode mode, uint64_t target_ns, uint64_t *ret_p99,
			 uint64_t *ret_victim_ops, uint64_t *ret_noisy_ops, uint32_t *ret_min_cap,
			 uint32_t *ret_final_cap)
{
	static uint64_t lats[200000];
	struct sched s;
	struct sched_entity victim, noisy;
	struct sched_qos qv = SCHED_QOS_DEFAULT, qn = SCHED_QOS_DEFAULT;
	struct { struct sched_entity *e; uint64_t seen, done; } fifo[512];
	uint32_t head = 0, tail = 0, min_cap = UINT32_MAX;
	uint64_t now = 0, dev_free = 0, victim_seen = 0, nlat = 0, sum = 0, noisy_ops = 0;
	const uint64_t end = 2 * SEC, idle_from = 3 * SEC / 2;
	bool victim_waiting = true, victim_on = true;

	qv.latency_target_ns = target_ns;
	sched_init(&s, mode, 64, 4);
	sched_entity_add(&s, &victim, &qv, now);
	sched_entity_add(&s, &noisy, &qn, now);
	sched_activate(&s, &noisy, now);
	while (now < end) {
		struct sched_entity *e;
		uint64_t wake;

		/* The victim stops at idle_from: the cap must then recover. */
		if (victim_on && now >= idle_from) {
			victim_on = false;
			victim_waiting = false;
			sched_deactivate(&s, &victim, now);
		}
		if (victim_waiting)
			sched_activate(&s, &victim, now);
		while ((e = sched_pick(&s, now, &wake))) {
			uint64_t start = MAX(dev_free, now);

			fifo[tail % 512].e = e;
			fifo[tail % 512].seen = e == &victim ? victim_seen : now;
			fifo[tail % 512].done = dev_free = start + DEV_SVC_NS;
			tail++;
			sched_dispatched(&s, e, 4096, now);
			if (e == &victim) {
				victim_waiting = false;
				sched_deactivate(&s, &victim, now);
			}
		}
		if (head == tail)
			break;	/* cannot happen: the neighbour always has work */
		now = fifo[head % 512].done;
		e = fifo[head % 512].e;
		sched_completed(&s, e, now - fifo[head % 512].seen, now);
		if (e == &victim) {
			uint64_t lat = now - fifo[head % 512].seen;

			if (nlat < (uint64_t)ARRAY_SIZE(lats))
				lats[nlat++] = lat;
			sum += lat;
			if (victim_on) {
				victim_seen = now;
				victim_waiting = true;
			}
		} else {
			noisy_ops++;
		}
		head++;
		if (now > SEC / 2 && victim_on && sched_effective_cap(&s) < min_cap)
			min_cap = sched_effective_cap(&s);
	}
	for (uint64_t i = 1; i < nlat; i++)	/* insertion sort is fine at this size */
		for (uint64_t j = i; j > 0 && lats[j - 1] > lats[j]; j--) {
			uint64_t t = lats[j];

			lats[j] = lats[j - 1];
			lats[j - 1] = t;
		}
	*ret_p99 = nlat ? lats[nlat * 99 / 100] : 0;
	*ret_victim_ops = nlat;
	*ret_noisy_ops = noisy_ops;
	*ret_min_cap = min_cap;
	*ret_final_cap = sched_effective_cap(&s);
	sched_destroy(&s);
	return nlat ? (double)sum / (double)nlat : 0;
}

static void test_latency_target(void)
{
	uint64_t p99_fair, p99_fifo, p99_tgt, vops, nops_tgt, nops;
	uint32_t min_cap, final_cap;
	double fair, fifo, tgt;

	fair = run_victim(SCHED_MODE_FAIR, 0, &p99_fair, &vops, &nops, &min_cap, &final_cap);
	TL_CHECK(min_cap == 64, "latency: without a target the cap stays at 64 (min %u)", min_cap);
	fifo = run_victim(SCHED_MODE_FIFO, 2 * DEV_SVC_NS, &p99_fifo, &vops, &nops, &min_cap,
			  &final_cap);
	TL_CHECK(min_cap == 64, "latency: fifo ignores targets (cap min %u)", min_cap);
	tgt = run_victim(SCHED_MODE_FAIR, 2 * DEV_SVC_NS, &p99_tgt, &vops, &nops_tgt, &min_cap,
			 &final_cap);
	printf("     victim at QD1 behind a flood, device 20 us per request: mean/p99 us "
	       "fair %.0f/%.0f, fifo %.0f/%.0f, fair + 40 us target %.0f/%.0f (cap >= %u)\n",
	       fair / 1e3, (double)p99_fair / 1e3, fifo / 1e3, (double)p99_fifo / 1e3,
	       tgt / 1e3, (double)p99_tgt / 1e3, min_cap);
	TL_CHECK(fair > 20 * DEV_SVC_NS, "latency: without a target the victim waits behind the "
	      "device queue (mean %.0f us)", fair / 1e3);
	/* AIMD hovers around the target: within 25% of it, against 64x without. */
	TL_CHECK(tgt <= 2.0 * DEV_SVC_NS * 1.25, "latency: a 40 us target holds the victim's mean at "
	      "%.1f us (alone: 20 us)", tgt / 1e3);
	TL_CHECK(p99_tgt <= 3 * DEV_SVC_NS, "latency: victim p99 %.0f us is within 3x of alone",
	      (double)p99_tgt / 1e3);
	/* One server: a shallower queue costs no throughput, the victim just gets its turn. */
	TL_CHECK((nops_tgt + vops) * 100 >= (2 * SEC / DEV_SVC_NS) * 98,
	      "latency: the device stays busy (%llu + %llu ops of %llu possible)",
	      (unsigned long long)nops_tgt, (unsigned long long)vops,
	      (unsigned long long)(2 * SEC / DEV_SVC_NS));
	TL_CHECK(final_cap == 64, "latency: once the victim is idle the cap is back to 64 (%u)",
	      final_cap);
}

int main(void)
{
	test_validate();
	test_wake();
	test_equal_weights();
	test_weights();
	test_limits();
	test_reservation();
	test_idle_credit();
	test_mixed_sizes();
	test_fifo();
	test_inflight_cap();
	test_slow_tenant();
	test_set_qos();
	test_remove();
	test_stress();
	test_latency_target();
	return tl_done();
}
