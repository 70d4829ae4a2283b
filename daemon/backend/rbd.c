/* SPDX-License-Identifier: MIT */
/*
 * rbd.c - the Ceph RBD backend: a volume is an RBD image (or a snapshot of
 * one, read-only), served with librbd's asynchronous API.
 *
 * Threads. rbd_backend_open (attach), resize and close run on the control
 * thread and may block for as long as the cluster takes, bounded by the
 * timeouts set below: connecting, opening the image and taking its
 * exclusive lock. On the poller, submit only queues: librbd hands each
 * request to its own threads (rbd_non_blocking_aio, forced on here) and
 * finishes it there. A finished request is queued inside librbd and our
 * eventfd is written (rbd_set_image_notification); the poller watches that
 * eventfd through its io_uring, and on the poller thread rbd_poll_io_events
 * takes the completions out and hands them to the request path. No call on
 * the poller blocks, and no thread of ours is added.
 *
 * Exclusive lock. Two hosts writing one image corrupt it, so a read-write
 * volume is opened with the image's exclusive lock held by pvfsd (in
 * librbd's "managed" exclusive mode: never handed over to another client
 * that asks for it) until detach. An image locked by another client is
 * refused (attach --force breaks that lock and blocklists its owner: the
 * operator's decision that the other host is dead). Snapshots and
 * read-only volumes take no lock.
 *
 * Cache. cache=none turns librbd's cache off: a write is durable when it
 * completes, so FUA is native. cache=writeback turns it on: a FUA write is
 * followed by a flush before it completes.
 */
#include <errno.h>
#include <poll.h>
#include <rbd/librbd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "backend.h"
#include "log.h"
#include "pvfs_ring.h"
#include "util.h"

#define RBD_MAX_OWNERS	8

struct rbd_backend {
	struct backend b;
	rados_t cluster;
	rados_ioctx_t ioctx;
	rbd_image_t image;
	int efd;			/* librbd writes it when a completion is queued */
	struct backend_watch watch;	/* the poller's poll of efd */
	bool unbinding;			/* poller: do not re-arm the watch */
	bool writeback;			/* librbd's cache is on: FUA needs a flush */
	bool locked;			/* we hold the exclusive lock */
	bool watching;			/* update_handle is registered */
	uint64_t update_handle;		/* rbd_update_watch: header changes (a resize) */
	uint64_t inflight;		/* stat: submitted, not completed (poller writes) */
	uint64_t errors;		/* stat: operations failed (poller writes) */
};

#define RB(x) container_of(x, struct rbd_backend, b)

/* A FUA write in writeback mode: the write is done, its flush is out. */
#define STAGE_FUA_FLUSH 1

static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return code;
}

/* A name Ceph would take for a pool, image or snapshot, and that cannot hide a separator. */
static bool name_ok(const char *s, size_t n)
{
	if (!n || n > RBD_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] == 0x7f || s[i] == '/' || s[i] == '@')
			return false;
	return true;
}

int rbd_spec_parse(const char *volume, struct rbd_spec *ret)
{
	const char *p, *slash, *at;
	struct rbd_spec s = { 0 };

	if (strncmp(volume, "rbd:", 4))
		return -EINVAL;
	p = volume + 4;
	slash = strchr(p, '/');
	if (!slash)
		return -EINVAL;
	at = strchr(slash + 1, '@');
	if (!name_ok(p, (size_t)(slash - p)))
		return -EINVAL;
	memcpy(s.pool, p, (size_t)(slash - p));
	p = slash + 1;
	if (!name_ok(p, at ? (size_t)(at - p) : strlen(p)))
		return -EINVAL;
	memcpy(s.image, p, at ? (size_t)(at - p) : strlen(p));
	if (at) {
		if (!name_ok(at + 1, strlen(at + 1)))
			return -EINVAL;
		memcpy(s.snap, at + 1, strlen(at + 1));
	}
	*ret = s;
	return 0;
}

/* ---- data plane (poller thread) ---- */

static void arm(struct rbd_backend *rb)
{
	if (rb->unbinding || rb->watch.armed)
		return;
	/* io_uring full: try again at the end of this pass. */
	if (rb->b.host->watch(rb->b.host, &rb->watch) < 0)
		backend_want_pass(&rb->b);
}

