/* SPDX-License-Identifier: MIT */
/*
 * region.c - create a VM's ring region: a sealed memfd laid out as
 * proto/pvfs_ring.h describes, plus one kick and one call eventfd per queue.
 * The creator writes the geometry once; everything else is written by the
 * host (pvfsd) or the guest.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pvfs_shim.h"
#include "util.h"

struct pvfs_region_hdr *pvfs_region_hdr(const struct pvfs_region *r)
{
	return r->base;
}

void pvfs_region_free(struct pvfs_region *r)
{
	if (!r)
		return;
	for (unsigned i = 0; i < PVFS_MAX_QUEUES; i++) {
		if (r->kick_fd[i] >= 0)
			close(r->kick_fd[i]);
		if (r->call_fd[i] >= 0)
			close(r->call_fd[i]);
	}
	if (r->base && r->base != MAP_FAILED)
		munmap(r->base, r->size);
	if (r->memfd >= 0)
		close(r->memfd);
	free(r);
}

int pvfs_region_create(const struct pvfs_region_params *p, struct pvfs_region **ret)
{
	struct pvfs_region *r;
	struct pvfs_region_hdr *h;
	uint64_t size, stride;
	int err;

	if (p->nr_queues < 1 || p->nr_queues > PVFS_MAX_QUEUES || !is_pow2(p->depth) ||
	    p->depth < 2 || p->depth > PVFS_MAX_DEPTH || p->max_segs < 1 ||
	    p->max_segs > PVFS_MAX_SEGS)
		return -EINVAL;
	stride = pvfs_queue_stride(p->depth, p->max_segs);
	size = pvfs_region_size(p->nr_queues, p->depth, p->max_segs);
	/*
	 * QEMU's ivshmem needs a power-of-two BAR. The memfd is sparse, so the
	 * rounding costs address space, not memory.
	 */
	while (!is_pow2(size))
		size += size & -size;

	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->memfd = -1;
	for (unsigned i = 0; i < PVFS_MAX_QUEUES; i++)
		r->kick_fd[i] = r->call_fd[i] = -1;
	r->size = size;
	r->nr_queues = p->nr_queues;
	r->depth = p->depth;
	r->max_segs = p->max_segs;

	r->memfd = memfd_create("pvfs-region", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (r->memfd < 0)
		goto fail_errno;
	if (ftruncate(r->memfd, (off_t)size) < 0)
		goto fail_errno;
	/* The host maps exactly region_size: forbid the size from changing under it. */
	if (fcntl(r->memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		goto fail_errno;
	r->base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, r->memfd, 0);
	if (r->base == MAP_FAILED) {
		r->base = NULL;
		goto fail_errno;
	}
	for (unsigned i = 0; i < p->nr_queues; i++) {
		r->kick_fd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		r->call_fd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (r->kick_fd[i] < 0 || r->call_fd[i] < 0)
			goto fail_errno;
	}

	h = r->base;
	h->abi_version = PVFS_ABI_VERSION;
	h->region_size = size;
	h->nr_queues = p->nr_queues;
	h->queue_depth = p->depth;
	h->max_segs = p->max_segs;
	h->queue_stride = (uint32_t)stride;
	h->doorbell_peer = p->doorbell_peer;
	/* The magic last: a reader that sees it sees complete geometry. */
	PVFS_STORE_RELEASE(&h->magic, PVFS_MAGIC);
	*ret = r;
	return 0;

fail_errno:
	err = -errno;
	pvfs_region_free(r);
	return err;
}
