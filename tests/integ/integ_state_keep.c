/* SPDX-License-Identifier: MIT */
/*
 * integ_state_keep - a tenant that a restarted pvfsd cannot restore (its
 * volume is missing: a disk not mounted yet, a Ceph cluster still down) is
 * not forgotten: the state file keeps its entry through every save, the
 * next start that finds the volume brings it back with its QoS, and an
 * operator's attach under the same name replaces the kept entry.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tlib.h"
#include "util.h"

/* Entries named name in the state file, and the weight of the last one. */
static int state_entries(struct tl_daemon *d, const char *name, long long *ret_weight)
{
	char path[400];
	json_t *root, *e;
	size_t i;
	int n = 0;

	snprintf(path, sizeof(path), "%s/state.json", d->run);
	root = json_load_file(path, 0, NULL);
	if (!root)
		return -1;
	json_array_foreach(json_object_get(root, "tenants"), i, e) {
		if (strcmp(json_string_value(json_object_get(e, "name")) ?: "", name))
			continue;
		n++;
		if (ret_weight)
			*ret_weight = json_integer_value(json_object_get(json_object_get(e, "qos"),
									 "weight"));
	}
	json_decref(root);
	return n;
}

int main(void)
{
	struct tl_daemon d = { 0 };
	char img[400], away[400];
	long long w = 0;

	tl_daemon_start(&d, NULL);
	tl_volume(&d, "a.img", 4u << 20);
	tl_volume(&d, "b.img", 4u << 20);
	tl_volume(&d, "c.img", 4u << 20);
	TL_CHECK(tl_rpc(&d, "attach", json_pack("{s:s, s:s}", "name", "a", "volume", "a.img"),
			NULL) == 0, "attach a");
	TL_CHECK(tl_rpc(&d, "attach", json_pack("{s:s, s:s, s:i}", "name", "b", "volume", "b.img",
			"weight", 700), NULL) == 0, "attach b with weight 700");
	TL_CHECK(tl_daemon_stop(&d) == 0, "SIGTERM: exit 0");

	/* b's volume is gone while pvfsd starts. */
	snprintf(img, sizeof(img), "%s/b.img", d.vols);
	snprintf(away, sizeof(away), "%s/b.img.away", d.dir);
	TL_CHECK(rename(img, away) == 0, "b's volume is moved away");
	tl_daemon_start(&d, NULL);
	TL_CHECK(tl_rpc(&d, "stats", json_pack("{s:s}", "name", "b"), NULL) == -2,
		 "b cannot be restored without its volume");
	TL_CHECK(tl_rpc(&d, "attach", json_pack("{s:s, s:s}", "name", "c", "volume", "c.img"),
			NULL) == 0, "attach c (the state file is written again)");
	TL_CHECK(state_entries(&d, "b", &w) == 1 && w == 700,
		 "the state file still holds b with its weight (%lld)", w);
	TL_CHECK(tl_daemon_stop(&d) == 0, "SIGTERM: exit 0");

	/* The volume is back: so is b, with its QoS. */
	TL_CHECK(rename(away, img) == 0, "b's volume is back");
	tl_daemon_start(&d, NULL);
	TL_CHECK(tl_rpc(&d, "stats", json_pack("{s:s}", "name", "b"), NULL) == 0,
		 "b is restored once its volume is there");
	TL_CHECK(state_entries(&d, "b", &w) == 1 && w == 700, "b's entry is there once, weight %lld",
		 w);
	TL_CHECK(tl_daemon_stop(&d) == 0, "SIGTERM: exit 0");

	/* Gone again; this time the operator attaches b anew elsewhere. */
	TL_CHECK(rename(img, away) == 0, "b's volume is moved away again");
	tl_daemon_start(&d, NULL);
	TL_CHECK(tl_rpc(&d, "attach", json_pack("{s:s, s:s, s:i}", "name", "b", "volume", "c.img",
			"weight", 200), NULL) == -16, "c.img serves c already (-EBUSY)");
	tl_volume(&d, "b2.img", 4u << 20);
	TL_CHECK(tl_rpc(&d, "attach", json_pack("{s:s, s:s, s:i}", "name", "b", "volume",
			"b2.img", "weight", 200), NULL) == 0, "attach b anew on b2.img");
	TL_CHECK(tl_rpc(&d, "detach", json_pack("{s:s}", "name", "b"), NULL) == 0,
		 "detach the new b");
	TL_CHECK(state_entries(&d, "b", NULL) == 0,
		 "the operator's attach replaced the kept entry, and the detach removed it");
	TL_CHECK(tl_daemon_stop(&d) == 0, "SIGTERM: exit 0");
	tl_daemon_cleanup(&d);
	return tl_done();
}
