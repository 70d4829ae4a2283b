/* SPDX-License-Identifier: MIT */
/* attach.c - `pvfsctl attach`: provision a tenant (method "attach"). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "client.h"
#include "output.h"
#include "pvfsctl.h"
#include "qos.h"

/* A remote volume's attach connects to its server first (pvfsd bounds each step). */
#define ATTACH_TIMEOUT_MS 120000

static void print_attached(json_t *t)
{
	char size[32], resv[32], limits[64];
	json_t *qos = json_object_get(t, "qos");

	fmt_bytes_human((uint64_t)jint(t, "capacity"), size, sizeof(size));
	fmt_qos(qos, resv, sizeof(resv), limits, sizeof(limits));
	printf("tenant %s attached: volume %s, %s, %s, cache %s, weight %lld, "
	       "reservation %s, limits %s\n", jstr(t, "name"), jstr(t, "volume_path"), size,
	       json_is_true(json_object_get(t, "readonly")) ? "ro" : "rw", jstr(t, "cache"),
	       (long long)jint(qos, "weight"), resv, limits);
}

int attach_main(int argc, char **argv)
{
	enum { O_VOLUME = 0x200, O_READONLY, O_CACHE, O_HELP, O_CEPH_CONF, O_CEPH_ID, O_FORCE };
	static const struct option opts[] = {
		{ "volume", required_argument, NULL, O_VOLUME },
		{ "readonly", no_argument, NULL, O_READONLY },
		{ "cache", required_argument, NULL, O_CACHE },
		{ "ceph-conf", required_argument, NULL, O_CEPH_CONF },
		{ "ceph-id", required_argument, NULL, O_CEPH_ID },
		{ "force", no_argument, NULL, O_FORCE },
		{ "help", no_argument, NULL, 'h' },
		QOS_LONG_OPTIONS,
		{ 0 },
	};
	const char *volume = NULL, *cache = NULL, *name;
	bool readonly = false;
	json_t *params, *result = NULL;
	int opt, r, ret = 1;

	params = json_object();
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (opt) {
		case O_VOLUME:
			volume = optarg;
			break;
		case O_READONLY:
			readonly = true;
			break;
		case O_CEPH_CONF:
			json_object_set_new(params, "ceph_conf", json_string(optarg));
			break;
		case O_CEPH_ID:
			json_object_set_new(params, "ceph_id", json_string(optarg));
			break;
		case O_FORCE:
			json_object_set_new(params, "force", json_true());
			break;
		case O_CACHE:
			if (strcmp(optarg, "none") && strcmp(optarg, "writeback")) {
				usage_error(argv[0], "--cache must be none or writeback, not '%s'",
					    optarg);
				goto out;
			}
			cache = optarg;
			break;
		case 'h':
		case '?':
		case ':':
			ret = option_default(opt, argv);
			goto out;
		default:
			r = qos_option(argv[0], opt, optarg, params);
			if (r <= 0)
				goto out;
		}
	}
	name = name_operand(argc, argv);
	if (!name)
		goto out;
	if (!volume) {
		usage_error(argv[0], "missing --volume PATH");
		goto out;
	}
	json_object_set_new(params, "name", json_string(name));
	json_object_set_new(params, "volume", json_string(volume));
	if (readonly)
		json_object_set_new(params, "readonly", json_true());
	if (cache)
		json_object_set_new(params, "cache", json_string(cache));
	r = ctl_call("attach", params, ATTACH_TIMEOUT_MS, &result);
	params = NULL;
	if (r < 0)
		goto out;
	if (ctl_json)
		print_json(result);
	else
		print_attached(result);
	ret = 0;
out:
	json_decref(params);
	json_decref(result);
	return ret;
}
