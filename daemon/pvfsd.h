/* SPDX-License-Identifier: MIT */
/*
 * pvfsd.h - pvfsd's core objects and how the threads share them.
 *
 * Threads. The main thread runs the control plane (libevent: control socket,
 * metrics, signals). Each poller thread runs the data plane for the tenants
 * pinned to it, with its own io_uring. They meet in two places only:
 *   - the poller's mailbox (struct poller_msg, a mutex-protected list plus an
 *     eventfd): the control thread hands tenants in and asks for them back;
 *     the poller checks an atomic flag each loop and takes the lock only when
 *     it is set, so the hot path stays lock-free;
 *   - statistics counters in struct tenant_stats / poller_stats: written by
 *     the owning poller only, read by anyone with relaxed atomic loads.
 *
 * Lifetimes. A struct tenant is created by `attach` and freed by `detach`,
 * both on the control thread. While plugged, its data-plane state
 * (struct tenant_io: mappings, queues, request slots) belongs to its poller
 * from poller_add() until the poller hands it back after poller_remove()
 * (poller_reap_done); only then may the control thread unmap guest memory,
 * after every io_uring operation that points into it has completed.
 *
 * Only the shared structs live here; each module's functions are in its own
 * header (poller.h, request.h, tenant.h, ...), included where they are used.
 */
#ifndef PVFSD_H
#define PVFSD_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "backend/backend.h"
#include "hist.h"
#include "pvfs_ctl.h"
#include "pvfs_ring.h"
#include "sched.h"
#include "stage.h"

#define PVFSD_VERSION "0.1.0"
#define PVFSD_MAX_TENANTS 1000		/* below the pollers' registered-file slots */

struct event_base;
struct ctl_conn;
struct domain;
struct poller;
struct tenant;

enum tenant_state {
	TENANT_UNPLUGGED,	/* provisioned, no VM plugged */
	TENANT_RUNNING,		/* plugged, served by a poller */
	TENANT_BROKEN,		/* plugged, ring found corrupt; all I/O stopped */
	TENANT_DRAINING,	/* unplug or detach in progress */
};

enum cache_mode { CACHE_NONE, CACHE_WRITEBACK };

struct op_stats {
	uint64_t ops, bytes, errors;
	uint64_t lat_sum_ns;
	uint64_t lat_hist[HIST_BUCKETS];
};

/* Ops as counted in stats and metrics (index = PVFS_OP_*). */
extern const char *const pvfs_op_names[PVFS_OP_MAX];

struct tenant_stats {
	struct op_stats op[PVFS_OP_MAX];
	uint64_t invalid;		/* requests rejected by validation (also counted in errors) */
	uint64_t doorbells;		/* doorbells the guest rang (kick eventfd counts) */
	uint64_t interrupts;		/* call eventfd signals sent */
	uint64_t throttled;		/* held back by a limit: sum over earlier plugs */
	uint64_t throttled_ns;		/* (the current plug's count is in its sched_entity) */
	uint64_t queue_delay_ns;	/* sum over dispatched requests: seen -> dispatched */
	uint64_t dispatched;
	uint64_t inflight;		/* gauge */
	uint64_t broken;		/* 1 once the ring was found corrupt */
	uint64_t resets;		/* reset handshakes answered (pvfs_ring.h "Reset") */
	uint64_t coalesced;		/* CQEs whose interrupt was merged into another */
	uint64_t interrupts_dropped;	/* interrupts not sent by the test hook */
	struct stage_stats stages;	/* where the time went (stage.h) */
};

/*
 * Interrupt coalescing of a tenant (pvfsctl --irq-coalesce-us/-count): at
 * most one interrupt per queue per window of us microseconds, sent early
 * once count CQEs wait for it. us = 0: off, every batch interrupts.
 */
struct irq_coalesce {
	uint32_t us;			/* 0 .. IRQ_COALESCE_US_MAX */
	uint32_t count;			/* 0 (no count threshold) .. IRQ_COALESCE_COUNT_MAX */
};

#define IRQ_COALESCE_US_MAX	10000u
#define IRQ_COALESCE_COUNT_MAX	65535u

struct guest_mem {
	uint64_t gpa, size;
	uint8_t *host;			/* pvfsd's mapping of [gpa, gpa+size) */
	size_t map_len;
	void *map_base;
};

/* One request slot per (queue, tag); preallocated at plug time. */
struct io_req {
	struct tenant_io *tio;
	struct io_queue *ioq;
	uint16_t tag;
	uint8_t op;
	uint8_t busy;
	bool fua;
	uint8_t learn_cls;		/* its class for sched_learn(), or SCHED_LC_NONE */
	uint32_t sq_idx;		/* SQ index it was consumed from */
	uint32_t len;			/* requested bytes */
	uint32_t done;			/* transferred so far (short-transfer continuation) */
	uint64_t offset;
	uint64_t t_seen;		/* when the poller first saw its SQE */
	uint64_t t_disp;		/* ... dispatched it (stage.h) */
	uint64_t t_sub;			/* ... the backend took it */
	uint32_t nr_iov;
	uint32_t iov_pos;		/* first iovec not yet fully transferred */
	struct iovec *iov;		/* max_segs entries */
	struct backend_io bio;		/* what goes to the backend: the rest to transfer */
};

