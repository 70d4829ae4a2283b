/* SPDX-License-Identifier: MIT */
/*
 * integ_restart - attached tenants and their QoS survive a pvfsd restart
 * (the state file), and a simulated VM that loses pvfsd in the middle of
 * verified I/O re-plugs into the new instance and finishes with every block
 * verified: once after an orderly SIGTERM (pvfsd drained what it had taken),
 * once after SIGKILL (the new pvfsd re-issues what the old one had in
 * flight, from the region's in-flight table).
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tlib.h"
#include "util.h"

static void restart_under_io(struct tl_daemon *d, int sig)
{
	const char *how = sig == SIGKILL ? "SIGKILL" : "SIGTERM";
	char out[600];
	char *argv[] = { (char *)tl_bin("pvfs-bench"), "-s", d->sock, "--tenant", "vm",
			 "--rw", "randrw", "--verify", "--seed", "7",
			 "--ios", "60000", "--iodepth", "16", "--queues", "2",
			 "--reconnect-timeout", "20", "--json", NULL };
	json_t *res;
	pid_t bench;
	int r;

	snprintf(out, sizeof(out), "%s/bench-%s.json", d->dir, how);
	bench = tl_spawn(argv, out);
	TL_CHECK(tl_wait_ops(d, "vm", tl_tenant_rw_ops(d, "vm"), 3000, 10000),
		 "%s: the VM is doing I/O", how);
	if (sig == SIGKILL)
		tl_daemon_kill(d);
	else
		TL_CHECK(tl_daemon_stop(d) == 0, "%s: pvfsd drains and exits 0", how);
	tl_daemon_start(d, NULL);
	r = tl_wait(bench, 120000);
	res = json_load_file(out, 0, NULL);
	TL_CHECK(r == 0, "%s: the VM re-plugged and finished (exit %d)", how, r);
	TL_CHECK(res && json_integer_value(json_object_get(res, "verify_errors")) == 0 &&
		 json_integer_value(json_object_get(res, "errors")) == 0 &&
		 json_integer_value(json_object_get(res, "verified")) > 1000,
		 "%s: %lld blocks verified, %lld verify errors, %lld I/O errors", how,
		 (long long)json_integer_value(json_object_get(res, "verified")),
		 (long long)json_integer_value(json_object_get(res, "verify_errors")),
		 (long long)json_integer_value(json_object_get(res, "errors")));
	json_decref(res);
	if (sig == SIGKILL) {
		char cmd[700];

		/* Informational: integ_recover tests the re-issue deterministically. */
		snprintf(cmd, sizeof(cmd), "grep -h 're-issued' %s | sed 's/^/# /'", d->log);
		if (system(cmd) < 0)
			perror("system");
	}
}

int main(void)
{
	struct tl_daemon d = { 0 };
	json_t *list = NULL, *t;
	size_t i;
	int found = 0;

	tl_daemon_start(&d, NULL);
	tl_volume(&d, "vm.img", 32u << 20);
	tl_volume(&d, "ro.img", 4u << 20);
	TL_CHECK(tl_rpc(&d, "attach", json_pack("{s:s, s:s, s:i, s:i, s:i}", "name", "vm",
			"volume", "vm.img", "weight", 300, "iops_limit", 500000,
			"iops_reservation", 100), NULL) == 0, "attach vm with QoS");
	TL_CHECK(tl_rpc(&d, "attach", json_pack("{s:s, s:s, s:b, s:s, s:I}", "name", "ro",
			"volume", "ro.img", "readonly", 1, "cache", "writeback",
			"bps_limit", (json_int_t)(50 << 20)), NULL) == 0, "attach ro, read-only");
	TL_CHECK(tl_daemon_stop(&d) == 0, "SIGTERM: exit 0");
	tl_daemon_start(&d, NULL);
	TL_CHECK(tl_rpc(&d, "list", NULL, &list) == 0, "list after restart");
	json_array_foreach(json_object_get(list, "tenants"), i, t) {
		const char *name = json_string_value(json_object_get(t, "name"));
		json_t *q = json_object_get(t, "qos");

		if (!strcmp(name, "vm"))
			found += json_integer_value(json_object_get(q, "weight")) == 300 &&
				 json_integer_value(json_object_get(q, "iops_limit")) == 500000 &&
				 json_integer_value(json_object_get(q, "iops_reservation")) == 100;
		if (!strcmp(name, "ro"))
			found += json_is_true(json_object_get(t, "readonly")) &&
				 !strcmp(json_string_value(json_object_get(t, "cache")), "writeback") &&
				 json_integer_value(json_object_get(q, "bps_limit")) == 50 << 20;
	}
	TL_CHECK(found == 2, "both tenants are back with their QoS, mode and cache");
	json_decref(list);

	restart_under_io(&d, SIGTERM);
	restart_under_io(&d, SIGKILL);

	TL_CHECK(tl_rpc(&d, "detach", json_pack("{s:s}", "name", "ro"), NULL) == 0, "detach ro");
	TL_CHECK(tl_daemon_stop(&d) == 0, "SIGTERM: exit 0");
	tl_daemon_start(&d, NULL);
	TL_CHECK(tl_rpc(&d, "stats", json_pack("{s:s}", "name", "ro"), NULL) == -2,
		 "a detached tenant stays detached after a restart");
	TL_CHECK(tl_daemon_stop(&d) == 0, "SIGTERM: exit 0");
	tl_daemon_cleanup(&d);
	return tl_done();
}
