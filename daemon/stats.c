/* SPDX-License-Identifier: MIT */
/*
 * stats.c - JSON snapshots of tenant and poller counters for the `list` and
 * `stats` methods. Rates (IOPS, bytes/s) are over the last stats_tick()
 * interval (one second, driven by main.c), so `pvfsctl stats` shows what is
 * happening now, not an average since attach.
 */
#include <string.h>

#include "domain.h"
#include "placement.h"
#include "poller.h"
#include "pvfsd.h"
#include "qos_json.h"
#include "stats.h"
#include "tenant.h"
#include "util.h"

/* backend_json - the volume's kind and scheduling domain; a remote one's connection. */
static json_t *backend_json(const struct tenant *t)
{
	struct backend_stats bs;
	json_t *o;

	t->backend->ops->stats(t->backend, &bs);
	o = json_pack("{s:s, s:s}", "kind", t->backend->ops->kind, "domain",
		      t->backend->info.domain);
	if (bs.state)
		json_object_update_new(o, json_pack("{s:s, s:i, s:I, s:I, s:I}",
						    "state", bs.state,
						    "connections", (int)bs.connections,
						    "reconnects", (json_int_t)bs.reconnects,
						    "errors", (json_int_t)bs.errors,
						    "queue_depth", (json_int_t)bs.queue_depth));
	return o;
}

const char *const stage_names[STAGE_MAX] = {
	[STAGE_QUEUE] = "queue",
	[STAGE_SUBMIT] = "submit",
	[STAGE_BACKEND] = "backend",
	[STAGE_COMPLETE] = "complete",
};

json_t *stats_tenant_summary(const struct tenant *t)
{
	json_t *qos = qos_json(&t->qos);
	json_t *o;

	coalesce_json_add(qos, &t->coalesce);
	o = json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:I, s:i, s:i, s:o, s:I}",
			      "name", t->name,
			      "state", tenant_state_name(tenant_effective_state(t)),
			      "volume", t->volume, "volume_path", t->volume_real,
			      "readonly", t->readonly,
			      "cache", cache_mode_name(t->cache),
			      "capacity", (json_int_t)t->capacity,
			      "logical_block_size", (int)t->lbs,
			      "physical_block_size", (int)t->pbs,
			      "qos", qos,
			      "plugs", (json_int_t)t->plugs);

	if (tenant_effective_state(t) == TENANT_BROKEN) {
		const char *why = __atomic_load_n(&t->broken_reason, __ATOMIC_ACQUIRE);

		json_object_set_new(o, "broken_reason", json_string(why ? why : "corrupt ring"));
	}
	json_object_set_new(o, "backend", backend_json(t));
	if (t->tio) {
		json_object_set_new(o, "queues", json_integer(t->tio->nr_queues));
		json_object_set_new(o, "queue_depth", json_integer(t->tio->depth));
		json_object_set_new(o, "generation", json_integer(t->generation));
		json_object_set_new(o, "poller", json_integer(poller_index(t->tio->p)));
		if (t->move_to)
			json_object_set_new(o, "moving_to",
					    json_integer(poller_index(t->move_to)));
	}
	json_object_set_new(o, "moves", json_integer((json_int_t)t->moves));
	return o;
}

/* Rates of the last interval, per tenant, keyed by pointer (control thread only). */
struct rate {
	const struct tenant *t;
	uint64_t ops, bytes;
	double iops, bps;
};

#define MAX_RATES 1024
static struct rate rates[MAX_RATES];
static unsigned nr_rates;
static uint64_t last_tick_ns;

static void tenant_totals(const struct tenant *t, uint64_t *ops, uint64_t *bytes)
{
	*ops = *bytes = 0;
	for (unsigned i = 0; i < PVFS_OP_MAX; i++) {
		*ops += stat_get(&t->st.op[i].ops);
		*bytes += stat_get(&t->st.op[i].bytes);
	}
}

static struct rate *rate_of(const struct tenant *t)
{
	for (unsigned i = 0; i < nr_rates; i++)
		if (rates[i].t == t)
			return &rates[i];
	return NULL;
}

