/* SPDX-License-Identifier: MIT */
/*
 * version.c - `pvfsctl version`: pvfsctl's own version, then the running
 * pvfsd's version, ring ABI and feature bits (method "version"). With --json
 * it prints {"pvfsctl": {"version": ...}, "pvfsd": <the daemon's result>}.
 */
#include <getopt.h>
#include <stdio.h>

#include "client.h"
#include "output.h"
#include "pvfsctl.h"

int version_main(int argc, char **argv)
{
	json_t *result = NULL;
	int r = no_options(argc, argv);

	if (r >= 0)
		return r;
	if (!ctl_json)
		printf("pvfsctl %s\n", PVFSCTL_VERSION);
	if (ctl_call("version", NULL, CTL_TIMEOUT_MS, &result) < 0)
		return 1;
	if (ctl_json) {
		json_t *v = json_pack("{s:{s:s}, s:O}", "pvfsctl", "version", PVFSCTL_VERSION,
				      "pvfsd", result);

		print_json(v);
		json_decref(v);
	} else {
		printf("pvfsd %s (ring ABI %lld, features 0x%llx)\n", jstr(result, "version"),
		       (long long)jint(result, "abi_version"),
		       (unsigned long long)jint(result, "features"));
	}
	json_decref(result);
	return 0;
}