struct io_queue {
	struct tenant_io *tio;
	struct pvfs_queue q;
	uint32_t qid;
	uint32_t sq_head;		/* next SQ index to consume (our copy) */
	uint32_t seen_tail;		/* SQ tail as last observed */
	uint32_t cq_tail;		/* next CQ index to fill (our copy) */
	uint32_t cq_head_seen;		/* guest's cq_head as last read */
	int kick_fd, call_fd;
	/*
	 * The eventfds' open file descriptions are shared with the VMM, which
	 * can clear O_NONBLOCK or fill/drain the counter at any time: the
	 * poller never read()s or write()s them itself. A kick is an io_uring
	 * read (eventfd has read_iter and FMODE_NOWAIT: it waits by poll, never
	 * in a thread); a call is an io_uring write, at most one in flight per
	 * queue (a VMM that makes it block holds one io-wq worker of its own
	 * until the tenant is removed, which cancels it).
	 */
	uint64_t kick_buf;		/* the kick read's destination */
	bool kick_armed;		/* a read of kick_fd is in io_uring */
	bool call_busy;			/* a write to call_fd is in io_uring */
	bool call_again;		/* another interrupt is due once it completes */
	bool need_irq;			/* CQEs posted since the last interrupt */
	bool force_irq;			/* interrupt even with NO_INTERRUPT (a resize, queue 0) */
	uint32_t irq_cqes;		/* CQEs posted since the last interrupt (coalescing) */
	uint64_t irq_first_ns;		/* when the first of them was posted */
	/*
	 * Requests a previous pvfsd consumed and did not complete, found in the
	 * in-flight table at plug: re-issued through the scheduler (limits and
	 * shares apply) before any new SQE, validated like a fresh SQE.
	 */
	uint16_t *recov_tags;		/* depth entries */
	uint32_t nr_recov, recov_pos;
	uint64_t *seen_ns;		/* per SQ slot: when the poller first saw it */
	/*
	 * Per-queue adaptive polling (poller.c, "Dormant queues"): a queue is
	 * either on its poller's hot list, scanned every pass, or dormant, with
	 * NEED_WAKEUP set on it alone and its kick read armed.
	 */
	struct io_queue *hot_next, **hot_pprev;	/* hot list; hot_pprev NULL: off it */
	bool dormant;
	uint32_t inflight;		/* its requests in the backend */
	uint64_t last_work;		/* last new SQE or completion */
	uint64_t spin_ns;		/* its adaptive window */
	uint64_t dormant_at;
	struct io_req *reqs;		/* depth entries, indexed by tag */
	struct iovec *iovs;		/* depth * max_segs */
};

/* Data-plane state of a plugged tenant. Owned by its poller while added. */
struct tenant_io {
	uint64_t id;			/* unique per plug: names it in poller messages */
	struct tenant *t;
	struct poller *p;
	struct tenant_io *next;		/* poller's list */
	/* poller's lists of the few that wait for their I/O to drain */
	struct tenant_io *settle_next;	/* resetting, or a state due (settle_tenants) */
	struct tenant_io *leave_next;	/* removing or moving (finish_removes) */
	bool settling;			/* on the settle list */
	struct sched_entity se;
	struct sched_domain *dom;	/* the tenant's device: what it competes for */
	struct pvfs_region_hdr *hdr;
	void *region;
	size_t region_size;
	uint32_t nr_queues, depth, max_segs;
	struct io_queue *queues;
	struct guest_mem mem[PVFS_CTL_MAX_MEMREGIONS];
	uint32_t nr_mem;
	/* Copies of volume facts: the poller never reads struct tenant's config. */
	uint64_t capacity;
	uint32_t lbs;			/* logical block size: alignment of offsets and lengths */
	uint32_t max_io_bytes;
	uint32_t max_discard_bytes;	/* DISCARD and WRITE_ZEROES */
	struct sched_qos qos;		/* at plug; later changes come by MSG_QOS */
	bool readonly;
	bool direct;
	struct backend *backend;	/* the tenant's, lent to the poller while added */
	bool bound;			/* the backend is bound to the poller (bind .. unbind) */
	uint32_t rr_queue;		/* round-robin position among queues */
	uint32_t inflight;		/* io_uring operations pointing into guest memory */
	uint32_t fd_ops;		/* io_uring operations on its kick/call eventfds */
	bool has_recov;			/* some queue has nr_recov > recov_pos */
	bool fd_cancelled;		/* drained: no new eventfd operations */
	bool fd_cancel_sent;		/* ... and the pending ones' cancels are queued */
	bool removing;			/* detach/unplug: take no new SQEs */
	bool moving;			/* move: take no new SQEs, hand back when quiet */
	bool fail_new;			/* detach: complete new SQEs with -ENODEV */
	bool broken;
	/*
	 * Life cycle (pvfs_ring.h "Host states", "Reset"): the terminal state
	 * to publish once nothing is in flight (DRAINING until then), and the
	 * reset in progress. reset_ack is the host's copy of the last answer.
	 */
	uint32_t state_due;		/* PVFS_HOST_BROKEN or _REMOVED, 0: none */
	bool terminal;			/* state_due is published: hands off the ring */
	bool resetting;			/* draining for reset request reset_req */
	uint32_t reset_req, reset_ack;
	struct irq_coalesce coalesce;
	uint32_t drop_irqs;		/* test hook: interrupts not to send */
	uint64_t log_ns;		/* last message the guest could trigger at will */
	uint32_t log_skipped;		/* ... and those held back since (poller.c) */
};

