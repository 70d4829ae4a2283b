/* SPDX-License-Identifier: MIT */
/*
 * integ_recover_qos - requests re-issued from the in-flight table at plug go
 * through the scheduler like any other (issue 8, item 7). The in-flight
 * table lives in guest-writable memory: a guest could fill it with records
 * that a restarted pvfsd re-issues. Before, recover() sent every record
 * straight to io_uring, around the scheduler: a tenant limited to 50 IOPS
 * had 60 recovered writes done in a few milliseconds. Now they are paced
 * by its limit (the throttle counter moves and they take about a second),
 * each record is validated like a fresh SQE (a malformed one completes
 * with -EINVAL and writes nothing), and a neighbour's round trips go on
 * while the flood drains.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tlib.h"
#include "util.h"

#define RAM	(1u << 20)
#define DEPTH	64
#define NREC	60
#define IOPS	50

int main(void)
{
	struct tl_daemon d = { 0 };
	struct tl_vm vm, nb;
	struct pvfs_uguest_queue *uq;
	struct pvfs_queue *q;
	struct pvfs_cqe cqes[DEPTH];
	char err[512];
	int good = 0, einval = 0, other = 0, rounds = 0, rounds_ok = 0;
	uint64_t t0, t1, deadline, throttled;
	uint32_t head;
	json_t *st;

	tl_daemon_start(&d, NULL);
	tl_volume(&d, "flood.img", 1u << 20);
	tl_volume(&d, "nb.img", 1u << 20);
	if (tl_rpc(&d, "attach", json_pack("{s:s, s:s, s:i}", "name", "flood", "volume",
					   "flood.img", "iops_limit", IOPS), NULL))
		tl_fatal("attach flood");
	if (tl_vm_plug(&d, &vm, "flood", NULL, 1, DEPTH, RAM, err, sizeof(err)))
		tl_fatal("plug: %s", err);
	uq = &vm.guest.queues[0];
	q = &uq->q;
	TL_CHECK(tl_vm_rw(&vm, 0, true, 0, 4096, 0) == 4096, "a normal write first");
	tl_daemon_kill(&d);

	/*
	 * What a hostile guest leaves for the next pvfsd: NREC records of
	 * consumed, never completed writes (sq_idx behind sq_head), tag i
	 * writing pattern i to block i; the last one malformed (a reserved
	 * field set, pattern 0xee at block NREC - 1).
	 */
	head = PVFS_READ_ONCE(&q->ctrl->sq_head);
	for (uint32_t tag = 0; tag < NREC; tag++) {
		struct pvfs_sqe sqe = { .opcode = PVFS_OP_WRITE, .tag = (uint16_t)tag, .nr_segs = 1,
					.len = 4096, .offset = 4096ull * tag };
		struct pvfs_seg *seg = pvfs_tag_segs(q, (uint16_t)tag);

		if (tag == NREC - 1)
			sqe.rsvd1 = 1;
		memset(vm.ram + 4096ull * tag, tag == NREC - 1 ? 0xee : (int)tag + 1, 4096);
		seg->addr = tl_vm_gpa(&vm, 4096ull * tag);
		seg->len = 4096;
		seg->rsvd = 0;
		q->inflight[tag].sqe = sqe;
		q->inflight[tag].sq_idx = head - 1;
		q->inflight[tag].state = PVFS_INFLIGHT_ACTIVE;
	}

	pvfs_unplug(vm.plug);
	vm.plug = NULL;
	tl_daemon_start(&d, NULL);
	if (tl_vm_plug(&d, &nb, "nb", "nb.img", 1, 8, RAM, err, sizeof(err)))
		tl_fatal("plug neighbour: %s", err);
	t0 = now_ns();
	if (pvfs_plug(d.sock, "flood", vm.region, vm.mem, 2, &vm.plug, err, sizeof(err)))
		tl_fatal("re-plug: %s", err);

	deadline = t0 + 20000000000ull;
	while (now_ns() < deadline && good + einval + other < NREC) {
		int n = (int)pvfs_uguest_reap(uq, cqes, DEPTH);

		for (int i = 0; i < n; i++) {
			if (cqes[i].result == 4096 && cqes[i].tag < NREC - 1)
				good++;
			else if (cqes[i].result == -EINVAL && cqes[i].tag == NREC - 1)
				einval++;
			else
				other++;
		}
		/* The neighbour does verified round trips meanwhile. */
		if (rounds < 200) {
			uint64_t r0 = now_ns();

			rounds_ok += tl_vm_roundtrip(&nb, 4096ull * (rounds % 64), (uint8_t)rounds) &&
				     now_ns() - r0 < 500000000ull;
			rounds++;
		} else if (!n) {
			pvfs_uguest_wait(uq, 50);
		}
	}
	t1 = now_ns();
	TL_CHECK(good == NREC - 1 && einval == 1 && other == 0,
		 "every record completed once: %d written, %d -EINVAL (want %d, 1), %d other",
		 good, einval, NREC - 1, other);
	TL_CHECK(t1 - t0 >= 800000000ull,
		 "the re-issued requests are paced by the tenant's %d IOPS limit: %d took %.2f s "
		 "(at least ~%.1f s; before the fix, milliseconds)", IOPS, NREC,
		 (double)(t1 - t0) / 1e9, (double)(NREC - IOPS / 10 - 1) / IOPS);
	st = tl_tenant_stats(&d, "flood");
	throttled = st ? (uint64_t)json_integer_value(json_object_get(st, "throttled")) : 0;
	json_decref(st);
	TL_CHECK(throttled > 0, "the limit held the recovery back (throttled %llu)",
		 (unsigned long long)throttled);
	TL_CHECK(rounds > 0 && rounds_ok == rounds,
		 "the neighbour's verified round trips went on, each under 0.5 s (%d of %d)",
		 rounds_ok, rounds);

	/* The writes landed; the malformed one wrote nothing. */
	for (uint32_t tag = 0; tag < NREC; tag++) {
		uint8_t want = tag == NREC - 1 ? 0 : (uint8_t)(tag + 1);

		memset(vm.ram + 512 * 1024, 0x55, 4096);
		if (tl_vm_rw(&vm, 0, false, 4096ull * tag, 4096, 512 * 1024) != 4096 ||
		    vm.ram[512 * 1024] != want || vm.ram[512 * 1024 + 4095] != want) {
			TL_CHECK(0, "block %u holds %#x (want %#x)", tag, vm.ram[512 * 1024], want);
			break;
		}
	}
	tl_vm_unplug(&vm);
	tl_vm_unplug(&nb);
	TL_CHECK(tl_daemon_stop(&d) == 0, "pvfsd exits 0");
	tl_daemon_cleanup(&d);
	return tl_done();
}
