/* SPDX-License-Identifier: MIT */
/*
 * integ_discard_limit - DISCARD and WRITE_ZEROES obey the limits (issue 8,
 * item 8). pvfsd advertises max_discard_bytes (1 GiB) but accepted 4 GiB,
 * and charged both operations 0 bytes, so a tenant's bytes/s limit did
 * not apply to them: on a block device, zeroing is real write bandwidth
 * taken from the neighbours. Now a longer request completes with -EINVAL
 * (and touches nothing), and each is charged its length: eight 1 MiB
 * write-zeroes of a tenant limited to 4 MiB/s take about two seconds and
 * the throttle counter moves.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tlib.h"
#include "util.h"

#define RAM	(1u << 20)
#define BPS	(4u << 20)

int main(void)
{
	struct tl_daemon d = { 0 };
	struct tl_vm vm;
	char err[512];
	uint64_t t0, dt, max_discard;
	int r, ok = 0;
	json_t *st;

	tl_daemon_start(&d, NULL);
	tl_volume(&d, "v.img", 4ull << 30);	/* sparse */
	if (tl_rpc(&d, "attach", json_pack("{s:s, s:s, s:i}", "name", "z", "volume", "v.img",
					   "bps_limit", BPS), NULL))
		tl_fatal("attach");
	if (tl_vm_plug(&d, &vm, "z", NULL, 1, 16, RAM, err, sizeof(err)))
		tl_fatal("plug: %s", err);
	max_discard = pvfs_region_hdr(vm.region)->max_discard_bytes;
	TL_CHECK(max_discard == 1u << 30, "the host advertises max_discard_bytes 1 GiB (%llu)",
		 (unsigned long long)max_discard);

	r = tl_vm_io(&vm, 0, &(struct pvfs_sqe){ .opcode = PVFS_OP_DISCARD, .len = 0,
		     .offset = 0 }, NULL, 0, 5000);
	TL_CHECK(r == -EINVAL, "a zero-length discard is -EINVAL (%d)", r);
	/* Above the limit: refused (the limit is 2^30, a u32 length can say 4 GiB - 4 KiB). */
	r = tl_vm_io(&vm, 0, &(struct pvfs_sqe){ .opcode = PVFS_OP_DISCARD, .offset = 0,
		     .len = (uint32_t)max_discard + 4096 }, NULL, 0, 5000);
	TL_CHECK(r == -EINVAL, "a discard of max_discard_bytes + 4 KiB is -EINVAL (%d)", r);
	r = tl_vm_io(&vm, 0, &(struct pvfs_sqe){ .opcode = PVFS_OP_WRITE_ZEROES, .offset = 0,
		     .len = 0xfffff000u }, NULL, 0, 5000);
	TL_CHECK(r == -EINVAL, "a write-zeroes of ~4 GiB is -EINVAL (%d)", r);

	/* Charged by length: 8 MiB of zeroing at 4 MiB/s (burst 0.1 s) takes ~1.9 s. */
	t0 = now_ns();
	for (int i = 0; i < 8; i++)
		ok += tl_vm_io(&vm, 0, &(struct pvfs_sqe){ .opcode = PVFS_OP_WRITE_ZEROES,
			       .offset = (1ull << 20) * (uint64_t)i, .len = 1u << 20 }, NULL, 0,
			       10000) == 0;
	dt = now_ns() - t0;
	TL_CHECK(ok == 8, "eight 1 MiB write-zeroes complete (%d)", ok);
	TL_CHECK(dt >= 1500000000ull,
		 "they are paced by the 4 MiB/s limit: %.2f s (want >= 1.5 s; before the fix, "
		 "milliseconds)", (double)dt / 1e9);
	st = tl_tenant_stats(&d, "z");
	TL_CHECK(st && json_integer_value(json_object_get(st, "throttled")) > 0,
		 "the throttle counter moved (%lld)",
		 st ? (long long)json_integer_value(json_object_get(st, "throttled")) : -1);
	json_decref(st);
	/* Exactly the limit is fine (and charged: done last, so its wait ends the test). */
	r = tl_vm_io(&vm, 0, &(struct pvfs_sqe){ .opcode = PVFS_OP_DISCARD, .offset = 0,
		     .len = 1u << 20 }, NULL, 0, 10000);
	TL_CHECK(r == 0, "a 1 MiB discard completes (%d)", r);

	tl_vm_unplug(&vm);
	TL_CHECK(tl_daemon_stop(&d) == 0, "pvfsd exits 0");
	tl_daemon_cleanup(&d);
	return tl_done();
}
