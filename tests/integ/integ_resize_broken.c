/* SPDX-License-Identifier: MIT */
/*
 * integ_resize_broken - a resize that reaches a tenant while its ring is
 * BROKEN is not lost: after the guest's reset (which repairs the ring and
 * makes it re-read the volume properties) the region shows the new
 * capacity, and I/O beyond the old end works.
 *
 * Regression (found by review): the poller ignored the resize for a
 * tenant in a terminal state (it must not touch the region then), and
 * nothing published it later: after the reset the guest kept the old
 * capacity and requests beyond it failed with -ENOSPC until a re-plug.
 *
 * About 1 s.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tlib.h"
#include "util.h"

#define MiB		(1024u * 1024u)
#define RAM		(1u << 20)
#define DEPTH		8u

static struct tl_daemon d;

static void cleanup(void)
{
	tl_daemon_cleanup(&d);
}

int main(void)
{
	struct tl_vm vm;
	struct pvfs_queue_ctrl *c;
	uint64_t cap = 0, one = 1;
	uint32_t gen = 0;
	char err[512];
	int r;

	atexit(cleanup);
	tl_daemon_start(&d, NULL);
	if (tl_vm_plug(&d, &vm, "g", tl_volume(&d, "g.img", 16 * MiB), 1, DEPTH, RAM, err,
		       sizeof(err)) < 0)
		tl_fatal("plug: %s", err);
	TL_CHECK(tl_vm_roundtrip(&vm, 0, 0x11), "I/O works");

	/* The guest corrupts its ring: BROKEN. */
	c = vm.guest.queues[0].q.ctrl;
	PVFS_STORE_RELEASE(&c->sq_tail, c->sq_head + 4 * DEPTH);
	if (write(vm.guest.queues[0].kick_fd, &one, sizeof(one)) < 0)
		tl_fatal("kick: %m");
	TL_CHECK(tl_vm_host_state_is(&vm, PVFS_HOST_BROKEN, 5000), "the ring is BROKEN");

	r = tl_rpc(&d, "resize", json_pack("{s:s, s:I}", "name", "g", "size",
					   (json_int_t)(24 * MiB)), NULL);
	TL_CHECK(r == 0, "resize to 24 MiB while BROKEN (%d)", r);

	/* The guest resets: READY again, and it re-reads the volume properties. */
	r = pvfs_uguest_reset(&vm.guest, 5000);
	TL_CHECK(r == 0, "the reset is answered (%d)", r);
	TL_CHECK(tl_vm_host_state_is(&vm, PVFS_HOST_READY, 1000), "READY after the reset");
	r = pvfs_uguest_capacity(&vm.guest, &cap, &gen);
	TL_CHECK(r == 0 && cap == 24 * MiB, "the region shows the new capacity (%d, %llu)", r,
		 (unsigned long long)cap);
	TL_CHECK(tl_vm_roundtrip(&vm, 20 * MiB, 0x22), "I/O beyond the old end works");

	tl_vm_unplug(&vm);
	TL_CHECK(tl_daemon_stop(&d) == 0, "pvfsd exits 0");
	return tl_done();
}