void stats_tick(void)
{
	uint64_t now = now_ns(), dt = now - last_tick_ns;
	struct rate next[MAX_RATES];
	unsigned n = 0;

	for (const struct tenant *t = tenant_first(); t && n < MAX_RATES; t = t->next) {
		struct rate *old = rate_of(t), *r = &next[n++];

		r->t = t;
		tenant_totals(t, &r->ops, &r->bytes);
		r->iops = r->bps = 0;
		if (old && last_tick_ns && dt) {
			r->iops = (double)(r->ops - old->ops) * 1e9 / (double)dt;
			r->bps = (double)(r->bytes - old->bytes) * 1e9 / (double)dt;
		}
	}
	memcpy(rates, next, sizeof(next[0]) * n);
	nr_rates = n;
	last_tick_ns = now;
}

static json_t *op_json(const struct op_stats *os)
{
	uint64_t ops = stat_get(&os->ops);

	return json_pack("{s:I, s:I, s:I, s:{s:f, s:f, s:f, s:f}}",
			 "ops", (json_int_t)ops, "bytes", (json_int_t)stat_get(&os->bytes),
			 "errors", (json_int_t)stat_get(&os->errors),
			 "latency_us",
			 "mean", ops ? (double)stat_get(&os->lat_sum_ns) / (double)ops / 1000.0 : 0.0,
			 "p50", hist_percentile_us(os->lat_hist, 0.50),
			 "p99", hist_percentile_us(os->lat_hist, 0.99),
			 "p999", hist_percentile_us(os->lat_hist, 0.999));
}

/* stages_json - the latency breakdown (stage.h): per stage count, mean and percentiles. */
static json_t *stages_json(const struct stage_stats *ss)
{
	json_t *o = json_object();

	for (unsigned s = 0; s < STAGE_MAX; s++) {
		uint64_t n = stat_get(&ss->count[s]);

		json_object_set_new(o, stage_names[s],
			json_pack("{s:I, s:f, s:f, s:f, s:f}", "count", (json_int_t)n,
				  "mean_us", n ? (double)stat_get(&ss->sum_ns[s]) / (double)n / 1000.0 : 0.0,
				  "p50_us", hist_percentile_us(ss->hist[s], 0.50),
				  "p99_us", hist_percentile_us(ss->hist[s], 0.99),
				  "p999_us", hist_percentile_us(ss->hist[s], 0.999)));
	}
	return o;
}

static json_t *tenant_json(const struct tenant *t)
{
	json_t *o = stats_tenant_summary(t), *ops = json_object();
	const struct rate *r = rate_of(t);
	uint64_t throttled = stat_get(&t->st.throttled);
	uint64_t throttled_ns = stat_get(&t->st.throttled_ns);
	uint64_t dispatched = stat_get(&t->st.dispatched);

	if (t->tio) {
		struct sched_stats ss;

		sched_entity_stats(&t->tio->se, &ss);
		throttled += ss.throttled;
		throttled_ns += ss.throttled_ns;
	}
	for (unsigned i = 0; i < PVFS_OP_MAX; i++)
		json_object_set_new(ops, pvfs_op_names[i], op_json(&t->st.op[i]));
	json_object_set_new(o, "ops", ops);
	json_object_set_new(o, "domain", json_string(t->dom->key));
	json_object_set_new(o, "iops", json_real(r ? r->iops : 0));
	json_object_set_new(o, "bps", json_real(r ? r->bps : 0));
	json_object_set_new(o, "inflight", json_integer((json_int_t)stat_get(&t->st.inflight)));
	json_object_set_new(o, "invalid", json_integer((json_int_t)stat_get(&t->st.invalid)));
	json_object_set_new(o, "doorbells", json_integer((json_int_t)stat_get(&t->st.doorbells)));
	json_object_set_new(o, "interrupts", json_integer((json_int_t)stat_get(&t->st.interrupts)));
	json_object_set_new(o, "coalesced", json_integer((json_int_t)stat_get(&t->st.coalesced)));
	json_object_set_new(o, "resets", json_integer((json_int_t)stat_get(&t->st.resets)));
	if (stat_get(&t->st.interrupts_dropped))
		json_object_set_new(o, "interrupts_dropped",
				    json_integer((json_int_t)stat_get(&t->st.interrupts_dropped)));
	json_object_set_new(o, "throttled", json_integer((json_int_t)throttled));
	json_object_set_new(o, "throttled_seconds", json_real((double)throttled_ns / 1e9));
	json_object_set_new(o, "dispatched", json_integer((json_int_t)dispatched));
	json_object_set_new(o, "queue_delay_us_mean",
			    json_real(dispatched ? (double)stat_get(&t->st.queue_delay_ns) /
						   (double)dispatched / 1000.0 : 0.0));
	json_object_set_new(o, "stages", stages_json(&t->st.stages));
	return o;
}

