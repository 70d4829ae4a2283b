/* SPDX-License-Identifier: MIT */
/*
 * request.c - validation and translation of one guest request.
 *
 * The caller has already copied the SQE and its segments out of shared
 * memory (no double fetch: the guest may rewrite them at any time), so
 * everything here works on private copies and is a pure function of them and
 * the tenant's validated geometry. Every check names the rule it enforces;
 * the first failing one decides the errno the guest sees:
 *   -EINVAL      malformed: opcode, flags, reserved fields, segment count,
 *                segment outside guest memory, misalignment, length mismatch,
 *                a length above max_io_bytes (READ, WRITE) or
 *                max_discard_bytes (DISCARD, WRITE_ZEROES)
 *   -EROFS       a write-type request on a read-only volume
 *   -ENOSPC      range beyond the volume's capacity (like a block device's
 *                "access beyond end of device", reported distinctly)
 */
#include <errno.h>
#include <string.h>

#include "pvfsd.h"
#include "request.h"

/* translate - guest-physical [gpa, gpa+len) to pvfsd's address, or NULL. */
static void *translate(const struct tenant_io *tio, uint64_t gpa, uint32_t len)
{
	for (uint32_t i = 0; i < tio->nr_mem; i++) {
		const struct guest_mem *m = &tio->mem[i];

		/* Written to avoid overflow: gpa >= m->gpa first, then the length fits. */
		if (gpa >= m->gpa && gpa - m->gpa <= m->size && len <= m->size - (gpa - m->gpa))
			return m->host + (gpa - m->gpa);
	}
	return NULL;
}

static int range_ok(const struct tenant_io *tio, uint64_t off, uint64_t len)
{
	if ((off | len) & (tio->lbs - 1))
		return -EINVAL;
	if (off > tio->capacity || len > tio->capacity - off)
		return -ENOSPC;
	return 0;
}

int request_prepare(const struct tenant_io *tio, const struct pvfs_sqe *sqe,
		    const struct pvfs_seg *segs, struct iovec *iov, uint32_t *ret_nr_iov)
{
	uint64_t total = 0;
	int r;

	if (sqe->opcode >= PVFS_OP_MAX)
		return -EINVAL;
	if (sqe->flags & ~PVFS_SQE_FLAGS_ALL)
		return -EINVAL;
	if (sqe->rsvd0 || sqe->rsvd1 || sqe->rsvd2[0] || sqe->rsvd2[1] || sqe->rsvd2[2] ||
	    sqe->rsvd2[3] || sqe->rsvd2[4])
		return -EINVAL;
	if ((sqe->flags & PVFS_SQE_FUA) && sqe->opcode != PVFS_OP_WRITE)
		return -EINVAL;

	switch (sqe->opcode) {
	case PVFS_OP_FLUSH:
		if (sqe->offset || sqe->len || sqe->nr_segs)
			return -EINVAL;
		*ret_nr_iov = 0;
		return 0;
	case PVFS_OP_DISCARD:
	case PVFS_OP_WRITE_ZEROES:
		if (sqe->nr_segs || !sqe->len)
			return -EINVAL;
		/* The host advertises max_discard_bytes: a guest that asks for more is wrong. */
		if (sqe->len > tio->max_discard_bytes)
			return -EINVAL;
		if (tio->readonly)
			return -EROFS;
		r = range_ok(tio, sqe->offset, sqe->len);
		if (r)
			return r;
		*ret_nr_iov = 0;
		return 0;
	case PVFS_OP_READ:
	case PVFS_OP_WRITE:
		break;
	}

	if (sqe->opcode == PVFS_OP_WRITE && tio->readonly)
		return -EROFS;
	if (!sqe->nr_segs || sqe->nr_segs > tio->max_segs)
		return -EINVAL;
	if (!sqe->len || sqe->len > tio->max_io_bytes)
		return -EINVAL;
	r = range_ok(tio, sqe->offset, sqe->len);
	if (r)
		return r;
	for (uint32_t i = 0; i < sqe->nr_segs; i++) {
		const struct pvfs_seg *s = &segs[i];
		void *host;

		if (s->rsvd || !s->len)
			return -EINVAL;
		/* O_DIRECT needs aligned buffers; buffered I/O does not care. */
		if (tio->direct && ((s->addr | s->len) & (tio->lbs - 1)))
			return -EINVAL;
		host = translate(tio, s->addr, s->len);
		if (!host)
			return -EINVAL;
		iov[i].iov_base = host;
		iov[i].iov_len = s->len;
		total += s->len;
	}
	if (total != sqe->len)
		return -EINVAL;
	*ret_nr_iov = sqe->nr_segs;
	return 0;
}

void request_advance_iov(struct iovec *iov, uint32_t nr_iov, uint32_t *pos, uint32_t n)
{
	while (n && *pos < nr_iov) {
		struct iovec *v = &iov[*pos];

		if (n >= v->iov_len) {
			n -= (uint32_t)v->iov_len;
			(*pos)++;
		} else {
			v->iov_base = (char *)v->iov_base + n;
			v->iov_len -= n;
			n = 0;
		}
	}
}
