/* SPDX-License-Identifier: MIT */
/*
 * backend.h - the one interface between pvfsd's data plane and whatever
 * stores a volume: a local file or block device (file.c, io_uring), an NBD
 * server (nbd.c, libnbd), a Ceph RBD image (rbd.c, librbd).
 *
 * Life of a backend, and which thread runs what:
 *
 *   control thread   X_backend_open()  (attach; may block: it opens files,
 *                                        connects, reads geometry)
 *   poller thread    ops->bind()       (plug: the poller lends its services)
 *                    ops->submit()...  completions, watches, ops->pass()
 *                    ops->cancel()     (forced detach)
 *                    ops->unbind()     (nothing in flight; until it says done)
 *   control thread   ops->resize(), ops->close()
 *   any thread       ops->stats()      (relaxed atomic loads only)
 *
 * Hand-over is the tenant's (pvfsd.h): from bind to the last unbind the
 * poller owns the backend's data-plane state; the control thread only reads
 * b->info (immutable while bound, except capacity through resize) and stats.
 *
 * What a backend guarantees:
 *   - no call made on the poller thread blocks (no blocking socket, no
 *     sleep, no lock another thread holds for long, no DNS);
 *   - every submit that returned 0 completes exactly once, on the poller
 *     thread, either by an io_uring CQE carrying io->ud (backends that use the
 *     poller's ring) or by h->complete(h, io, res) called from a watch
 *     callback, ops->pass() or ops->cancel() - never from inside submit;
 *   - res is the bytes transferred for READ/WRITE (a short count is continued
 *     by the request path, 0 is an error) and 0 for the others, or -errno;
 *     a server that went away is waited for (reconnect) up to the backend's
 *     timeout, then -EIO: the tenant is never marked BROKEN by a backend;
 *   - FUA is honoured (natively, or by a flush after the write);
 *   - unbind() returns true only when no watch of the backend is armed and
 *     no completion is still to come: then the poller hands the tenant back.
 *
 * What the request path keeps (generic, not per backend): validation and
 * translation (request.c), the in-flight records, QoS charging, continuing
 * short transfers, accounting.
 */
#ifndef PVFSD_BACKEND_H
#define PVFSD_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct backend;
struct backend_host;
struct io_uring_sqe;
struct iovec;

/* Feature bits in backend_info.features. */
#define BACKEND_F_FLUSH		(1u << 0)	/* a volatile cache: FLUSH means something */
#define BACKEND_F_FUA		(1u << 1)	/* native FUA (otherwise emulated by a flush) */
#define BACKEND_F_DISCARD	(1u << 2)
#define BACKEND_F_WRITE_ZEROES	(1u << 3)
#define BACKEND_F_RO		(1u << 4)	/* the backend itself refuses writes */
#define BACKEND_F_RESIZE	(1u << 5)	/* ops->resize can change the capacity */

#define BACKEND_DOMAIN_MAX	128

/* Geometry and features of an opened volume (filled by open, read by anyone). */
struct backend_info {
	uint64_t capacity;		/* bytes, a multiple of lbs */
	uint32_t lbs, pbs;		/* logical (alignment of every request) and physical block size */
	uint32_t max_io_bytes;		/* largest READ/WRITE it takes; 0: no limit of its own */
	uint32_t max_discard_bytes;	/* DISCARD/WRITE_ZEROES likewise */
	uint32_t features;		/* BACKEND_F_* */
	bool direct;			/* buffers must be lbs-aligned (O_DIRECT) */
	/*
	 * The scheduling domain: volumes with the same key share one device
	 * or remote target ("dev:MAJ:MIN" for files and block devices,
	 * "nbd:HOST:PORT" or "nbd:unix:PATH", "rbd:CLUSTER/POOL").
	 */
	char domain[BACKEND_DOMAIN_MAX];
};

/*
 * One operation handed to submit. The request path fills it (for the rest of
 * a short transfer too) and gets it back in the completion; the backend may
 * keep the pointer until it completes it, and never changes the iovecs'
 * contents... only the data they point at (reads).
 */
