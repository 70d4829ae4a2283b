/* SPDX-License-Identifier: MIT */
/*
 * move.c - `pvfsctl move NAME --poller N`: move a running tenant to
 * another poller (method "move"). pvfsd replies once the tenant runs on
 * the new poller: after its in-flight requests on the old one completed.
 */
#include <getopt.h>
#include <stdio.h>

#include "client.h"
#include "output.h"
#include "pvfsctl.h"

int move_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "poller", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	json_t *result = NULL;
	const char *name;
	uint64_t poller = 0;
	bool have_poller = false;
	int opt;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":p:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			if (parse_opt_number(argv[0], "--poller", optarg, OPT_COUNT, &poller) < 0)
				return 1;
			if (poller > 63)
				return usage_error(argv[0], "--poller must be 0-63, not %s", optarg);
			have_poller = true;
			break;
		default:
			return option_default(opt, argv);
		}
	}
	name = name_operand(argc, argv);
	if (!name)
		return 1;
	if (!have_poller)
		return usage_error(argv[0], "missing --poller N");
	/* A move waits for the tenant's in-flight I/O, like a detach. */
	if (ctl_call("move", json_pack("{s:s, s:i}", "name", name, "poller", (int)poller),
		     CTL_DETACH_TIMEOUT_MS, &result) < 0)
		return 1;
	if (ctl_json)
		print_json(result);
	else if (json_is_true(json_object_get(result, "moved")))
		printf("tenant %s moved to poller %lld\n", name, (long long)jint(result, "poller"));
	else
		printf("tenant %s is on poller %lld already\n", name,
		       (long long)jint(result, "poller"));
	json_decref(result);
	return 0;
}
