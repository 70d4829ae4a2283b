/* SPDX-License-Identifier: MIT */
/*
 * test_hooks.c - `pvfsctl test-drop-interrupts` (method
 * "test_drop_interrupts"): a command for tests of guest drivers only,
 * refused by a pvfsd not started with --test-hooks.
 */
#include <getopt.h>
#include <stdio.h>

#include "client.h"
#include "output.h"
#include "pvfsctl.h"

int test_drop_interrupts_main(int argc, char **argv)
{
	json_t *params, *result = NULL;
	uint64_t count = 1;
	int r;

	r = help_option(argc, argv);
	if (r >= 0)
		return r;
	if (argc - optind < 1 || argc - optind > 2)
		return usage_error(argv[0], argc - optind < 1 ? "missing tenant NAME" :
				   "unexpected argument '%s'", argv[argc - 1]);
	if (argc - optind == 2 &&
	    parse_opt_number(argv[0], "COUNT", argv[optind + 1], OPT_COUNT, &count) < 0)
		return 1;
	params = json_pack("{s:s, s:I}", "name", argv[optind], "count", (json_int_t)count);
	if (ctl_call("test_drop_interrupts", params, CTL_TIMEOUT_MS, &result) < 0)
		return 1;
	if (ctl_json)
		print_json(result);
	else
		printf("tenant %s: the next %lld interrupt(s) will not be sent\n",
		       jstr(result, "name"), (long long)jint(result, "dropping"));
	json_decref(result);
	return 0;
}