struct backend_io {
	uint8_t op;			/* PVFS_OP_* */
	bool fua;			/* WRITE: durable before it completes */
	uint32_t len;			/* bytes to transfer, or the range of DISCARD/WRITE_ZEROES */
	uint64_t offset;
	const struct iovec *iov;	/* READ/WRITE: iov[0..nr_iov) hold exactly len bytes */
	uint32_t nr_iov;
	uint64_t ud;			/* io_uring backends: the user_data of its SQE */
	int32_t res;			/* poller: the result given to host->complete */
	struct backend_io *next;	/* poller: its completion list */
	/* The backend's own, from submit until it completes io. */
	struct {
		void *owner;		/* e.g. the connection it went out on */
		struct backend_io *next;
		struct backend_io *link_next, *link_prev;	/* e.g. what is out on a connection */
		uint64_t since;		/* e.g. when it started to wait for a server */
		uint32_t parts;		/* e.g. commands still out */
		int32_t error;
		uint32_t stage;
	} priv;
};

/*
 * A watch: the poller polls fd for events through its io_uring (one shot)
 * and calls fn(w, res) on the poller thread with the revents (res > 0) or
 * -errno (-ECANCELED after unwatch). Re-arm from fn if still wanted.
 */
struct backend_watch {
	struct backend *b;
	int fd;
	short events;			/* POLLIN, POLLOUT */
	bool armed;			/* poller: a poll request is in io_uring */
	bool cancelled;			/* poller: its cancel is queued */
	void (*fn)(struct backend_watch *w, int res);
};

/*
 * What a poller lends a bound backend. Every function is called on that
 * poller's thread only, and none blocks.
 */
struct backend_host {
	/* An SQE of the poller's io_uring, or NULL if full (the caller retries later). */
	struct io_uring_sqe *(*get_sqe)(struct backend_host *h);
	/* The user_data for an SQE whose completion nobody needs (e.g. a cancel). */
	uint64_t ud_ignore;
	/* Deliver a completion (asynchronous backends); the poller reaps it this pass. */
	void (*complete)(struct backend_host *h, struct backend_io *io, int32_t res);
	/* Arm w (one shot); 0, or -EAGAIN if io_uring is full (retry later). */
	int (*watch)(struct backend_host *h, struct backend_watch *w);
	/* Cancel an armed watch; fn then runs with -ECANCELED (or its events). */
	bool (*unwatch)(struct backend_host *h, struct backend_watch *w);
	/* A fixed-file slot of the poller's ring for fd, or -errno; and back. */
	int (*register_file)(struct backend_host *h, int fd);
	void (*unregister_file)(struct backend_host *h, int slot);
	/*
	 * Run b's ops->pass at the end of this pass (backend_want_pass): the
	 * poller keeps a list of the backends that asked, so that a pass costs
	 * nothing for the others.
	 */
	void (*want_pass)(struct backend_host *h, struct backend *b);
};

/* Connection state and counters, for pvfsctl stats and the metrics. */
struct backend_stats {
	const char *state;		/* "connected", "reconnecting", "failed"; NULL: no connection */
	uint32_t connections;		/* open connections */
	uint64_t reconnects;		/* successful reconnects since open */
	uint64_t errors;		/* operations the backend failed (-errno to the guest) */
	uint64_t queue_depth;		/* operations submitted and not completed */
};

struct backend_ops {
	const char *kind;		/* "file", "nbd", "rbd" */
	/* control thread, unbound: release everything (NULL-safe wrapper backend_close) */
	void (*close)(struct backend *b);
	/*
	 * control thread: set the capacity to size bytes, or re-read it when
	 * size is 0 (a block device or remote image that grew); the new
	 * capacity in *ret_capacity (also in b->info). NULL: cannot resize.
	 */
	int (*resize)(struct backend *b, uint64_t size, uint64_t *ret_capacity,
		      char *err, size_t errlen);
	void (*stats)(const struct backend *b, struct backend_stats *st);

	/* poller thread */
	int (*bind)(struct backend *b, struct backend_host *h);
	/* 0: it will complete; -errno: it did not start (completed by the caller) */
	int (*submit)(struct backend *b, struct backend_io *io);
	/* forced detach: fail or cancel what can be (each still completes once) */
	void (*cancel)(struct backend *b);
	/* nothing is in flight: let go of the poller; false: call again next pass */
	bool (*unbind)(struct backend *b);
	/* optional: run at the end of a poller pass once backend_want_pass asked for it */
	void (*pass)(struct backend *b);
};

/* The common head of every backend (embedded first in each kind's struct). */
struct backend {
	const struct backend_ops *ops;
	struct backend_info info;
	struct backend_host *host;	/* while bound: the poller's services */
	uint32_t watches;		/* poller: armed watches */
	/* poller's: on its list of backends to pass (backend_want_pass) */
	bool want_pass;
	struct backend *pass_next;
	int changed;			/* atomic: the volume changed underneath (backend_changed) */
};

