/* SPDX-License-Identifier: MIT */
/* resize.c - `pvfsctl resize`: grow a tenant's volume online (method "resize"). */
#include <getopt.h>
#include <stdio.h>

#include "client.h"
#include "output.h"
#include "pvfsctl.h"

int resize_main(int argc, char **argv)
{
	json_t *params, *result = NULL;
	uint64_t size;
	char human[32];
	int r;

	r = help_option(argc, argv);
	if (r >= 0)
		return r;
	if (argc - optind != 2)
		return usage_error(argv[0], argc - optind < 2 ? "missing tenant NAME or SIZE" :
				   "unexpected argument '%s'", argv[argc - 1]);
	if (parse_opt_number(argv[0], "SIZE", argv[optind + 1], OPT_SIZE, &size) < 0)
		return 1;
	params = json_pack("{s:s, s:I}", "name", argv[optind], "size", (json_int_t)size);
	if (ctl_call("resize", params, CTL_TIMEOUT_MS, &result) < 0)
		return 1;
	if (ctl_json) {
		print_json(result);
	} else {
		fmt_bytes_human((uint64_t)jint(result, "capacity"), human, sizeof(human));
		printf("tenant %s: %s (%lld bytes)\n", jstr(result, "name"), human,
		       (long long)jint(result, "capacity"));
	}
	json_decref(result);
	return 0;
}
