/* SPDX-License-Identifier: MIT */
/*
 * qos.h - the QoS options `attach` and `set-qos` share (qos.c): parsed
 * strictly into the method's params, and shown in one line.
 */
#ifndef PVFSCTL_QOS_H
#define PVFSCTL_QOS_H

#include <stddef.h>

#include <jansson.h>

/* getopt values of the QoS options; QOS_LONG_OPTIONS goes in a struct option table. */
enum { QOS_OPT_WEIGHT = 0x100, QOS_OPT_IOPS_LIMIT, QOS_OPT_BPS_LIMIT, QOS_OPT_IOPS_RESV,
       QOS_OPT_LAT_TARGET, QOS_OPT_IRQ_US, QOS_OPT_IRQ_COUNT };
#define QOS_LONG_OPTIONS \
	{ "weight", required_argument, NULL, QOS_OPT_WEIGHT }, \
	{ "iops-limit", required_argument, NULL, QOS_OPT_IOPS_LIMIT }, \
	{ "bps-limit", required_argument, NULL, QOS_OPT_BPS_LIMIT }, \
	{ "iops-reservation", required_argument, NULL, QOS_OPT_IOPS_RESV }, \
	{ "latency-target", required_argument, NULL, QOS_OPT_LAT_TARGET }, \
	{ "irq-coalesce-us", required_argument, NULL, QOS_OPT_IRQ_US }, \
	{ "irq-coalesce-count", required_argument, NULL, QOS_OPT_IRQ_COUNT }

/*
 * qos_option - if opt is a QoS option, parse arg into params (weight,
 * iops_limit, bps_limit, iops_reservation, latency_target_us,
 * irq_coalesce_us, irq_coalesce_count) and return 1;
 * 0 if it is not one; -1 (message printed) on a bad value.
 */
int qos_option(const char *cmd, int opt, const char *arg, json_t *params);
/*
 * fmt_qos - a qos object as the RESV ("-" or N) and LIMITS
 * ("iops=N,bps=100M,irq=50us/8") cells; irq is interrupt coalescing.
 */
void fmt_qos(json_t *qos, char *resv, size_t resvlen, char *limits, size_t limlen);

#endif
