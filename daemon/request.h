/* SPDX-License-Identifier: MIT */
/*
 * request.h - validation and translation of one guest request (request.c):
 * pure functions of private copies, called by the poller, unit-tested and
 * fuzzed on their own.
 */
#ifndef PVFSD_REQUEST_H
#define PVFSD_REQUEST_H

#include <stdint.h>

struct iovec;
struct pvfs_seg;
struct pvfs_sqe;
struct tenant_io;

/*
 * request_prepare - validate a copied SQE and its copied segments against
 * tio, translating segments into iov. Returns 0 or the -errno to complete
 * the request with.
 */
int request_prepare(const struct tenant_io *tio, const struct pvfs_sqe *sqe,
		    const struct pvfs_seg *segs, struct iovec *iov, uint32_t *ret_nr_iov);
/*
 * request_advance_iov - after a short transfer of n more bytes, skip what is
 * done: iov[*pos..nr_iov) then covers exactly the rest (the first entry
 * trimmed in place), for the resubmission of a short read or write.
 */
void request_advance_iov(struct iovec *iov, uint32_t nr_iov, uint32_t *pos, uint32_t n);

#endif