/* domain_json - a domain's gauges and its tenants' rates added up. */
static json_t *domain_json(const struct domain *d)
{
	struct sched_domain_stats ds;
	struct sched_learn_stats ls;
	struct sched_model m;
	double iops = 0, bps = 0;
	uint64_t ops = 0;

	sched_domain_stats(d->sd, &ds);
	for (const struct tenant *t = tenant_first(); t; t = t->next) {
		const struct rate *r = rate_of(t);
		uint64_t o, b;

		if (t->dom != d)
			continue;
		tenant_totals(t, &o, &b);
		ops += o;
		iops += r ? r->iops : 0;
		bps += r ? r->bps : 0;
	}
	sched_domain_model(d->sd, &m);
	sched_domain_learn_stats(d->sd, &ls);
	return json_pack("{s:s, s:i, s:I, s:I, s:I, s:I, s:f, s:f, s:b, s:o, "
			 "s:{s:b, s:I, s:I, s:{s:f, s:f, s:f, s:f, s:f}}}",
			 "domain", d->key, "tenants", (int)d->tenants, "busy", (json_int_t)ds.busy,
			 "inflight", (json_int_t)ds.inflight,
			 "inflight_cap", (json_int_t)ds.inflight_cap, "ops", (json_int_t)ops,
			 "iops", iops, "bps", bps, "calibrated", d->calibrated,
			 "cost_model", model_json(&m),
			 "cost_learning", "on", ls.on, "windows", (json_int_t)ls.windows,
			 "refits", (json_int_t)ls.refits, "scale",
			 "read_seq", ls.scale[SCHED_LC_SEQ_READ], "read_rand", ls.scale[SCHED_LC_RAND_READ],
			 "write_seq", ls.scale[SCHED_LC_SEQ_WRITE],
			 "write_rand", ls.scale[SCHED_LC_RAND_WRITE], "flush", ls.scale[SCHED_LC_FLUSH]);
}

json_t *stats_domains_json(const struct tenant *only)
{
	json_t *dl = json_array();

	for (const struct domain *d = domain_first(); d; d = d->next)
		if (!only || only->dom == d)
			json_array_append_new(dl, domain_json(d));
	return dl;
}

json_t *stats_json(const struct tenant *only)
{
	json_t *tl = json_array(), *pl = json_array();

	for (const struct tenant *t = tenant_first(); t; t = t->next)
		if (!only || t == only)
			json_array_append_new(tl, tenant_json(t));
	for (int i = 0; i < poller_count(); i++) {
		const struct poller_stats *ps = poller_stats(i);

		json_array_append_new(pl, json_pack("{s:i, s:f, s:f, s:I, s:I, s:I, s:i, s:f, s:b}",
				"poller", i,
				"busy_seconds", (double)stat_get(&ps->busy_ns) / 1e9,
				"idle_seconds", (double)stat_get(&ps->idle_ns) / 1e9,
				"wakeups", (json_int_t)stat_get(&ps->wakeups),
				"dormant", (json_int_t)stat_get(&ps->dormant),
				"inflight", (json_int_t)stat_get(&ps->inflight),
				"tenants", (int)poller_tenants(i),
				"load", placement_load(i),
				"active", i < placement_active()));
	}
	return json_pack("{s:o, s:o, s:I, s:o}", "tenants", tl, "pollers", pl, "moves",
			 (json_int_t)tenant_moves_total(), "domains", stats_domains_json(only));
}