static void done(struct rbd_backend *rb, struct backend_io *io, int32_t res)
{
	stat_add(&rb->inflight, (uint64_t)-1);
	if (res < 0)
		stat_add(&rb->errors, 1);
	rb->b.host->complete(rb->b.host, io, res);
}

/* finish - one completion librbd handed back: the result, or the flush of a FUA write. */
static void finish(struct rbd_backend *rb, rbd_completion_t c)
{
	struct backend_io *io = rbd_aio_get_arg(c);
	ssize_t r = rbd_aio_get_return_value(c);

	rbd_aio_release(c);
	if (r < 0) {
		/* rbd_timeout passed (rados_osd_op_timeout): to the guest an I/O error. */
		done(rb, io, r == -ETIMEDOUT ? -EIO : (int32_t)r);
		return;
	}
	if (io->op == PVFS_OP_WRITE && io->fua && rb->writeback &&
	    io->priv.stage != STAGE_FUA_FLUSH) {
		io->priv.stage = STAGE_FUA_FLUSH;
		if (rbd_aio_create_completion(io, NULL, &c) == 0) {
			r = rbd_aio_flush(rb->image, c);
			if (r == 0)
				return;
			rbd_aio_release(c);
		} else {
			r = -ENOMEM;
		}
		done(rb, io, (int32_t)r);
		return;
	}
	/* librbd answers a read with its length, everything else with 0. */
	done(rb, io, io->op == PVFS_OP_READ || io->op == PVFS_OP_WRITE ? (int32_t)io->len : 0);
}

/*
 * on_event - the eventfd is readable (or the watch was cancelled). The
 * counter is reset before the queue is drained: librbd queues a completion
 * before it writes the eventfd, so one queued after the drain rings again.
 */
