/* SPDX-License-Identifier: MIT */
/*
 * file.c - the local backend: a raw file or block device, served with the
 * poller's own io_uring (O_DIRECT by default, registered as a fixed file).
 * READ/WRITE are read/write for one segment, readv/writev for more
 * (RWF_DSYNC for FUA), FLUSH is fdatasync, DISCARD punches a hole,
 * WRITE_ZEROES zeroes a range. The completion is
 * the io_uring CQE itself: no hop through a list, the same cost as before
 * backends existed. Opened and resized on the control thread; bind, submit,
 * cancel and unbind run on the tenant's poller.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "backend.h"
#include "devkey.h"
#include "pvfs_ring.h"
#include "util.h"

struct file_backend {
	struct backend b;
	int fd;
	int slot;			/* fixed-file slot in the bound poller's ring; -1 unbound */
	bool is_bdev;
	bool force_async;		/* IOSQE_ASYNC: the file system blocks despite NOWAIT */
};

#define FUSE_SUPER_MAGIC	0x65735546

/*
 * blocks_despite_nowait - true for a file system whose reads and writes can
 * block in the submitting thread although io_uring asked for a non-blocking
 * attempt. FUSE's direct I/O (O_DIRECT, cache=none) waits for the FUSE
 * server inside io_uring_enter: the poller itself would stop, and every
 * tenant it serves with it, for as long as the server takes (seen with a
 * held read in tests/integ/slowfs.py). Such a volume's requests go straight
 * to io-wq (IOSQE_ASYNC), where only they wait.
 */
static bool blocks_despite_nowait(int fd)
{
	struct statfs sfs;

	return fstatfs(fd, &sfs) == 0 && (unsigned long)sfs.f_type == FUSE_SUPER_MAGIC;
}

#define FB(b) container_of(b, struct file_backend, b)

/*
 * prep_data - a READ or WRITE: one segment (most requests) as op1, which
 * spares the kernel copying and checking an iovec array from user memory on
 * each submit; more as the vectored opv.
 */
static void prep_data(struct io_uring_sqe *sqe, int slot, const struct backend_io *io,
		      int op1, int opv)
{
	if (io->nr_iov == 1)
		io_uring_prep_rw(op1, sqe, slot, io->iov[0].iov_base,
				 (unsigned)io->iov[0].iov_len, io->offset);
	else
		io_uring_prep_rw(opv, sqe, slot, io->iov, io->nr_iov, io->offset);
}

static int file_submit(struct backend *b, struct backend_io *io)
{
	struct file_backend *fb = FB(b);
	struct io_uring_sqe *sqe = b->host->get_sqe(b->host);

	if (unlikely(!sqe))
		return -EAGAIN;
	switch (io->op) {
	case PVFS_OP_READ:
		prep_data(sqe, fb->slot, io, IORING_OP_READ, IORING_OP_READV);
		break;
	case PVFS_OP_WRITE:
		prep_data(sqe, fb->slot, io, IORING_OP_WRITE, IORING_OP_WRITEV);
		sqe->rw_flags = io->fua ? RWF_DSYNC : 0;
		break;
	case PVFS_OP_FLUSH:
		io_uring_prep_fsync(sqe, fb->slot, IORING_FSYNC_DATASYNC);
		break;
	case PVFS_OP_DISCARD:
		io_uring_prep_fallocate(sqe, fb->slot, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					(off_t)io->offset, io->len);
		break;
	case PVFS_OP_WRITE_ZEROES:
		io_uring_prep_fallocate(sqe, fb->slot, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
					(off_t)io->offset, io->len);
		break;
	}
	sqe->flags |= IOSQE_FIXED_FILE | (fb->force_async ? IOSQE_ASYNC : 0);
	io_uring_sqe_set_data64(sqe, io->ud);
	return 0;
}

static int file_bind(struct backend *b, struct backend_host *h)
{
	struct file_backend *fb = FB(b);
	int slot = h->register_file(h, fb->fd);

	if (slot < 0)
		return slot;
	fb->slot = slot;
	b->host = h;
	return 0;
}

