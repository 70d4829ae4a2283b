/* SPDX-License-Identifier: MIT */
/* qos_json.c - see qos_json.h. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>

#include "pvfs_ctl.h"
#include "pvfsd.h"
#include "qos_json.h"
#include "sched.h"

json_t *qos_json(const struct sched_qos *q)
{
	return json_pack("{s:i, s:I, s:I, s:I, s:I}", "weight", (int)q->weight,
			 "iops_reservation", (json_int_t)q->iops_reservation,
			 "iops_limit", (json_int_t)q->iops_limit,
			 "bps_limit", (json_int_t)q->bps_limit,
			 "latency_target_us", (json_int_t)(q->latency_target_ns / 1000));
}

/* get_u64 - a given, non-negative member into *ret. */
static int get_u64(const char *key, json_int_t v, uint64_t *ret, char *err, size_t errlen)
{
	if (v < 0) {
		snprintf(err, errlen, "invalid params: %s must be >= 0", key);
		return PVFS_RPC_INVALID_PARAMS;
	}
	*ret = (uint64_t)v;
	return 0;
}

int qos_decode(const struct qos_params *p, struct sched_qos *q, char *err, size_t errlen)
{
	uint64_t lat;
	int r;

	if (p->weight != QOS_ABSENT) {
		if (p->weight < SCHED_WEIGHT_MIN || p->weight > SCHED_WEIGHT_MAX) {
			snprintf(err, errlen, "weight must be %d-%d, got %lld", SCHED_WEIGHT_MIN,
				 SCHED_WEIGHT_MAX, (long long)p->weight);
			return -EINVAL;
		}
		q->weight = (uint32_t)p->weight;
	}
	if ((p->iops_reservation != QOS_ABSENT &&
	     (r = get_u64("iops_reservation", p->iops_reservation, &q->iops_reservation,
			  err, errlen))) ||
	    (p->iops_limit != QOS_ABSENT &&
	     (r = get_u64("iops_limit", p->iops_limit, &q->iops_limit, err, errlen))) ||
	    (p->bps_limit != QOS_ABSENT &&
	     (r = get_u64("bps_limit", p->bps_limit, &q->bps_limit, err, errlen))))
		return r;
	if (p->latency_target_us != QOS_ABSENT) {
		r = get_u64("latency_target_us", p->latency_target_us, &lat, err, errlen);
		if (r)
			return r;
		if (lat > SCHED_LAT_TARGET_MAX / 1000) {
			snprintf(err, errlen, "latency_target_us must be 0-%llu, got %llu",
				 SCHED_LAT_TARGET_MAX / 1000, (unsigned long long)lat);
			return -EINVAL;
		}
		q->latency_target_ns = lat * 1000;
	}
	return 0;
}

void coalesce_json_add(json_t *qos, const struct irq_coalesce *c)
{
	json_object_set_new(qos, "irq_coalesce_us", json_integer(c->us));
	json_object_set_new(qos, "irq_coalesce_count", json_integer(c->count));
}

int coalesce_decode(json_int_t us, json_int_t count, struct irq_coalesce *c, char *err,
		    size_t errlen)
{
	struct irq_coalesce n = *c;

	if ((us != QOS_ABSENT && us < 0) || (count != QOS_ABSENT && count < 0)) {
		snprintf(err, errlen, "invalid params: %s must be >= 0",
			 us != QOS_ABSENT && us < 0 ? "irq_coalesce_us" : "irq_coalesce_count");
		return PVFS_RPC_INVALID_PARAMS;
	}
	if (us != QOS_ABSENT) {
		if (us > IRQ_COALESCE_US_MAX) {
			snprintf(err, errlen, "irq_coalesce_us must be 0-%u (0 = off), got %lld",
				 IRQ_COALESCE_US_MAX, (long long)us);
			return -EINVAL;
		}
		n.us = (uint32_t)us;
	}
	if (count != QOS_ABSENT) {
		if (count > IRQ_COALESCE_COUNT_MAX) {
			snprintf(err, errlen, "irq_coalesce_count must be 0-%u (0 = none), got %lld",
				 IRQ_COALESCE_COUNT_MAX, (long long)count);
			return -EINVAL;
		}
		n.count = (uint32_t)count;
	}
	if (n.count && !n.us) {
		snprintf(err, errlen, "irq_coalesce_count %u needs irq_coalesce_us: the window "
			 "bounds how long a completion may wait for its interrupt", n.count);
		return -EINVAL;
	}
	*c = n;
	return 0;
}

json_t *model_json(const struct sched_model *m)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			 "read_seq_ns", (json_int_t)m->seq_ns[SCHED_IO_READ],
			 "read_rand_ns", (json_int_t)m->rand_ns[SCHED_IO_READ],
			 "read_byte_ps", (json_int_t)m->byte_ps[SCHED_IO_READ],
			 "write_seq_ns", (json_int_t)m->seq_ns[SCHED_IO_WRITE],
			 "write_rand_ns", (json_int_t)m->rand_ns[SCHED_IO_WRITE],
			 "write_byte_ps", (json_int_t)m->byte_ps[SCHED_IO_WRITE],
			 "flush_ns", (json_int_t)m->flush_ns);
}

int model_decode(json_t *o, struct sched_model *m, char *err, size_t errlen)
{
	json_int_t v[7];
	uint64_t *dst[7] = {
		&m->seq_ns[SCHED_IO_READ], &m->rand_ns[SCHED_IO_READ], &m->byte_ps[SCHED_IO_READ],
		&m->seq_ns[SCHED_IO_WRITE], &m->rand_ns[SCHED_IO_WRITE],
		&m->byte_ps[SCHED_IO_WRITE], &m->flush_ns,
	};
	json_error_t jerr;

	if (json_unpack_ex(o, &jerr, JSON_STRICT, "{s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			   "read_seq_ns", &v[0], "read_rand_ns", &v[1], "read_byte_ps", &v[2],
			   "write_seq_ns", &v[3], "write_rand_ns", &v[4], "write_byte_ps", &v[5],
			   "flush_ns", &v[6]) < 0) {
		snprintf(err, errlen, "invalid cost model: %s", jerr.text);
		return -EINVAL;
	}
	for (int i = 0; i < 7; i++) {
		if (v[i] < 0) {
			snprintf(err, errlen, "invalid cost model: coefficients must be >= 0");
			return -EINVAL;
		}
		*dst[i] = (uint64_t)v[i];
	}
	if (sched_model_validate(m) < 0) {
		snprintf(err, errlen, "invalid cost model: at most %llu ns per request and %llu ps "
			 "per byte", SCHED_MODEL_NS_MAX, SCHED_MODEL_PS_MAX);
		return -EINVAL;
	}
	return 0;
}