struct tenant {
	struct tenant *next;
	char name[PVFS_CTL_MAX_NAME + 1];
	char volume[4096];		/* path as given, relative to its volume dir */
	char volume_real[4096];		/* resolved absolute path */
	char *ceph_conf, *ceph_id;	/* RBD: as given to attach (NULL: the config's default) */
	dev_t vol_dev;
	ino_t vol_ino;
	int vol_fd;			/* until the backend takes it over */
	struct backend *backend;	/* opened at attach, closed at detach */
	uint64_t capacity;
	uint32_t lbs, pbs;
	bool readonly;
	bool is_bdev;
	enum cache_mode cache;
	struct sched_qos qos;
	struct irq_coalesce coalesce;
	struct domain *dom;		/* its scheduling domain (domain.h), from attach */
	enum tenant_state state;
	struct tenant_io *tio;		/* non-NULL while plugged */
	struct ctl_conn *plug_conn;	/* the VMM's connection that plugged it (opaque) */
	bool detaching;			/* detach requested; freed once drained */
	bool detach_forced;		/* ... with force (cancel in-flight I/O) */
	struct poller *move_to;		/* non-NULL while a move is on its way */
	void (*move_cb)(void *arg, const char *name, int result);	/* run when it ends */
	void *move_arg;
	uint64_t moves;			/* moves between pollers, since attach */
	uint64_t moved_ns;		/* when it last arrived on a poller by a move */
	void (*detach_cb)(void *arg, const char *name);	/* run once drained */
	void *detach_arg;
	uint32_t generation;		/* host generation written at the last plug */
	uint64_t plugs;
	/* atomic: why a poller found the ring corrupt (a literal); NULL at plug */
	const char *broken_reason;
	struct tenant_stats st;
};

struct poller_stats {
	uint64_t busy_ns, idle_ns;
	uint64_t wakeups;		/* returns from a sleep */
	uint64_t heartbeat;		/* incremented every loop pass; watchdog reads it */
	uint64_t inflight;
	uint64_t dormant;		/* times a quiet queue left the hot list */
};

struct daemon_config {
	const char *runtime_dir;
	char *volume_dirs[16];		/* real paths (realpath) */
	char *volume_dir_aliases[16];	/* as configured when that differs (a symlink), or NULL */
	int nr_volume_dirs;
	int io_threads;			/* pollers started (auto: one per CPU of cpus) */
	bool io_threads_auto;		/* run one poller per tenants_per_poller busy tenants */
	uint32_t tenants_per_poller;
	bool rebalance;			/* move tenants between pollers by measured load */
	uint16_t cpus[64];		/* poller i runs on cpus[i % nr_cpus]; none: unpinned */
	int nr_cpus;
	enum sched_mode sched_mode;
	uint32_t inflight_cap;
	uint32_t anticipation_us;
	bool cost_learning;		/* refine calibrated cost models online */
	bool slots_by_cost;		/* --slot-shares cost */
	uint32_t poll_min_us, poll_max_us;
	bool allow_bdev;
	bool test_hooks;		/* --test-hooks: control methods for tests only */
	char *allow_nbd[16];		/* globs an NBD volume's URI must match (fnmatch) */
	int nr_allow_nbd;
	uint32_t nbd_timeout_ms;
	uint32_t nbd_connections;
	/* RBD volumes: the first ceph_conf and ceph_id are the defaults; attach may pick others. */
	char *ceph_confs[8];
	int nr_ceph_confs;
	char *ceph_ids[8];
	int nr_ceph_ids;
	char *ceph_keyring;		/* NULL: the keyring its ceph.conf names */
	char *allow_rbd_pools[32];	/* the only pools RBD volumes may come from */
	int nr_allow_rbd_pools;
	uint32_t rbd_timeout_s;		/* connect, mon and OSD operations; 0: Ceph's own */
	gid_t admin_gid;		/* (gid_t)-1: root only */
	uint32_t max_conns;		/* control connections that plug no VM */
	const char *metrics_listen;
	const char *config_file;
	const char *state_file;		/* NULL: no persistence */
};

extern struct daemon_config cfg;

#endif
