/* SPDX-License-Identifier: MIT */
/*
 * integ_badreq - a guest that sends garbage. Every kind of malformed
 * request completes with its errno while the tenant goes on serving good
 * requests (checked with data round trips); a corrupt ring (tail jumped
 * past the depth, a tag out of range) marks only that tenant BROKEN, in
 * its region header and in stats, while a neighbour keeps doing I/O; a
 * fresh plug of the broken tenant works again.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tlib.h"
#include "util.h"

#define RAM (1u << 20)

static struct tl_daemon d;

struct bad {
	const char *what;
	struct pvfs_sqe sqe;
	struct pvfs_seg seg[2];
	unsigned nsegs;
	int err;
};

int main(void)
{
	struct tl_vm good, evil;
	char err[512];
	const uint64_t cap = 8u << 20;
	struct bad bads[] = {
		{ "unknown opcode", { .opcode = 9, .len = 4096, .nr_segs = 1 },
		  { { .addr = 0, .len = 4096 } }, 1, -EINVAL },
		{ "unknown flag", { .opcode = PVFS_OP_WRITE, .flags = 0x40, .len = 4096, .nr_segs = 1 },
		  { { .addr = 0, .len = 4096 } }, 1, -EINVAL },
		{ "FUA on read", { .opcode = PVFS_OP_READ, .flags = PVFS_SQE_FUA, .len = 4096,
		  .nr_segs = 1 }, { { .addr = 0, .len = 4096 } }, 1, -EINVAL },
		{ "reserved field set", { .opcode = PVFS_OP_READ, .len = 4096, .nr_segs = 1,
		  .rsvd2 = { 0, 0, 7 } }, { { .addr = 0, .len = 4096 } }, 1, -EINVAL },
		{ "no segments", { .opcode = PVFS_OP_READ, .len = 4096, .nr_segs = 0 },
		  { { .addr = 0, .len = 4096 } }, 0, -EINVAL },
		{ "more segments than max_segs", { .opcode = PVFS_OP_READ, .len = 4096, .nr_segs = 200 },
		  { { .addr = 0, .len = 4096 } }, 1, -EINVAL },
		{ "length != sum of segments", { .opcode = PVFS_OP_READ, .len = 8192, .nr_segs = 1 },
		  { { .addr = 0, .len = 4096 } }, 1, -EINVAL },
		{ "misaligned offset", { .opcode = PVFS_OP_READ, .offset = 7, .len = 4096, .nr_segs = 1 },
		  { { .addr = 0, .len = 4096 } }, 1, -EINVAL },
		{ "misaligned buffer", { .opcode = PVFS_OP_READ, .len = 4096, .nr_segs = 1 },
		  { { .addr = 3, .len = 4096 } }, 1, -EINVAL },
		{ "segment outside guest RAM", { .opcode = PVFS_OP_WRITE, .len = 4096, .nr_segs = 1 },
		  { { .addr = 1ull << 40, .len = 4096 } }, 1, -EINVAL },
		{ "segment across the RAM hole", { .opcode = PVFS_OP_WRITE, .len = 8192, .nr_segs = 1 },
		  { { .addr = RAM / 2 - 4096, .len = 8192 } }, 1, -EINVAL },
		{ "beyond capacity", { .opcode = PVFS_OP_READ, .offset = 8u << 20, .len = 4096,
		  .nr_segs = 1 }, { { .addr = 0, .len = 4096 } }, 1, -ENOSPC },
		{ "flush with a length", { .opcode = PVFS_OP_FLUSH, .len = 512 }, { { .addr = 0 } }, 0, -EINVAL },
		{ "discard past the end", { .opcode = PVFS_OP_DISCARD, .offset = (8u << 20) - 4096,
		  .len = 8192 }, { { .addr = 0 } }, 0, -ENOSPC },
	};
	json_t *st;
	int r;

	tl_daemon_start(&d, NULL);
	tl_volume(&d, "good.img", cap);
	tl_volume(&d, "evil.img", cap);
	if (tl_vm_plug(&d, &good, "good", "good.img", 1, 16, RAM, err, sizeof(err)) ||
	    tl_vm_plug(&d, &evil, "evil", "evil.img", 1, 16, RAM, err, sizeof(err)))
		tl_fatal("plug: %s", err);
	TL_CHECK(tl_vm_roundtrip(&evil, 0, 0x11), "evil: a good request works first");

	for (size_t i = 0; i < ARRAY_SIZE(bads); i++) {
		r = tl_vm_io(&evil, 0, &bads[i].sqe, bads[i].seg, bads[i].nsegs, 5000);
		TL_CHECK(r == bads[i].err, "%s completes with %d (want %d)", bads[i].what, r,
			 bads[i].err);
		TL_CHECK(tl_vm_roundtrip(&evil, 4096 * (i + 1), (uint8_t)i), "... and the tenant goes on");
	}
	r = tl_vm_io(&evil, 0, &(struct pvfs_sqe){ .opcode = PVFS_OP_FLUSH }, NULL, 0, 5000);
	TL_CHECK(r == 0, "flush completes with 0 (got %d)", r);
	r = tl_vm_io(&evil, 0, &(struct pvfs_sqe){ .opcode = PVFS_OP_WRITE_ZEROES, .offset = 4096,
		     .len = 4096 }, NULL, 0, 5000);
	memset(evil.ram + 8192, 0xff, 4096);
	TL_CHECK(r == 0 && tl_vm_rw(&evil, 0, false, 4096, 4096, 8192) == 4096 &&
		 evil.ram[8192] == 0 && evil.ram[8192 + 4095] == 0, "write-zeroes zeroes the block");
	r = tl_vm_io(&evil, 0, &(struct pvfs_sqe){ .opcode = PVFS_OP_DISCARD, .offset = 8192,
		     .len = 4096 }, NULL, 0, 5000);
	TL_CHECK(r == 0, "discard completes with 0 (got %d)", r);

	/*
	 * Someone shrinks the volume file under the tenant: the read of the
	 * last block comes back short (2 KiB), the poller continues it, gets
	 * no progress at the new end of file, and fails it with -EIO.
	 */
	{
		char path[600];

		snprintf(path, sizeof(path), "%s/evil.img", d.vols);
		if (truncate(path, (off_t)cap - 2048) < 0)
			tl_fatal("truncate: %m");
		r = tl_vm_rw(&evil, 0, false, cap - 4096, 4096, 0);
		TL_CHECK(r == -EIO, "read across a shrunk volume's end: short, continued, -EIO (%d)", r);
		r = tl_vm_rw(&evil, 0, false, cap - 8192, 4096, 0);
		TL_CHECK(r == 4096, "the block before the new end still reads (%d)", r);
		if (truncate(path, (off_t)cap) < 0)
			tl_fatal("truncate: %m");
		TL_CHECK(tl_vm_roundtrip(&evil, cap - 4096, 0x42),
			 "... and with its size back, the last block works");
	}

	st = tl_tenant_stats(&d, "evil");
	TL_CHECK(json_integer_value(json_object_get(st, "invalid")) == (json_int_t)ARRAY_SIZE(bads),
		 "stats count %lld invalid requests (want %zu)",
		 (long long)json_integer_value(json_object_get(st, "invalid")), ARRAY_SIZE(bads));
	TL_CHECK(!strcmp(json_string_value(json_object_get(st, "state")), "running"),
		 "evil is still running");
	json_decref(st);

	/* Corruption: the SQ tail jumps far beyond the depth. */
	{
		struct pvfs_queue *q = &evil.guest.queues[0].q;

		PVFS_STORE_RELEASE(&q->ctrl->sq_tail, q->ctrl->sq_tail + 1000);
	}
	TL_CHECK(tl_vm_host_state_is(&evil, PVFS_HOST_BROKEN, 5000), "corrupt tail: region says BROKEN");
	TL_CHECK(tl_wait_state(&d, "evil", "broken", 5000), "corrupt tail: stats say broken");
	st = tl_tenant_stats(&d, "evil");
	TL_CHECK(!strcmp(json_string_value(json_object_get(st, "broken_reason")) ?: "",
			 "submission tail beyond queue depth"),
		 "stats give the reason: %s", json_string_value(json_object_get(st, "broken_reason")));
	json_decref(st);
	{
		char out[600], *argv[] = { (char *)tl_bin("pvfsctl"), "-s", d.sock, "list", NULL };
		char text[4096] = "";
		FILE *f;

		snprintf(out, sizeof(out), "%s/list.out", d.dir);
		TL_CHECK(tl_run(argv, out, 10000) == 0, "pvfsctl list exits 0");
		f = fopen(out, "r");
		if (f) {
			text[fread(text, 1, sizeof(text) - 1, f)] = '\0';
			fclose(f);
		}
		TL_CHECK(strstr(text, "evil is broken: submission tail beyond queue depth.") != NULL,
			 "pvfsctl list says why evil is broken");
	}
	TL_CHECK(tl_vm_roundtrip(&good, 0, 0x5a) && tl_vm_roundtrip(&good, 65536, 0xa5),
		 "the neighbour keeps doing I/O");
	TL_CHECK(tl_wait_state(&d, "good", "running", 1000), "the neighbour is running");

	/* A fresh plug brings the tenant back. */
	tl_vm_unplug(&evil);
	TL_CHECK(tl_wait_state(&d, "evil", "unplugged", 5000), "broken tenant unplugs");
	if (tl_vm_plug(&d, &evil, "evil", NULL, 1, 16, RAM, err, sizeof(err)))
		tl_fatal("re-plug: %s", err);
	TL_CHECK(tl_vm_roundtrip(&evil, 0, 0x77), "re-plugged tenant works again");
	st = tl_tenant_stats(&d, "evil");
	TL_CHECK(!json_object_get(st, "broken_reason"), "... and has no broken_reason");
	json_decref(st);

	/* Corruption: a tag beyond the depth. */
	{
		struct pvfs_uguest_queue *uq = &evil.guest.queues[0];
		struct pvfs_sqe *s = &uq->q.sq[uq->sq_tail & uq->q.mask];

		memset(s, 0, sizeof(*s));
		s->opcode = PVFS_OP_FLUSH;
		s->tag = 999;
		uq->sq_tail++;
		pvfs_uguest_commit(uq);
	}
	TL_CHECK(tl_vm_host_state_is(&evil, PVFS_HOST_BROKEN, 5000), "tag out of range: BROKEN");
	TL_CHECK(tl_wait_state(&d, "evil", "broken", 5000), "tag out of range: stats say broken");
	st = tl_tenant_stats(&d, "evil");
	TL_CHECK(!strcmp(json_string_value(json_object_get(st, "broken_reason")) ?: "",
			 "tag out of range"), "stats give the reason: %s",
		 json_string_value(json_object_get(st, "broken_reason")));
	json_decref(st);
	TL_CHECK(tl_vm_roundtrip(&good, 4096, 0x3c), "the neighbour still does I/O");

	tl_vm_unplug(&evil);
	tl_vm_unplug(&good);
	TL_CHECK(tl_daemon_stop(&d) == 0, "pvfsd exits 0");
	tl_daemon_cleanup(&d);
	return tl_done();
}
