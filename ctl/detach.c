/* SPDX-License-Identifier: MIT */
/*
 * detach.c - `pvfsctl detach`: remove a tenant (method "detach"). pvfsd
 * replies only once the tenant's in-flight I/O has drained, so this waits
 * longer than other commands.
 */
#include <getopt.h>
#include <stdio.h>

#include "client.h"
#include "output.h"
#include "pvfsctl.h"

int detach_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool force = false;
	json_t *params, *result = NULL;
	const char *name;
	int opt;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":fh", opts, NULL)) != -1) {
		switch (opt) {
		case 'f':
			force = true;
			break;
		default:
			return option_default(opt, argv);
		}
	}
	name = name_operand(argc, argv);
	if (!name)
		return 1;
	params = json_pack("{s:s}", "name", name);
	if (force)
		json_object_set_new(params, "force", json_true());
	if (ctl_call("detach", params, CTL_DETACH_TIMEOUT_MS, &result) < 0)
		return 1;
	if (ctl_json)
		print_json(result);
	else
		printf("tenant %s detached\n", jstr(result, "detached"));
	json_decref(result);
	return 0;
}
