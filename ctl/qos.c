/* SPDX-License-Identifier: MIT */
/*
 * qos.c - the QoS options that `attach` and `set-qos` share (--weight,
 * --iops-limit, --bps-limit, --iops-reservation, --latency-target), parsed
 * strictly into the members of the method's params, and their one-line
 * human form.
 */
#include <stdint.h>
#include <stdio.h>

#include "output.h"
#include "pvfsctl.h"
#include "qos.h"

int qos_option(const char *cmd, int opt, const char *arg, json_t *params)
{
	static const struct { int opt; const char *flag, *key; enum opt_unit unit; } map[] = {
		{ QOS_OPT_WEIGHT, "--weight", "weight", OPT_COUNT },
		{ QOS_OPT_IOPS_LIMIT, "--iops-limit", "iops_limit", OPT_COUNT },
		{ QOS_OPT_BPS_LIMIT, "--bps-limit", "bps_limit", OPT_SIZE },
		{ QOS_OPT_IOPS_RESV, "--iops-reservation", "iops_reservation", OPT_COUNT },
		{ QOS_OPT_LAT_TARGET, "--latency-target", "latency_target_us", OPT_COUNT },
		{ QOS_OPT_IRQ_US, "--irq-coalesce-us", "irq_coalesce_us", OPT_COUNT },
		{ QOS_OPT_IRQ_COUNT, "--irq-coalesce-count", "irq_coalesce_count", OPT_COUNT },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		uint64_t v;

		if (map[i].opt != opt)
			continue;
		if (parse_opt_number(cmd, map[i].flag, arg, map[i].unit, &v) < 0)
			return -1;
		json_object_set_new(params, map[i].key, json_integer((json_int_t)v));
		return 1;
	}
	return 0;
}

void fmt_qos(json_t *qos, char *resv, size_t resvlen, char *limits, size_t limlen)
{
	json_int_t r = jint(qos, "iops_reservation");
	json_int_t iops = jint(qos, "iops_limit"), bps = jint(qos, "bps_limit");
	json_int_t lat = jint(qos, "latency_target_us");
	json_int_t irq_us = jint(qos, "irq_coalesce_us"), irq_n = jint(qos, "irq_coalesce_count");
	char b[32];
	size_t n = 0;

	if (r)
		snprintf(resv, resvlen, "%lld", (long long)r);
	else
		snprintf(resv, resvlen, "-");
	fmt_size_exact((uint64_t)bps, b, sizeof(b));
	limits[0] = '\0';
	if (iops)
		n += (size_t)snprintf(limits + n, limlen - n, "iops=%lld", (long long)iops);
	if (bps && n < limlen)
		n += (size_t)snprintf(limits + n, limlen - n, "%sbps=%s", n ? "," : "", b);
	if (lat && n < limlen)
		n += (size_t)snprintf(limits + n, limlen - n, "%slat=%lldus", n ? "," : "",
				      (long long)lat);
	if (irq_us && n < limlen)
		n += (size_t)snprintf(limits + n, limlen - n, "%sirq=%lldus", n ? "," : "",
				      (long long)irq_us);
	if (irq_us && irq_n && n < limlen)
		n += (size_t)snprintf(limits + n, limlen - n, "/%lld", (long long)irq_n);
	if (!n)
		snprintf(limits, limlen, "-");
}
