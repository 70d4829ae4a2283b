/* SPDX-License-Identifier: MIT */
/*
 * integ_idle - with 8 plugged but idle tenants pvfsd must go to sleep
 * (NEED_WAKEUP set, waiting in io_uring) instead of burning a core like the
 * paper's poller: its CPU time barely moves over 2 s. Then one guest
 * submits, rings the doorbell because the host asked for it, and is served.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tlib.h"
#include "util.h"

#define N 8

/* all_asleep - wait (up to 2 s) until the host asked every queue for a kick. */
static bool all_asleep(struct tl_vm *vms)
{
	uint64_t deadline = now_ns() + 2000000000ull;

	while (now_ns() < deadline) {
		bool asleep = true;

		for (int i = 0; i < N; i++)
			for (int q = 0; q < 2; q++)
				if (!pvfs_sq_needs_kick(&vms[i].guest.queues[q].q))
					asleep = false;
		if (asleep)
			return true;
	}
	return false;
}

int main(void)
{
	struct tl_daemon d = { 0 };
	struct tl_vm vms[N];
	char err[512], name[16], vol[32];
	uint64_t c0, c1, t0;

	tl_daemon_start(&d, NULL);
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "idle%d", i);
		snprintf(vol, sizeof(vol), "idle%d.img", i);
		tl_volume(&d, vol, 1u << 20);
		if (tl_vm_plug(&d, &vms[i], name, vol, 2, 8, 1u << 20, err, sizeof(err)))
			tl_fatal("plug %s: %s", name, err);
	}
	TL_CHECK(tl_vm_rw(&vms[0], 0, true, 0, 4096, 0) == 4096, "one write to wake everything up");

	TL_CHECK(all_asleep(vms), "every queue of every tenant says NEED_WAKEUP");

	c0 = tl_cpu_ns(d.pid);
	t0 = now_ns();
	/* Measuring an idle period is the point here: this sleep is the test's subject. */
	sleep(2);
	c1 = tl_cpu_ns(d.pid);
	TL_CHECK(c1 - c0 < 100000000ull, "pvfsd used %.1f ms of CPU in %.1f s with %d idle tenants",
		 (double)(c1 - c0) / 1e6, (double)(now_ns() - t0) / 1e9, N);

	for (int i = 0; i < N; i++) {
		uint64_t kicks = vms[i].guest.queues[1].kicks;

		/* Once the poller sleeps again, a submission must ring the doorbell. */
		TL_CHECK(all_asleep(vms), "idle%d: the poller is asleep", i);
		TL_CHECK(tl_vm_rw(&vms[i], 1, false, 0, 4096, 4096) == 4096,
			 "idle%d: a request after the sleep is served", i);
		TL_CHECK(vms[i].guest.queues[1].kicks > kicks, "idle%d: ... after a doorbell", i);
	}
	{
		json_t *st = tl_tenant_stats(&d, "idle3");

		TL_CHECK(json_integer_value(json_object_get(st, "doorbells")) >= 1,
			 "pvfsd counted the doorbell");
		json_decref(st);
	}
	for (int i = 0; i < N; i++)
		tl_vm_unplug(&vms[i]);
	TL_CHECK(tl_daemon_stop(&d) == 0, "pvfsd exits 0");
	tl_daemon_cleanup(&d);
	return tl_done();
}
