/* SPDX-License-Identifier: MIT */
/*
 * integ_resize - online resize (issue 11, item 6; pvfs_ring.h "Volume
 * properties", PVFS_F_RESIZE): the resize method grows a running tenant's
 * file volume and the guest sees the new capacity without a re-plug: the
 * region's capacity under a new even config_generation, announced by an
 * interrupt on queue 0 (also while queue 0 asks for none), and I/O beyond
 * the old end, refused with -ENOSPC before, now works with verified data.
 * Shrinking is refused, and a resize while no VM is plugged shows at the
 * next plug. Before, there was no way to grow a volume short of detaching.
 * About 1 s.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "tlib.h"
#include "util.h"

#define RAM	(1u << 20)
#define MiB	(1u << 20)

static struct tl_daemon d;

static int resize(const char *name, uint64_t size, json_t **ret)
{
	return tl_rpc(&d, "resize", json_pack("{s:s, s:I}", "name", name, "size",
					      (json_int_t)size), ret);
}

int main(void)
{
	struct pvfs_uguest_queue *uq;
	struct tl_vm vm;
	char err[512], path[600];
	uint64_t cap0 = 0, cap1 = 0, cap2 = 0;
	uint32_t gen0 = 0, gen1 = 0, gen2 = 0;
	json_t *res = NULL;
	struct stat st;
	int r;

	tl_daemon_start(&d, NULL);
	if (tl_vm_plug(&d, &vm, "g", tl_volume(&d, "g.img", 16 * MiB), 2, 8, RAM, err,
		       sizeof(err)) < 0)
		tl_fatal("plug: %s", err);
	uq = &vm.guest.queues[0];
	TL_CHECK(pvfs_region_hdr(vm.region)->host_features & PVFS_F_RESIZE,
		 "a file volume offers PVFS_F_RESIZE");
	r = pvfs_uguest_capacity(&vm.guest, &cap0, &gen0);
	TL_CHECK(r == 0 && cap0 == 16 * MiB && !(gen0 & 1), "the guest reads 16 MiB at an even config_generation (%u)", gen0);
	TL_CHECK(tl_vm_rw(&vm, 1, true, 20 * MiB, 4096, 0) == -ENOSPC,
		 "a write beyond the end is refused with -ENOSPC");
	while (pvfs_uguest_wait(uq, 0) > 0)
		;	/* no interrupt pending on queue 0 from before */

	r = resize("g", 24 * MiB, &res);
	TL_CHECK(r == 0 && res && json_integer_value(json_object_get(res, "capacity")) ==
		 24 * MiB, "resize to 24 MiB (%d)", r);
	json_decref(res);
	TL_CHECK(pvfs_uguest_wait(uq, 5000) == 1, "an interrupt on queue 0 announces it");
	r = pvfs_uguest_capacity(&vm.guest, &cap1, &gen1);
	TL_CHECK(r == 0 && cap1 == 24 * MiB && gen1 != gen0 && !(gen1 & 1),
		 "the guest sees 24 MiB at a new even config_generation (%llu, %u -> %u)",
		 (unsigned long long)cap1, gen0, gen1);
	snprintf(path, sizeof(path), "%s/g.img", d.vols);
	TL_CHECK(stat(path, &st) == 0 && st.st_size == 24 * MiB, "the file is 24 MiB");
	memset(vm.ram, 0x5a, 4096);
	TL_CHECK(tl_vm_rw(&vm, 1, true, 20 * MiB, 4096, 0) == 4096 &&
		 tl_vm_rw(&vm, 1, false, 20 * MiB, 4096, 8192) == 4096 &&
		 !memcmp(vm.ram, vm.ram + 8192, 4096),
		 "I/O beyond the old end works, data verified");

	/* Queue 0 polled (NO_INTERRUPT): the config interrupt comes all the same. */
	pvfs_uguest_set_polling(uq, 1);
	TL_CHECK(resize("g", 32 * MiB, NULL) == 0, "resize to 32 MiB");
	TL_CHECK(pvfs_uguest_wait(uq, 5000) == 1, "queue 0 is interrupted though it polls");
	TL_CHECK(pvfs_uguest_capacity(&vm.guest, &cap2, &gen2) == 0 && cap2 == 32 * MiB,
		 "the guest sees 32 MiB");
	pvfs_uguest_set_polling(uq, 0);

	TL_CHECK(resize("g", 8 * MiB, NULL) == -EINVAL, "shrinking is refused");
	TL_CHECK(resize("g", 32 * MiB + 100, NULL) == -EINVAL, "an unaligned size is refused");
	TL_CHECK(resize("g", 32 * MiB, NULL) == 0, "the same size is a no-op");
	TL_CHECK(pvfs_uguest_capacity(&vm.guest, &cap2, &gen1) == 0 && gen1 == gen2,
		 "and does not move config_generation");

	/* Unplugged: the next plug publishes the new size. */
	tl_vm_unplug(&vm);
	TL_CHECK(tl_wait_state(&d, "g", "unplugged", 5000), "unplugged");
	TL_CHECK(resize("g", 40 * MiB, NULL) == 0, "resize while unplugged");
	if (tl_vm_plug(&d, &vm, "g", NULL, 1, 8, RAM, err, sizeof(err)) < 0)
		tl_fatal("re-plug: %s", err);
	TL_CHECK(pvfs_uguest_capacity(&vm.guest, &cap2, &gen2) == 0 && cap2 == 40 * MiB,
		 "the next plug shows 40 MiB");
	tl_vm_unplug(&vm);
	return tl_done();
}