static void on_event(struct backend_watch *w, int res)
{
	struct rbd_backend *rb = RB(w->b);
	rbd_completion_t comps[64];
	uint64_t v;
	int n;

	if (read(rb->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("rbd: reading the completion eventfd: %m");
	while ((n = rbd_poll_io_events(rb->image, comps, (int)ARRAY_SIZE(comps))) > 0)
		for (int i = 0; i < n; i++)
			finish(rb, comps[i]);
	arm(rb);
}

static int rbd_backend_submit(struct backend *b, struct backend_io *io)
{
	struct rbd_backend *rb = RB(b);
	rbd_completion_t c;
	int r;

	r = rbd_aio_create_completion(io, NULL, &c);
	if (unlikely(r < 0))
		return r;
	io->priv.stage = 0;
	switch (io->op) {
	case PVFS_OP_READ:
		r = rbd_aio_readv(rb->image, io->iov, (int)io->nr_iov, io->offset, c);
		break;
	case PVFS_OP_WRITE:
		r = rbd_aio_writev(rb->image, io->iov, (int)io->nr_iov, io->offset, c);
		break;
	case PVFS_OP_FLUSH:
		r = rbd_aio_flush(rb->image, c);
		break;
	case PVFS_OP_DISCARD:
		r = rbd_aio_discard(rb->image, io->offset, io->len, c);
		break;
	case PVFS_OP_WRITE_ZEROES:
		r = rbd_aio_write_zeroes(rb->image, io->offset, io->len, c, 0, 0);
		break;
	default:
		r = -EOPNOTSUPP;
	}
	if (unlikely(r < 0)) {
		rbd_aio_release(c);
		return r;
	}
	stat_add(&rb->inflight, 1);
	return 0;
}

static void rbd_backend_pass(struct backend *b)
{
	arm(RB(b));
}

static int rbd_backend_bind(struct backend *b, struct backend_host *h)
{
	struct rbd_backend *rb = RB(b);

	b->host = h;
	rb->unbinding = false;
	rb->watch = (struct backend_watch){ .b = b, .fd = rb->efd, .events = POLLIN,
					    .fn = on_event };
	arm(rb);
	return 0;
}

/*
 * rbd_backend_cancel - librbd cannot take back a request it started (its buffers
 * are the guest's): each one completes, successfully or with the error the
 * cluster's timeouts give it. Nothing to do.
 */
static void rbd_backend_cancel(struct backend *b)
{
}

static bool rbd_backend_unbind(struct backend *b)
{
	struct rbd_backend *rb = RB(b);

	rb->unbinding = true;
	if (rb->watch.armed) {
		b->host->unwatch(b->host, &rb->watch);
		return false;
	}
	b->host = NULL;
	return true;
}

/* ---- control plane (control thread) ---- */

static void rbd_backend_stats(const struct backend *b, struct backend_stats *st)
{
	struct rbd_backend *rb = RB((struct backend *)b);

	*st = (struct backend_stats){
		.state = "connected",
		.connections = 1,
		.errors = stat_get(&rb->errors),
		.queue_depth = stat_get(&rb->inflight),
	};
}

/*
 * rbd_backend_resize - grow the image to size, or (size 0) take the size it has now
 * (grown by `rbd resize` elsewhere). Shrinking is refused: the guest would
 * lose the end of its disk under its file system.
 */
static int rbd_backend_resize(struct backend *b, uint64_t size, uint64_t *ret_capacity, char *err,
		      size_t errlen)
{
	struct rbd_backend *rb = RB(b);
	uint64_t cur;
	int r;

	r = rbd_get_size(rb->image, &cur);
	if (r < 0)
		return fail(err, errlen, r, "cannot read the image's size: %s", strerror(-r));
	if (size) {
		if (b->info.features & BACKEND_F_RO)
			return fail(err, errlen, -EROFS, "the volume is read-only (a snapshot or "
				    "attached --readonly)");
		if (size < cur)
			return fail(err, errlen, -EINVAL, "the image has %llu bytes; shrinking it "
				    "under a guest is refused", (unsigned long long)cur);
		r = rbd_resize2(rb->image, size, false, NULL, NULL);
		if (r < 0)
			return fail(err, errlen, r, "rbd resize: %s", strerror(-r));
		r = rbd_get_size(rb->image, &cur);
		if (r < 0)
			return fail(err, errlen, r, "cannot read the image's size: %s",
				    strerror(-r));
	}
	cur &= ~(uint64_t)(b->info.lbs - 1);
	__atomic_store_n(&b->info.capacity, cur, __ATOMIC_RELAXED);
	*ret_capacity = cur;
	return 0;
}

static void rbd_backend_close(struct backend *b)
{
	struct rbd_backend *rb = RB(b);

	if (rb->watching)
		rbd_update_unwatch(rb->image, rb->update_handle);
	if (rb->image) {
		if (rb->locked)
			rbd_lock_release(rb->image);
		rbd_close(rb->image);
	}
	if (rb->ioctx)
		rados_ioctx_destroy(rb->ioctx);
	if (rb->cluster)
		rados_shutdown(rb->cluster);
	if (rb->efd >= 0)
		close(rb->efd);
	free(rb);
}

static const struct backend_ops rbd_ops = {
	.kind = "rbd",
	.close = rbd_backend_close,
	.resize = rbd_backend_resize,
	.stats = rbd_backend_stats,
	.bind = rbd_backend_bind,
	.submit = rbd_backend_submit,
	.cancel = rbd_backend_cancel,
	.unbind = rbd_backend_unbind,
	.pass = rbd_backend_pass,
};

/*
 * on_update - librbd's thread: the image's header changed (`rbd resize`
 * elsewhere, which librbd proxies to us as the lock owner, or a snapshot).
 * The control thread re-reads the size.
 */
static void on_update(void *arg)
{
	struct rbd_backend *rb = arg;

	backend_changed(&rb->b);
}

/* connect - a cluster handle for rp's client, read from its ceph.conf and keyring. */
static int connect_cluster(struct rbd_backend *rb, const struct rbd_params *rp, char *err,
			   size_t errlen)
{
	char tmo[16];
	int r;

	r = rados_create(&rb->cluster, rp->id);
	if (r < 0)
		return fail(err, errlen, r, "cannot create a Ceph client %s: %s",
			    rp->id ? rp->id : "admin", strerror(-r));
	r = rados_conf_read_file(rb->cluster, rp->conf);
	if (r < 0)
		return fail(err, errlen, r, "cannot read Ceph config %s: %s",
			    rp->conf ? rp->conf : "(default)", strerror(-r));
	if (rp->keyring && (r = rados_conf_set(rb->cluster, "keyring", rp->keyring)) < 0)
		return fail(err, errlen, r, "ceph keyring %s: %s", rp->keyring, strerror(-r));
	/* Submission must only queue: librbd's own threads do the work. */
	rados_conf_set(rb->cluster, "rbd_non_blocking_aio", "true");
	rados_conf_set(rb->cluster, "rbd_cache", rp->writeback ? "true" : "false");
	if (rp->timeout_s) {
		/*
		 * Bounds: connecting and mon commands on the control thread, and
		 * every OSD operation (a request then fails with -ETIMEDOUT
		 * instead of waiting for the cluster for ever).
		 */
		snprintf(tmo, sizeof(tmo), "%u", rp->timeout_s);
		rados_conf_set(rb->cluster, "client_mount_timeout", tmo);
		rados_conf_set(rb->cluster, "rados_mon_op_timeout", tmo);
		rados_conf_set(rb->cluster, "rados_osd_op_timeout", tmo);
	}
	if (rp->connect_timeout_s && (!rp->timeout_s || rp->connect_timeout_s < rp->timeout_s)) {
		snprintf(tmo, sizeof(tmo), "%u", rp->connect_timeout_s);
		rados_conf_set(rb->cluster, "client_mount_timeout", tmo);
	}
	r = rados_connect(rb->cluster);
	if (r < 0) {
		rados_shutdown(rb->cluster);
		rb->cluster = NULL;
		if (r == -ENOENT || r == -EACCES || r == -EPERM || r == -EINVAL)
			return fail(err, errlen, r,
				    "cannot connect to the Ceph cluster as client.%s (%s): check "
				    "its keyring (named in %s) and the monitors' addresses",
				    rp->id ? rp->id : "admin", strerror(-r),
				    rp->conf ? rp->conf : "the default ceph.conf");
		return fail(err, errlen, r, "cannot connect to the Ceph cluster (%s)%s",
			    strerror(-r), r == -ETIMEDOUT ? ": are its monitors up?" : "");
	}
	return 0;
}

/*
 * take_lock - hold the image's exclusive lock: refuse an image locked by
 * another client, or with force break that client's lock (it is blocklisted:
 * it can no longer write, even if it is alive).
 */
static int take_lock(struct rbd_backend *rb, const struct rbd_params *rp, const char *name,
		     char *err, size_t errlen)
{
	char *owners[RBD_MAX_OWNERS];
	size_t n = RBD_MAX_OWNERS;
	rbd_lock_mode_t mode;
	uint64_t features;
	int r;

	r = rbd_get_features(rb->image, &features);
	if (r < 0)
		return fail(err, errlen, r, "image %s: cannot read its features: %s", name,
			    strerror(-r));
	if (!(features & RBD_FEATURE_EXCLUSIVE_LOCK)) {
		if (rp->lock == RBD_LOCK_BREAK)
			return 0;
		return fail(err, errlen, -EPERM,
			    "image %s has no exclusive-lock feature, so pvfsd cannot keep another "
			    "host from writing it at the same time; enable it (rbd feature enable "
			    "%s exclusive-lock), or attach with --force if you know no one else "
			    "uses it", name, name);
	}
	r = rbd_lock_get_owners(rb->image, &mode, owners, &n);
	if (r == -ENOENT)
		n = 0;
	else if (r < 0)
		return fail(err, errlen, r, "image %s: cannot read its lock owners: %s", name,
			    strerror(-r));
	if (n && rp->lock == RBD_LOCK_REFUSE) {
		r = fail(err, errlen, -EBUSY,
			 "image %s is locked by another client (%s): another host may be writing "
			 "it; detach it there first, or attach with --force to break the lock "
			 "(the other client is then blocklisted)", name, owners[0]);
		rbd_lock_get_owners_cleanup(owners, n);
		return r;
	}
	for (size_t i = 0; i < n && rp->lock == RBD_LOCK_BREAK; i++) {
		log_notice("rbd: image %s: breaking the exclusive lock of %s (--force)", name,
			   owners[i]);
		r = rbd_lock_break(rb->image, mode, owners[i]);
		if (r < 0 && r != -ENOENT) {
			r = fail(err, errlen, r, "image %s: cannot break the lock of %s: %s", name,
				 owners[i], strerror(-r));
			rbd_lock_get_owners_cleanup(owners, n);
			return r;
		}
	}
	if (n)
		rbd_lock_get_owners_cleanup(owners, n);
	r = rbd_lock_acquire(rb->image, RBD_LOCK_MODE_EXCLUSIVE);
	if (r < 0)
		return fail(err, errlen, r,
			    "image %s: cannot take its exclusive lock (%s)%s", name, strerror(-r),
			    r == -EROFS || r == -EBUSY ?
			    ": another client holds it; attach with --force to break it" : "");
	rb->locked = true;
	return 0;
}

int rbd_backend_open(const struct rbd_params *rp, struct backend **ret, char *err,
		     size_t errlen)
{
	const struct rbd_spec *s = &rp->spec;
	struct rbd_backend *rb;
	char name[3 * (RBD_NAME_MAX + 1)], fsid[64];
	bool ro = rp->readonly || s->snap[0];
	uint64_t size;
	int r;

	snprintf(name, sizeof(name), "%s/%s%s%s", s->pool, s->image, s->snap[0] ? "@" : "",
		 s->snap);
	rb = calloc(1, sizeof(*rb));
	if (!rb)
		return fail(err, errlen, -ENOMEM, "out of memory");
	rb->b.ops = &rbd_ops;
	rb->efd = -1;
	rb->writeback = rp->writeback;
	r = connect_cluster(rb, rp, err, errlen);
	if (r < 0)
		goto out_close;
	r = rados_ioctx_create(rb->cluster, s->pool, &rb->ioctx);
	if (r < 0) {
		fail(err, errlen, r, "Ceph pool %s: %s", s->pool,
		     r == -ENOENT ? "no such pool in the cluster" : strerror(-r));
		goto out_close;
	}
	if (ro)
		r = rbd_open_read_only(rb->ioctx, s->image, &rb->image, s->snap[0] ? s->snap : NULL);
	else
		r = rbd_open(rb->ioctx, s->image, &rb->image, NULL);
	if (r < 0) {
		rb->image = NULL;
		if (r == -ENOENT)
			fail(err, errlen, r, "RBD image %s does not exist%s; create it first "
			     "(rbd create --size 10G %s/%s)", name,
			     s->snap[0] ? " (or its snapshot)" : "", s->pool, s->image);
		else
			fail(err, errlen, r, "cannot open RBD image %s: %s%s", name, strerror(-r),
			     r == -EPERM || r == -EACCES ?
			     " (client's caps: it needs \"profile rbd\" on the pool)" : "");
		goto out_close;
	}
	if (!ro) {
		r = take_lock(rb, rp, name, err, errlen);
		if (r < 0)
			goto out_close;
	}
	r = rbd_get_size(rb->image, &size);
	if (r < 0) {
		fail(err, errlen, r, "image %s: cannot read its size: %s", name, strerror(-r));
		goto out_close;
	}
	size &= ~(uint64_t)511;
	if (!size) {
		r = fail(err, errlen, -EINVAL, "RBD image %s is empty; give it a size first (rbd "
			 "resize --size 10G %s)", name, name);
		goto out_close;
	}
	rb->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (rb->efd < 0) {
		r = fail(err, errlen, -errno, "eventfd: %m");
		goto out_close;
	}
	r = rbd_set_image_notification(rb->image, rb->efd, EVENT_TYPE_EVENTFD);
	if (r < 0) {
		fail(err, errlen, r, "image %s: cannot route completions to an eventfd: %s", name,
		     strerror(-r));
		goto out_close;
	}
	/* A read-only open has no header watch: its size is fixed at attach. */
	if (!ro) {
		r = rbd_update_watch(rb->image, &rb->update_handle, on_update, rb);
		if (r < 0) {
			fail(err, errlen, r, "image %s: cannot watch its header: %s", name,
			     strerror(-r));
			goto out_close;
		}
		rb->watching = true;
	}
	if (rados_cluster_fsid(rb->cluster, fsid, sizeof(fsid)) < 0)
		snprintf(fsid, sizeof(fsid), "%s", rp->conf ? rp->conf : "default");
	rb->b.info = (struct backend_info){
		.capacity = size,
		.lbs = 512,
		.pbs = 4096,
		.features = BACKEND_F_FLUSH | BACKEND_F_DISCARD | BACKEND_F_WRITE_ZEROES |
			    (rp->writeback ? 0 : BACKEND_F_FUA) |
			    (ro ? BACKEND_F_RO : BACKEND_F_RESIZE),
	};
	snprintf(rb->b.info.domain, sizeof(rb->b.info.domain), "rbd:%.36s/%.80s", fsid, s->pool);
	*ret = &rb->b;
	return 0;

out_close:
	rbd_backend_close(&rb->b);
	return r;
}
