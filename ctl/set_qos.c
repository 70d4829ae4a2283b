/* SPDX-License-Identifier: MIT */
/* set_qos.c - `pvfsctl set-qos`: change a tenant's QoS at run time (method "set_qos"). */
#include <getopt.h>
#include <stdio.h>

#include "client.h"
#include "output.h"
#include "pvfsctl.h"
#include "qos.h"

int set_qos_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		QOS_LONG_OPTIONS,
		{ 0 },
	};
	json_t *params = json_object(), *result = NULL, *qos;
	const char *name;
	char resv[32], limits[64];
	int opt, ret = 1;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (opt == 'h' || opt == '?' || opt == ':') {
			ret = option_default(opt, argv);
			goto out;
		}
		if (qos_option(argv[0], opt, optarg, params) <= 0)
			goto out;
	}
	name = name_operand(argc, argv);
	if (!name)
		goto out;
	if (!json_object_size(params)) {
		usage_error(argv[0], "nothing to change: give at least one of --weight, "
			    "--iops-limit, --bps-limit, --iops-reservation, --latency-target, "
			    "--irq-coalesce-us, --irq-coalesce-count");
		goto out;
	}
	json_object_set_new(params, "name", json_string(name));
	opt = ctl_call("set_qos", params, CTL_TIMEOUT_MS, &result);
	params = NULL;
	if (opt < 0)
		goto out;
	if (ctl_json) {
		print_json(result);
	} else {
		qos = json_object_get(result, "qos");
		fmt_qos(qos, resv, sizeof(resv), limits, sizeof(limits));
		printf("tenant %s: weight %lld, reservation %s, limits %s\n", jstr(result, "name"),
		       (long long)jint(qos, "weight"), resv, limits);
	}
	ret = 0;
out:
	json_decref(params);
	json_decref(result);
	return ret;
}
