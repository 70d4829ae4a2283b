/* SPDX-License-Identifier: MIT */
/*
 * qos_json.h - a tenant's QoS settings (and a domain's cost model) as
 * JSON, both ways, in one place:
 * the encoder behind the "qos" object of attach, list, stats and set_qos
 * replies and of the state file, and the decoder of the QoS integers the
 * attach and set_qos methods unpack. Member names are proto/CONTROL.md's.
 * Pure: no I/O, no logging; the control plane's (control.c, stats.c,
 * state.c), never the data plane's.
 */
#ifndef PVFSD_QOS_JSON_H
#define PVFSD_QOS_JSON_H

#include <jansson.h>
#include <limits.h>
#include <stddef.h>

struct sched_model;
struct sched_qos;

/* A QoS member that was not given (distinct from any value a client can send). */
#define QOS_ABSENT LLONG_MIN

/* The QoS members of a method's parameters as unpacked, QOS_ABSENT where not given. */
struct qos_params {
	json_int_t weight, iops_reservation, iops_limit, bps_limit, latency_target_us;
};

#define QOS_PARAMS_ABSENT { QOS_ABSENT, QOS_ABSENT, QOS_ABSENT, QOS_ABSENT, QOS_ABSENT }

/* qos_json - {weight, iops_reservation, iops_limit, bps_limit, latency_target_us}. */
json_t *qos_json(const struct sched_qos *q);
/*
 * qos_decode - apply the members of p that were given to *q. Returns 0, or
 * the JSON-RPC error code to reply with (PVFS_RPC_INVALID_PARAMS for a
 * negative value, -EINVAL for one out of range) and the message in err;
 * *q may then be partly changed.
 */
int qos_decode(const struct qos_params *p, struct sched_qos *q, char *err, size_t errlen);

struct irq_coalesce;

/*
 * coalesce_json_add - add irq_coalesce_us and irq_coalesce_count to a qos
 * object: interrupt coalescing is shown and saved with the QoS settings,
 * though the scheduler does not see it (the poller applies it).
 */
void coalesce_json_add(json_t *qos, const struct irq_coalesce *c);
/*
 * coalesce_decode - apply irq_coalesce_us and irq_coalesce_count, each
 * QOS_ABSENT when not given, to *c; 0 or the error code and message like
 * qos_decode. A count needs a window: the window bounds the delay.
 */
int coalesce_decode(json_int_t us, json_int_t count, struct irq_coalesce *c, char *err,
		    size_t errlen);

/*
 * model_json - a domain's cost model: {read_seq_ns, read_rand_ns,
 * read_byte_ps, write_seq_ns, write_rand_ns, write_byte_ps, flush_ns}.
 * model_decode - the same object back (every member required, strict);
 * -EINVAL with the message in err.
 */
json_t *model_json(const struct sched_model *m);
int model_decode(json_t *o, struct sched_model *m, char *err, size_t errlen);

#endif