/*
 * file_cancel - ask io_uring to cancel every operation on the volume.
 * Operations already in a device cannot be cancelled and still complete;
 * either way each one posts its CQE.
 */
static void file_cancel(struct backend *b)
{
	struct file_backend *fb = FB(b);
	struct io_uring_sqe *sqe = b->host->get_sqe(b->host);

	if (!sqe)
		return;
	io_uring_prep_cancel_fd(sqe, fb->slot, IORING_ASYNC_CANCEL_ALL | IORING_ASYNC_CANCEL_FD_FIXED);
	io_uring_sqe_set_data64(sqe, b->host->ud_ignore);
}

static bool file_unbind(struct backend *b)
{
	struct file_backend *fb = FB(b);

	b->host->unregister_file(b->host, fb->slot);
	fb->slot = -1;
	b->host = NULL;
	return true;
}

/*
 * file_resize - a regular file is truncated (grown or shrunk) to size; a
 * block device's size is only re-read (size 0: it grew underneath, e.g. an
 * LVM volume the operator extended). Never below one block.
 */
static int file_resize(struct backend *b, uint64_t size, uint64_t *ret_capacity, char *err,
		       size_t errlen)
{
	struct file_backend *fb = FB(b);
	uint64_t cap;
	struct stat st;

	if (fb->is_bdev) {
		if (size) {
			snprintf(err, errlen, "a block device's size is set by its owner (LVM, "
				 "the disk); grow it there and resize without a size");
			return -EINVAL;
		}
		if (ioctl(fb->fd, BLKGETSIZE64, &cap) < 0) {
			snprintf(err, errlen, "cannot read the block device's size: %m");
			return -errno;
		}
	} else {
		if (size && (b->info.features & BACKEND_F_RO)) {
			snprintf(err, errlen, "the volume is read-only");
			return -EROFS;
		}
		if (size && ftruncate(fb->fd, (off_t)size) < 0) {
			snprintf(err, errlen, "cannot resize the volume file: %m");
			return -errno;
		}
		if (fstat(fb->fd, &st) < 0) {
			snprintf(err, errlen, "cannot stat the volume file: %m");
			return -errno;
		}
		cap = (uint64_t)st.st_size;
	}
	cap &= ~(uint64_t)(b->info.lbs - 1);
	if (!cap) {
		snprintf(err, errlen, "the volume would be empty");
		return -EINVAL;
	}
	__atomic_store_n(&b->info.capacity, cap, __ATOMIC_RELAXED);
	*ret_capacity = cap;
	return 0;
}

static void file_stats(const struct backend *b, struct backend_stats *st)
{
	*st = (struct backend_stats){ 0 };
}

static void file_close(struct backend *b)
{
	struct file_backend *fb = FB(b);

	close(fb->fd);
	free(fb);
}

static const struct backend_ops file_ops = {
	.kind = "file",
	.close = file_close,
	.resize = file_resize,
	.stats = file_stats,
	.bind = file_bind,
	.submit = file_submit,
	.cancel = file_cancel,
	.unbind = file_unbind,
};

int file_backend_open(int fd, const struct file_params *fp, struct backend **ret,
		      char *err, size_t errlen)
{
	struct file_backend *fb = calloc(1, sizeof(*fb));

	if (!fb) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	fb->b.ops = &file_ops;
	fb->fd = fd;
	fb->slot = -1;
	fb->is_bdev = fp->is_bdev;
	fb->force_async = !fp->is_bdev && blocks_despite_nowait(fd);
	fb->b.info = (struct backend_info){
		.capacity = fp->capacity,
		.lbs = fp->lbs,
		.pbs = fp->pbs,
		.features = BACKEND_F_FLUSH | BACKEND_F_FUA | BACKEND_F_DISCARD |
			    BACKEND_F_WRITE_ZEROES | BACKEND_F_RESIZE |
			    (fp->readonly ? BACKEND_F_RO : 0),
		.direct = fp->direct,
	};
	dev_domain_key(fp->dev, fb->b.info.domain, sizeof(fb->b.info.domain));
	*ret = &fb->b;
	return 0;
}
