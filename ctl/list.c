/* SPDX-License-Identifier: MIT */
/* list.c - `pvfsctl list`: the tenants, one line each (method "list"). */
#include <getopt.h>
#include <stdio.h>

#include "client.h"
#include "output.h"
#include "pvfsctl.h"
#include "qos.h"

static void print_tenants(json_t *tenants)
{
	static const char *const headers[] = {
		"NAME", "STATE", "VOLUME", "SIZE", "MODE", "CACHE", "WEIGHT", "RESV", "LIMITS",
		"QUEUES", "POLLER", NULL,
	};
	struct table *tab = table_new(headers, "lllrllrrlrr");
	json_t *t;
	size_t i;

	sort_by_name(tenants);
	json_array_foreach(tenants, i, t) {
		json_t *qos = json_object_get(t, "qos");
		char size[32], resv[32], limits[64];

		fmt_bytes_human((uint64_t)jint(t, "capacity"), size, sizeof(size));
		fmt_qos(qos, resv, sizeof(resv), limits, sizeof(limits));
		table_row(tab);
		table_cell(tab, "%s", jstr(t, "name"));
		table_cell(tab, "%s", jstr(t, "state"));
		table_cell(tab, "%s", jstr(t, "volume"));
		table_cell(tab, "%s", size);
		table_cell(tab, "%s", json_is_true(json_object_get(t, "readonly")) ? "ro" : "rw");
		table_cell(tab, "%s", jstr(t, "cache"));
		table_cell(tab, "%lld", (long long)jint(qos, "weight"));
		table_cell(tab, "%s", resv);
		table_cell(tab, "%s", limits);
		if (json_object_get(t, "queues"))
			table_cell(tab, "%lldx%lld", (long long)jint(t, "queues"),
				   (long long)jint(t, "queue_depth"));
		else
			table_cell(tab, "-");
		if (json_object_get(t, "moving_to"))
			table_cell(tab, "%lld->%lld", (long long)jint(t, "poller"),
				   (long long)jint(t, "moving_to"));
		else if (json_object_get(t, "poller"))
			table_cell(tab, "%lld", (long long)jint(t, "poller"));
		else
			table_cell(tab, "-");
	}
	table_print(tab, stdout);
	table_free(tab);
	print_broken(tenants, stdout);
}

int list_main(int argc, char **argv)
{
	json_t *result = NULL;
	int r = no_options(argc, argv);

	if (r >= 0)
		return r;
	if (ctl_call_pages("list", NULL, CTL_TIMEOUT_MS, &result) < 0)
		return 1;
	if (ctl_json)
		print_json(result);
	else
		print_tenants(json_object_get(result, "tenants"));
	json_decref(result);
	return 0;
}
