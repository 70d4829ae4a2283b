/* SPDX-License-Identifier: MIT */
/*
 * integ_backward_tail - a guest that moves its SQ tail backwards costs only
 * itself (issue 8, item 2). The old check, "tail - sq_head <= depth", let a
 * tail moved back between sq_head and the last tail seen through; the
 * poller's time-stamp loop then ran from the old tail up to the new one,
 * ~2^32 iterations, and every tenant of the poller stalled for seconds
 * (4-10 s per round trip, repeatable forever). It takes requests waiting
 * behind the scheduler (here: a 1 IOPS limit) for the tail to be ahead of
 * sq_head. Now the tenant is BROKEN with the reason, and the neighbour's
 * round trips stay fast throughout.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tlib.h"
#include "util.h"

#define RAM (1u << 20)

int main(void)
{
	struct tl_daemon d = { 0 };
	struct tl_vm good, evil;
	struct pvfs_uguest_queue *uq;
	char err[512];
	uint64_t worst = 0;
	int ok = 0;
	json_t *st;

	tl_daemon_start(&d, NULL);
	tl_volume(&d, "good.img", 1u << 20);
	tl_volume(&d, "evil.img", 1u << 20);
	if (tl_rpc(&d, "attach", json_pack("{s:s, s:s, s:i}", "name", "evil", "volume", "evil.img",
					   "iops_limit", 1), NULL))
		tl_fatal("attach evil");
	if (tl_vm_plug(&d, &good, "good", "good.img", 1, 16, RAM, err, sizeof(err)) ||
	    tl_vm_plug(&d, &evil, "evil", NULL, 1, 16, RAM, err, sizeof(err)))
		tl_fatal("plug: %s", err);
	TL_CHECK(tl_vm_roundtrip(&good, 0, 1), "the neighbour works");

	/* Eight reads: the limit lets the burst through, the rest wait in the SQ. */
	uq = &evil.guest.queues[0];
	for (int i = 0; i < 8; i++) {
		struct pvfs_sqe sqe = { .opcode = PVFS_OP_READ, .nr_segs = 1, .len = 4096,
					.offset = 4096ull * i };
		struct pvfs_seg seg = { .addr = tl_vm_gpa(&evil, 4096ull * i), .len = 4096 };

		if (pvfs_uguest_queue_sqe(uq, &sqe, &seg, 1) < 0)
			tl_fatal("queue");
	}
	pvfs_uguest_commit(uq);
	/* Let the poller see the tail (and dispatch what the limit allows). */
	TL_CHECK(tl_vm_roundtrip(&good, 4096, 2), "the neighbour works with evil queued");
	TL_CHECK(PVFS_READ_ONCE(&uq->q.ctrl->sq_head) != uq->sq_tail,
		 "requests of evil wait behind its limit (sq_head %u, tail %u)",
		 PVFS_READ_ONCE(&uq->q.ctrl->sq_head), uq->sq_tail);

	/* Move the tail back by one: still between sq_head and the tail seen. */
	PVFS_STORE_RELEASE(&uq->q.ctrl->sq_tail, uq->sq_tail - 1);
	for (int i = 0; i < 20; i++) {
		uint64_t t0 = now_ns(), dt;

		ok += tl_vm_roundtrip(&good, 8192 + 4096ull * i, (uint8_t)(i + 3));
		dt = now_ns() - t0;
		worst = MAX(worst, dt);
	}
	TL_CHECK(ok == 20 && worst < 500000000ull,
		 "the neighbour's 20 round trips pass, the slowest %.1f ms (before the fix: seconds)",
		 (double)worst / 1e6);
	TL_CHECK(tl_vm_host_state_is(&evil, PVFS_HOST_BROKEN, 5000), "evil's region says BROKEN");
	TL_CHECK(tl_wait_state(&d, "evil", "broken", 5000), "stats say evil is broken");
	st = tl_tenant_stats(&d, "evil");
	TL_CHECK(!strcmp(json_string_value(json_object_get(st, "broken_reason")) ?: "",
			 "submission tail moved backwards"), "stats give the reason: %s",
		 json_string_value(json_object_get(st, "broken_reason")));
	json_decref(st);

	tl_vm_unplug(&evil);
	tl_vm_unplug(&good);
	TL_CHECK(tl_daemon_stop(&d) == 0, "pvfsd exits 0");
	tl_daemon_cleanup(&d);
	return tl_done();
}