/* backend_want_pass - poller thread, while bound: run ops->pass at the end of this pass. */
static inline void backend_want_pass(struct backend *b)
{
	if (!b->want_pass && b->host)
		b->host->want_pass(b->host, b);
}

/*
 * backend_changed - any thread (e.g. a librbd callback after `rbd resize`
 * elsewhere): b's volume may have a new size. The control thread learns it
 * from backend_changed_fd() becoming readable, then backend_take_changed()
 * on each backend says which to re-read (ops->resize with size 0).
 */
void backend_changed(struct backend *b);
/* backend_changed_fd - control thread, before any backend opens; -errno if none. */
int backend_changed_fd(void);
/* backend_take_changed - control thread: true once per backend_changed() of b. */
bool backend_take_changed(struct backend *b);
/* backend_changed_reset - control thread: empty the eventfd before the backends are looked at. */
void backend_changed_reset(void);

/* backend_kind - "nbd", "rbd" or "file", from how a volume is written. */
const char *backend_kind(const char *volume);
void backend_close(struct backend *b);

/*
 * file_backend_open - a backend over fd (a regular file or block device
 * already opened and confined by the caller with the right flags; the
 * backend owns it from now on, also on failure). dev names the domain
 * (the file system's device for a file, the disk for a block device).
 */
struct file_params {
	uint64_t capacity;
	uint32_t lbs, pbs;
	bool readonly, direct, is_bdev;
	dev_t dev;
};
int file_backend_open(int fd, const struct file_params *fp, struct backend **ret,
		      char *err, size_t errlen);

/*
 * nbd_backend_open - connect to the NBD export uri (nbd://HOST[:PORT]/EXPORT
 * or nbd+unix:///EXPORT?socket=PATH; the caller checked it against the
 * config's allow_nbd), bounded by the timeout; with multi-conn, up to
 * connections connections.
 */
struct nbd_params {
	uint32_t timeout_ms;		/* connect, and how long requests wait for a server */
	uint32_t connections;		/* with multi-conn; 1 otherwise */
	bool readonly;
	/*
	 * The geometry last seen (a restored tenant) or NULL. With it, a
	 * server that cannot be reached is not an error: the backend opens
	 * with no connection, returns 1 (err says why) and connects once bound.
	 */
	const struct backend_info *known;
};
int nbd_backend_open(const char *uri, const struct nbd_params *np, struct backend **ret,
		     char *err, size_t errlen);
/* nbd_uri_check - is uri a well-formed NBD URI pvfsd can serve (no connection, no DNS)? */
int nbd_uri_check(const char *uri, char *err, size_t errlen);

/* A Ceph RBD volume, written rbd:POOL/IMAGE[@SNAP] (rbd.c). */
#define RBD_NAME_MAX 255
struct rbd_spec {
	char pool[RBD_NAME_MAX + 1];
	char image[RBD_NAME_MAX + 1];
	char snap[RBD_NAME_MAX + 1];	/* empty: the image itself */
};
/* rbd_spec_parse - split volume ("rbd:..."); -EINVAL if it is not that form. */
int rbd_spec_parse(const char *volume, struct rbd_spec *ret);

/* What to do about an exclusive lock another client holds. */
enum rbd_lock_policy {
	RBD_LOCK_REFUSE,	/* attach: fail with -EBUSY */
	RBD_LOCK_BREAK,		/* attach --force: break it (the owner is blocklisted) */
	RBD_LOCK_WAIT,		/* restore: let librbd take it once its owner is gone */
};

struct rbd_params {
	struct rbd_spec spec;
	const char *conf;		/* ceph.conf; NULL: librados' default search */
	const char *id;			/* client name without "client."; NULL: admin */
	const char *keyring;		/* NULL: the one ceph.conf names */
	bool readonly;			/* snapshots are read-only anyway */
	bool writeback;			/* librbd's cache on (FUA by a flush) */
	enum rbd_lock_policy lock;
	uint32_t timeout_s;		/* connect, mon and OSD operations; 0: Ceph's own */
	uint32_t connect_timeout_s;	/* connecting only, if shorter than timeout_s; 0: timeout_s */
};
/*
 * rbd_backend_open - connect, open the image and (read-write) take its
 * exclusive lock; control thread, blocks at most about timeout_s per step.
 */
int rbd_backend_open(const struct rbd_params *rp, struct backend **ret, char *err,
		     size_t errlen);

#endif
