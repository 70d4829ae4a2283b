/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/*
 * pvfs_ring.h - the shared-memory ABI between a guest and pvfsd.
 *
 * One region per VM: a memfd created by the VMM side (pvfs-shim or the
 * simulated VM), mapped by pvfsd and exposed to a real guest as ivshmem BAR2.
 * This header is the single source of truth for its layout. It is used
 * unchanged by the guest kernel module and by userspace (pvfsd, libpvfs-shim,
 * tests), so it only includes <linux/types.h> and picks its barrier
 * primitives per side (see "Barriers" below).
 *
 * Layout (offsets in bytes from the start of the region):
 *
 *   0                 struct pvfs_region_hdr        (one 4 KiB page)
 *   queue_off(q)      struct pvfs_queue_ctrl        (4 cache lines)
 *                     struct pvfs_sqe  sq[depth]    (64 B each)
 *                     struct pvfs_cqe  cq[depth]    (16 B each)
 *                     struct pvfs_seg  seg[depth][max_segs]   (16 B each)
 *                     struct pvfs_inflight inflight[depth]    (128 B each)
 *                     ... padded to 4 KiB, then the next queue
 *
 *   queue_off(q) = PVFS_HDR_SIZE + q * pvfs_queue_stride(depth, max_segs)
 *
 * Who writes what. Every field below is written by exactly one side, named in
 * its comment: "creator" (the VMM side, once, before the region is handed to
 * pvfsd or the guest), "host" (pvfsd), or "guest". A reader never trusts a
 * field written by the other side: pvfsd copies the geometry once at plug
 * time, and reads guest indices exactly once per use.
 *
 * Requests. The guest owns a tag space [0, depth) per queue. To submit, it
 * fills the tag's segment table, writes an SQE at sq[tail & (depth-1)], and
 * publishes it with a release store of sq_tail. The host consumes SQEs in
 * order, advancing sq_head, and completes each tag exactly once with a CQE.
 * A tag is reused only after its CQE was consumed, so the SQ and the CQ can
 * never hold more than depth entries and neither can overflow.
 *
 * Notifications: two, one word each, in this header, pvfsd, pvfsctl and
 * the metrics alike.
 *   doorbell   guest -> host, "new SQEs": needed only while the host sleeps
 *              (PVFS_SQ_NEED_WAKEUP). The guest writes the ivshmem doorbell
 *              register (a VM exit); QEMU turns that into a write of the
 *              queue's "kick" eventfd, which pvfsd polls. Counted as doorbells.
 *   interrupt  host -> guest, "new CQEs": at most one per reap batch, none
 *              while PVFS_CQ_NO_INTERRUPT is set. pvfsd writes the queue's
 *              "call" eventfd; QEMU raises the queue's MSI-X vector. Counted
 *              as interrupts.
 * "kick" and "call" are vhost-user's names for those two eventfds and name
 * only them (kick_fd, call_fd, and code that handles them, such as
 * pvfs_sq_needs_kick), never the notification itself.
 *
 * Recovery. Before the host starts a request it records a copy of the SQE in
 * inflight[tag] (state ACTIVE). To complete it the host first writes
 * state COMPLETING with the CQ index it is about to fill, then the CQE, then
 * publishes cq_tail, then writes state FREE. A new host instance (new
 * host_generation) therefore knows, for every tag, whether the guest has or
 * will never see its completion: ACTIVE, or COMPLETING with an index not
 * yet published, is re-issued (block I/O is idempotent); COMPLETING with a
 * published index is done. This is the vhost-user "inflight I/O tracking"
 * idea reduced to a two-phase per-tag record.
 *
 * Life cycle and guest memory. The one rule a guest relies on to reuse the
 * pages of a request: the host writes into (or reads from) a request's pages
 * only between consuming its SQE and publishing its CQE. Three events end
 * that window for requests that get no CQE, each defined below, and each
 * keeps the rule:
 *   - a terminal host_state (BROKEN, REMOVED): published only once nothing
 *     the host consumed is still in flight ("Host states");
 *   - the guest's reset handshake: acknowledged only once nothing of the
 *     guest's previous life is in flight ("Reset");
 *   - a new host generation that finds a terminal state or a reset request:
 *     it starts from an empty ring and never runs what was left in it.
 */
#ifndef PVFS_RING_H
#define PVFS_RING_H

#include <linux/types.h>

#define PVFS_MAGIC		0x53465650u	/* "PVFS" little-endian */
#define PVFS_ABI_VERSION	1u
#define PVFS_HDR_SIZE		4096u
#define PVFS_CACHELINE		64u

#define PVFS_MAX_QUEUES		16u
#define PVFS_MAX_DEPTH		1024u	/* power of two, <= 65536 (16-bit tags) */
#define PVFS_MAX_SEGS		256u

/*
 * Feature bits, offered by the host in host_features and accepted by the
 * guest in guest_features. A guest must ignore bits it does not know and
 * never accept a bit the host did not offer.
 *
 * PVFS_F_FLUSH: the volume has a volatile write cache; the guest should send
 *   PVFS_OP_FLUSH to make completed writes durable and may set PVFS_SQE_FUA.
 * PVFS_F_DISCARD: PVFS_OP_DISCARD deallocates the range (reads then return
 *   zeroes).
 * PVFS_F_WRITE_ZEROES: PVFS_OP_WRITE_ZEROES is supported.
 * PVFS_F_RO: the volume is read-only; writes, discards and write-zeroes
 *   complete with -EROFS.
 *
 * The next three describe the host's life-cycle behaviour. The host behaves
 * the same whether the guest accepts them or not (a guest that does not
 * know them keeps working); accepting one says the guest relies on it.
 *
 * PVFS_F_DRAIN: the host keeps the terminal-state rule ("Host states"
 *   below): BROKEN and REMOVED are published only after every request the
 *   host consumed is finished or cancelled, with PVFS_HOST_DRAINING in
 *   between. A guest seeing a terminal state then reaps the CQ and fails
 *   what is left at once. Without the bit (an older host) a terminal state
 *   may be published while requests are still in flight: the guest must
 *   not reuse the pages of consumed requests (SQE index before sq_head)
 *   until their CQEs arrive.
 * PVFS_F_RESET: the host answers the guest's reset handshake (reset_req,
 *   reset_ack; "Reset" below). Without it the guest must not write
 *   reset_req and has no way to make the host forget a previous life.
 * PVFS_F_RESIZE: capacity may grow while the host is READY. The host bumps
 *   config_generation around the change and then sends an interrupt on
 *   queue 0, even if that queue has PVFS_CQ_NO_INTERRUPT set ("Volume
 *   properties" below). Capacity never shrinks while a host serves the
 *   region.
 */
#define PVFS_F_FLUSH		(1ull << 0)
#define PVFS_F_DISCARD		(1ull << 1)
#define PVFS_F_WRITE_ZEROES	(1ull << 2)
#define PVFS_F_RO		(1ull << 3)
#define PVFS_F_DRAIN		(1ull << 4)
#define PVFS_F_RESET		(1ull << 5)
#define PVFS_F_RESIZE		(1ull << 6)
#define PVFS_F_ALL		(PVFS_F_FLUSH | PVFS_F_DISCARD | \
				 PVFS_F_WRITE_ZEROES | PVFS_F_RO | \
				 PVFS_F_DRAIN | PVFS_F_RESET | PVFS_F_RESIZE)

/*
 * Host states (host_state). The host release-stores host_state after every
 * field it covers; the guest acquire-loads it before reading them.
 *
 *   INIT --plug--> READY --(ring corrupt)--> DRAINING --> BROKEN
 *                    |  --(detach)---------> DRAINING --> REMOVED
 *                    `--(pvfsd exits or restarts, VMM unplugs): stays READY;
 *                       the next host generation takes over ("Recovery")
 *
 * DRAINING: the host starts no new I/O: SQEs it still consumes complete at
 *   once with -ENODEV (detach), or it consumes none (a corrupt ring). CQEs of
 *   requests consumed earlier keep coming, short transfers included. The
 *   guest should stop submitting and keep reaping. A terminal state follows.
 * BROKEN, REMOVED (terminal): the terminal-state rule. The host publishes a
 *   terminal state only after every request it consumed from this region is
 *   finished, or cancelled and reaped from its backend, and after the CQEs
 *   of all of them are published (except, on a corrupt ring, CQEs that no
 *   longer fit the CQ). After it the host never touches the queues or guest
 *   memory again in this host generation unless the guest itself asks for
 *   a reset (BROKEN only, "Reset"). So a guest that sees a terminal
 *   state reaps the CQ once more, and then every tag still outstanding is a
 *   request the host never consumed (its SQE lies at or after sq_head) or,
 *   when BROKEN, one whose CQE could not be posted: the guest fails all of
 *   them at once, and their pages are its own again.
 *   (Only with PVFS_F_DRAIN; see there for older hosts.)
 * A terminal state is final for its host generation; a reset does not undo
 *   it except that a host answering a reset while BROKEN publishes READY
 *   again ("Reset"). A later host generation (a new pvfsd plugging the same
 *   region) that finds a terminal state treats it as a reset request: it
 *   drops what is left in the SQ and the in-flight table, because the guest
 *   has failed those requests, and starts with an empty ring.
 * Any other value is unknown and, to a guest, terminal. No interrupt
 * announces a state change: the guest polls host_state (its watchdog and
 * its timeout handler).
 */
enum {
	PVFS_HOST_INIT = 0,	/* no host has taken the region over yet */
	PVFS_HOST_READY = 1,	/* a host serves the queues */
	PVFS_HOST_BROKEN = 2,	/* the host found the ring corrupt; all I/O fails */
	PVFS_HOST_REMOVED = 3,	/* the volume was detached; the device is gone */
	PVFS_HOST_DRAINING = 4,	/* BROKEN or REMOVED follows once in-flight I/O is done */
};

/*
 * Reset (PVFS_F_RESET). A guest instance that may have a predecessor on this
 * region (a rebooted or kexec'd kernel, a driver probing or unbinding) says
 * "forget my previous life" and waits until the host has:
 *   1. stopped consuming SQEs, cancelled what it had in flight for the
 *      region, and reaped all of it from its backend. None of it completes
 *      into the new life: the host posts no CQE for it and continues no
 *      short transfer;
 *   2. dropped what is left in the SQ (never run), its recovery work and
 *      the in-flight table (all FREE), and set, per queue, sq_head to the
 *      guest's sq_tail and cq_tail to the guest's cq_head, as the host read
 *      them after the request: the guest's own indices stay where they are,
 *      and both queues are empty there;
 *   3. release-stored reset_ack = reset_req.
 * Guest side (pvfs_reset_request, pvfs_reset_acked): stop submitting and
 * reaping on every queue; write guest_features if they change; bump
 * reset_req; ring queue 0's doorbell whatever sq_flags say; wait, bounded,
 * until reset_ack equals the value written. Then read sq_head and cq_tail of
 * every queue as its new private sq_tail and cq_head, treat every tag as
 * free, and re-read the volume properties. Outcomes of the wait:
 *   - acknowledged: nothing of the previous life is in flight, nor ever will be;
 *   - host_state REMOVED (or unknown): no host will answer in this
 *     generation: -ENODEV;
 *   - the bound expires (pvfsd stopped, or a backend that cannot cancel a
 *     request): the guest gives up with an error and must not submit, nor
 *     reuse memory it had handed to requests, until reset_ack matches. The
 *     request stays in the region: a host that plugs the region later
 *     answers it at plug time, before it publishes READY or runs anything.
 * Nothing ever waits on the guest: a reset request costs only its own
 * tenant (its I/O is cancelled), and a host answers one per request seen
 * (a guest that writes reset_req again meanwhile gets its own answer later).
 * A reset while the state is BROKEN repairs the ring: the host answers it
 * and publishes READY again (unless the volume itself failed, e.g. could not
 * be opened by this host: then it answers and stays BROKEN). The host does not notice a reset of the VM
 * that no guest code announces (QEMU system_reset): the new guest's driver
 * resets on probe, and until then old requests may still complete into
 * guest memory (docs/architecture.md, "Guest reset that no guest code
 * announces").
 */

/*
 * Volume properties (capacity .. max_discard_bytes, host_features) change
 * only in two ways. A new host generation may change any of them: a guest
 * re-reads all of them when host_generation changes. With PVFS_F_RESIZE a
 * host that is READY may grow capacity. Both go through config_generation,
 * a sequence count: odd while the host writes properties, even otherwise,
 * never reused within a region; see pvfs_host_config_begin/end and
 * pvfs_config_read_capacity. A resize is followed by an interrupt on queue 0:
 * a guest compares config_generation with the last one it saw on every
 * interrupt of queue 0 (and in its watchdog, for the case of queue 0 polled).
 */

/*
 * struct pvfs_region_hdr - page 0 of the region.
 *
 * Geometry (magic .. max_segs) is written by the creator before anybody else
 * maps the region. Volume properties and host state are written by the host
 * when it plugs the region; the guest reads them once host_state is READY.
 *
 *   offset  cache line 0: creator           cache line 1: host
 *      0    magic, abi_version          64  host_features
 *      8    region_size                 72  capacity
 *     16    nr_queues, queue_depth      80  logical_, physical_block_size
 *     24    max_segs, queue_stride      88  max_io_bytes, max_discard_bytes
 *     32    doorbell_peer               96  host_state, host_generation
 *                                      104  reset_ack, config_generation
 *           cache line 2: guest
 *    128    guest_features
 *    136    guest_generation, reset_req
 *
 * Each line has one writer. The guest's reset_req shares no line with the
 * host's reset_ack, so a guest polling for the ack only reads.
 */
struct pvfs_region_hdr {
	__u32 magic;			/* creator: PVFS_MAGIC */
	__u32 abi_version;		/* creator: PVFS_ABI_VERSION */
	__u64 region_size;		/* creator: bytes, >= the layout; a power of two for ivshmem */
	__u32 nr_queues;		/* creator: 1 .. PVFS_MAX_QUEUES */
	__u32 queue_depth;		/* creator: power of two, 2 .. PVFS_MAX_DEPTH */
	__u32 max_segs;			/* creator: segments per tag, 1 .. PVFS_MAX_SEGS */
	__u32 queue_stride;		/* creator: pvfs_queue_stride(depth, max_segs) */
	__u32 doorbell_peer;		/* creator: ivshmem peer id whose vector q is queue q's doorbell */
	__u8  rsvd0[28];		/* zero */

	/* Cache line 1: written by the host at plug time. */
	__u64 host_features;		/* host: PVFS_F_* offered */
	__u64 capacity;			/* host: volume size in bytes */
	__u32 logical_block_size;	/* host: 512 or 4096; offsets/lengths align to it */
	__u32 physical_block_size;	/* host */
	__u32 max_io_bytes;		/* host: largest READ/WRITE length */
	__u32 max_discard_bytes;	/* host: largest DISCARD/WRITE_ZEROES length */
	__u32 host_state;		/* host: PVFS_HOST_*; release-stored last */
	__u32 host_generation;		/* host: bumped by every host instance that plugs */
	__u32 reset_ack;		/* host: the last reset_req answered (PVFS_F_RESET);
					 * release-stored after the indices it covers */
	__u32 config_generation;	/* host: sequence count over the volume properties,
					 * odd while they change (PVFS_F_RESIZE) */
	__u8  rsvd1[16];		/* zero */

	/* Cache line 2: written by the guest. */
	__u64 guest_features;		/* guest: PVFS_F_* accepted */
	__u32 guest_generation;		/* guest: last host_generation it saw */
	__u32 reset_req;		/* guest: bumped to ask for a reset (PVFS_F_RESET);
					 * release-stored, then queue 0's doorbell */
	__u8  rsvd2[48];		/* zero */

	__u8  rsvd3[PVFS_HDR_SIZE - 3 * PVFS_CACHELINE];
};

/*
 * struct pvfs_queue_ctrl - the indices of one queue pair. Free-running
 * 32-bit indices; slot = index & (depth - 1). Each writer has its own cache
 * line so the two sides never write the same line.
 */
struct pvfs_queue_ctrl {
	__u32 sq_tail;			/* guest: next SQ slot it will fill */
	__u8  pad0[PVFS_CACHELINE - 4];
	__u32 sq_head;			/* host: next SQ slot it will consume */
	__u32 sq_flags;			/* host: PVFS_SQ_NEED_WAKEUP */
	__u8  pad1[PVFS_CACHELINE - 8];
	__u32 cq_tail;			/* host: next CQ slot it will fill */
	__u8  pad2[PVFS_CACHELINE - 4];
	__u32 cq_head;			/* guest: next CQ slot it will consume */
	__u32 cq_flags;			/* guest: PVFS_CQ_NO_INTERRUPT */
	__u8  pad3[PVFS_CACHELINE - 8];
};

/*
 * PVFS_SQ_NEED_WAKEUP: the host poller is about to sleep or sleeps. After
 * publishing sq_tail the guest issues a full barrier and reads sq_flags; only
 * if this bit is set does it ring the doorbell (a VM exit). See
 * pvfs_sq_needs_kick() for the pairing with the host side.
 */
#define PVFS_SQ_NEED_WAKEUP	(1u << 0)
/*
 * PVFS_CQ_NO_INTERRUPT: the guest polls the CQ and wants no interrupt. The
 * host may still send one; the guest must tolerate spurious interrupts.
 */
#define PVFS_CQ_NO_INTERRUPT	(1u << 0)

/* Opcodes. */
enum {
	PVFS_OP_READ = 0,
	PVFS_OP_WRITE = 1,
	PVFS_OP_FLUSH = 2,
	PVFS_OP_DISCARD = 3,
	PVFS_OP_WRITE_ZEROES = 4,
	PVFS_OP_MAX = 5,
};

/* SQE flags. PVFS_SQE_FUA: on WRITE, complete only once the data is durable. */
#define PVFS_SQE_FUA		(1u << 0)
#define PVFS_SQE_FLAGS_ALL	PVFS_SQE_FUA

/*
 * struct pvfs_sqe - one request (64 bytes). Written by the guest only.
 * READ and WRITE carry nr_segs segments in the tag's segment table whose
 * lengths add up to len. FLUSH has offset = len = nr_segs = 0. DISCARD and
 * WRITE_ZEROES have nr_segs = 0 and a block-aligned range.
 */
struct pvfs_sqe {
	__u8  opcode;			/* PVFS_OP_* */
	__u8  flags;			/* PVFS_SQE_* */
	__u16 tag;			/* 0 .. depth-1, unique among in-flight requests */
	__u16 nr_segs;			/* 0 .. max_segs */
	__u16 rsvd0;			/* zero */
	__u32 len;			/* bytes */
	__u32 rsvd1;			/* zero */
	__u64 offset;			/* byte offset in the volume */
	__u64 rsvd2[5];			/* zero */
};

/* struct pvfs_cqe - one completion (16 bytes). Written by the host only. */
struct pvfs_cqe {
	__u16 tag;			/* the SQE's tag */
	__u16 flags;			/* zero for now */
	__s32 result;			/* -errno, or: READ/WRITE the bytes transferred (always
					 * the full len), FLUSH/DISCARD/WRITE_ZEROES 0 */
	__u64 rsvd;			/* zero */
};

/*
 * struct pvfs_seg - one guest-physical buffer (16 bytes), in the segment
 * table of a tag: seg[tag * max_segs + i]. Written by the guest only, and
 * only while the tag is free.
 */
struct pvfs_seg {
	__u64 addr;			/* guest-physical address */
	__u32 len;			/* bytes */
	__u32 rsvd;			/* zero */
};

/* inflight[tag].state values (host-written). */
enum {
	PVFS_INFLIGHT_FREE = 0,
	PVFS_INFLIGHT_ACTIVE = 1,	/* consumed, not completed */
	PVFS_INFLIGHT_COMPLETING = 2,	/* CQE at cq_idx being published */
};

/*
 * struct pvfs_inflight - the host's record of one tag (128 bytes). Written
 * by the host only; the guest never reads it. See "Recovery" above.
 */
struct pvfs_inflight {
	struct pvfs_sqe sqe;		/* host: copy of the consumed SQE */
	__u32 state;			/* host: PVFS_INFLIGHT_* */
	__u32 cq_idx;			/* host: CQ index, valid when COMPLETING */
	__u32 sq_idx;			/* host: SQ index it was consumed from */
	__u8  rsvd[52];			/* zero */
};

#ifdef __cplusplus
#define PVFS_STATIC_ASSERT static_assert
#else
#define PVFS_STATIC_ASSERT _Static_assert
#endif
#define PVFS_OFFSETOF(t, m) __builtin_offsetof(t, m)

PVFS_STATIC_ASSERT(sizeof(struct pvfs_region_hdr) == PVFS_HDR_SIZE, "hdr size");
PVFS_STATIC_ASSERT(PVFS_OFFSETOF(struct pvfs_region_hdr, nr_queues) == 16, "hdr");
PVFS_STATIC_ASSERT(PVFS_OFFSETOF(struct pvfs_region_hdr, host_features) == 64, "hdr");
PVFS_STATIC_ASSERT(PVFS_OFFSETOF(struct pvfs_region_hdr, host_state) == 96, "hdr");
PVFS_STATIC_ASSERT(PVFS_OFFSETOF(struct pvfs_region_hdr, host_generation) == 100, "hdr");
PVFS_STATIC_ASSERT(PVFS_OFFSETOF(struct pvfs_region_hdr, reset_ack) == 104, "hdr");
PVFS_STATIC_ASSERT(PVFS_OFFSETOF(struct pvfs_region_hdr, config_generation) == 108, "hdr");
PVFS_STATIC_ASSERT(PVFS_OFFSETOF(struct pvfs_region_hdr, guest_features) == 128, "hdr");
PVFS_STATIC_ASSERT(PVFS_OFFSETOF(struct pvfs_region_hdr, reset_req) == 140, "hdr");
PVFS_STATIC_ASSERT(sizeof(struct pvfs_queue_ctrl) == 4 * PVFS_CACHELINE, "ctrl");
PVFS_STATIC_ASSERT(PVFS_OFFSETOF(struct pvfs_queue_ctrl, sq_head) == 64, "ctrl");
PVFS_STATIC_ASSERT(PVFS_OFFSETOF(struct pvfs_queue_ctrl, cq_tail) == 128, "ctrl");
PVFS_STATIC_ASSERT(PVFS_OFFSETOF(struct pvfs_queue_ctrl, cq_head) == 192, "ctrl");
PVFS_STATIC_ASSERT(sizeof(struct pvfs_sqe) == 64, "sqe");
PVFS_STATIC_ASSERT(PVFS_OFFSETOF(struct pvfs_sqe, len) == 8, "sqe");
PVFS_STATIC_ASSERT(PVFS_OFFSETOF(struct pvfs_sqe, offset) == 16, "sqe");
PVFS_STATIC_ASSERT(sizeof(struct pvfs_cqe) == 16, "cqe");
PVFS_STATIC_ASSERT(sizeof(struct pvfs_seg) == 16, "seg");
PVFS_STATIC_ASSERT(sizeof(struct pvfs_inflight) == 128, "inflight");
PVFS_STATIC_ASSERT(PVFS_OFFSETOF(struct pvfs_inflight, state) == 64, "inflight");

/* Layout arithmetic. All results are multiples of 64; the stride of 4096. */
static inline __u64 pvfs_sq_off(void)
{
	return sizeof(struct pvfs_queue_ctrl);
}

static inline __u64 pvfs_cq_off(__u32 depth)
{
	return pvfs_sq_off() + (__u64)depth * sizeof(struct pvfs_sqe);
}

static inline __u64 pvfs_seg_off(__u32 depth)
{
	return pvfs_cq_off(depth) + (__u64)depth * sizeof(struct pvfs_cqe);
}

static inline __u64 pvfs_inflight_off(__u32 depth, __u32 max_segs)
{
	return pvfs_seg_off(depth) +
	       (__u64)depth * max_segs * sizeof(struct pvfs_seg);
}

static inline __u64 pvfs_queue_stride(__u32 depth, __u32 max_segs)
{
	__u64 end = pvfs_inflight_off(depth, max_segs) +
		    (__u64)depth * sizeof(struct pvfs_inflight);

	return (end + 4095) & ~(__u64)4095;
}

static inline __u64 pvfs_region_size(__u32 nr_queues, __u32 depth, __u32 max_segs)
{
	return PVFS_HDR_SIZE + (__u64)nr_queues * pvfs_queue_stride(depth, max_segs);
}

/*
 * pvfs_geometry_valid - 1 if the creator's geometry is in range and
 * consistent with region_size, else 0. Both sides call it on their own copy
 * of the fields, never on the live header.
 */
static inline int pvfs_geometry_valid(__u32 nr_queues, __u32 depth, __u32 max_segs,
				      __u32 stride, __u64 region_size)
{
	if (nr_queues < 1 || nr_queues > PVFS_MAX_QUEUES)
		return 0;
	if (depth < 2 || depth > PVFS_MAX_DEPTH || (depth & (depth - 1)))
		return 0;
	if (max_segs < 1 || max_segs > PVFS_MAX_SEGS)
		return 0;
	if (stride != pvfs_queue_stride(depth, max_segs))
		return 0;
	return region_size >= pvfs_region_size(nr_queues, depth, max_segs);
}

/*
 * Barriers. Each side maps these onto its own primitives:
 *   PVFS_LOAD_ACQUIRE(p):     load *p; later loads/stores are not hoisted above it
 *   PVFS_STORE_RELEASE(p, v): store v to *p; earlier loads/stores are not sunk below it
 *   PVFS_READ_ONCE(p), PVFS_WRITE_ONCE(p, v): single untorn access, no ordering
 *   PVFS_MB():                full barrier, orders earlier stores before later loads
 * The region is shared with another VM or process on the same host, so
 * CPU barriers suffice (no device DMA ordering is needed). In a guest
 * kernel they are the virt_* ones: the other side runs on another host CPU
 * even when the guest kernel is built with CONFIG_SMP=n, where smp_* would
 * be mere compiler barriers.
 */
#ifdef __KERNEL__
#include <asm/barrier.h>
#include <linux/compiler.h>
#define PVFS_LOAD_ACQUIRE(p)		virt_load_acquire(p)
#define PVFS_STORE_RELEASE(p, v)	virt_store_release(p, v)
#define PVFS_READ_ONCE(p)		READ_ONCE(*(p))
#define PVFS_WRITE_ONCE(p, v)		WRITE_ONCE(*(p), v)
#define PVFS_MB()			virt_mb()
#else
#define PVFS_LOAD_ACQUIRE(p)		__atomic_load_n(p, __ATOMIC_ACQUIRE)
#define PVFS_STORE_RELEASE(p, v)	__atomic_store_n(p, v, __ATOMIC_RELEASE)
#define PVFS_READ_ONCE(p)		__atomic_load_n(p, __ATOMIC_RELAXED)
#define PVFS_WRITE_ONCE(p, v)		__atomic_store_n(p, v, __ATOMIC_RELAXED)
#if defined(__SANITIZE_THREAD__)
/*
 * ThreadSanitizer does not model fences. A sequentially consistent
 * read-modify-write is a full barrier on every architecture (a locked
 * instruction on x86) and is something TSan understands.
 */
static inline void pvfs_mb_tsan(void)
{
	static int v;

	__atomic_fetch_add(&v, 0, __ATOMIC_SEQ_CST);
}
#define PVFS_MB()			pvfs_mb_tsan()
#else
#define PVFS_MB()			__atomic_thread_fence(__ATOMIC_SEQ_CST)
#endif
#endif

/*
 * struct pvfs_queue - one side's private view of a queue pair: pointers into
 * the region plus the geometry it validated. Never stored in the region.
 */
struct pvfs_queue {
	struct pvfs_queue_ctrl *ctrl;
	struct pvfs_sqe *sq;
	struct pvfs_cqe *cq;
	struct pvfs_seg *seg;
	struct pvfs_inflight *inflight;
	__u32 depth;
	__u32 mask;
	__u32 max_segs;
};

static inline void pvfs_queue_init(struct pvfs_queue *q, void *region, __u32 qid,
				   __u32 depth, __u32 max_segs)
{
	char *base = (char *)region + PVFS_HDR_SIZE +
		     (__u64)qid * pvfs_queue_stride(depth, max_segs);

	q->ctrl = (struct pvfs_queue_ctrl *)base;
	q->sq = (struct pvfs_sqe *)(base + pvfs_sq_off());
	q->cq = (struct pvfs_cqe *)(base + pvfs_cq_off(depth));
	q->seg = (struct pvfs_seg *)(base + pvfs_seg_off(depth));
	q->inflight = (struct pvfs_inflight *)(base + pvfs_inflight_off(depth, max_segs));
	q->depth = depth;
	q->mask = depth - 1;
	q->max_segs = max_segs;
}

static inline struct pvfs_seg *pvfs_tag_segs(const struct pvfs_queue *q, __u16 tag)
{
	return &q->seg[(__u64)(tag & q->mask) * q->max_segs];
}

/* ---- guest side: produce SQEs, consume CQEs ---- */

/*
 * pvfs_sq_publish - make SQEs up to new_tail visible to the host.
 * The release orders the SQE and segment-table stores before the tail store,
 * so a host that acquires the tail sees complete entries.
 */
static inline void pvfs_sq_publish(struct pvfs_queue *q, __u32 new_tail)
{
	PVFS_STORE_RELEASE(&q->ctrl->sq_tail, new_tail);
}

/*
 * pvfs_sq_needs_kick - after pvfs_sq_publish(), 1 if the guest must ring the
 * doorbell. The full barrier orders the tail store before the flags load;
 * it pairs with the host's barrier between setting NEED_WAKEUP and
 * re-reading sq_tail (pvfs_host_prepare_sleep), so either the host sees the
 * new tail or the guest sees NEED_WAKEUP - never neither.
 */
static inline int pvfs_sq_needs_kick(struct pvfs_queue *q)
{
	PVFS_MB();
	return (PVFS_READ_ONCE(&q->ctrl->sq_flags) & PVFS_SQ_NEED_WAKEUP) != 0;
}

/*
 * pvfs_cq_peek - the next CQE, or NULL if the host has not published one.
 * The acquire on cq_tail orders it before the reads of the CQE it covers.
 */
static inline struct pvfs_cqe *pvfs_cq_peek(struct pvfs_queue *q, __u32 head)
{
	__u32 tail = PVFS_LOAD_ACQUIRE(&q->ctrl->cq_tail);

	if (head == tail)
		return (struct pvfs_cqe *)0;
	return &q->cq[head & q->mask];
}

/*
 * pvfs_cq_interrupts_off / pvfs_cq_interrupts_on - a guest draining its CQ
 * (in its interrupt handler, or while polling) tells the host that
 * completions posted meanwhile need no interrupt. After turning interrupts
 * back on it must check the CQ again: pvfs_cq_interrupts_on() returns 1 if
 * a CQE is pending at head (drain it, with interrupts off again). The full
 * barrier orders the flag store before the cq_tail load; it pairs with
 * pvfs_cq_wants_interrupt().
 */
static inline void pvfs_cq_interrupts_off(struct pvfs_queue *q)
{
	PVFS_WRITE_ONCE(&q->ctrl->cq_flags, PVFS_CQ_NO_INTERRUPT);
}

static inline int pvfs_cq_interrupts_on(struct pvfs_queue *q, __u32 head)
{
	PVFS_WRITE_ONCE(&q->ctrl->cq_flags, 0);
	PVFS_MB();
	return PVFS_LOAD_ACQUIRE(&q->ctrl->cq_tail) != head;
}

/*
 * pvfs_cq_release - give CQ slots up to new_head back to the host. The
 * release orders the guest's reads of those CQEs before the host may
 * overwrite them.
 */
static inline void pvfs_cq_release(struct pvfs_queue *q, __u32 new_head)
{
	PVFS_STORE_RELEASE(&q->ctrl->cq_head, new_head);
}

/* ---- host side: consume SQEs, produce CQEs ---- */

/*
 * pvfs_sq_tail_acquire - the guest's published SQ tail. The acquire orders
 * it before the reads of the SQEs and segments it covers. The caller must
 * check (tail - head) <= depth: the guest may write anything here.
 */
static inline __u32 pvfs_sq_tail_acquire(struct pvfs_queue *q)
{
	return PVFS_LOAD_ACQUIRE(&q->ctrl->sq_tail);
}

/*
 * pvfs_sq_consume - record that the host has taken SQEs up to new_head.
 * Release: the host's copies of those entries are complete before the guest
 * may reuse the slots (it does not read sq_head for flow control, but a
 * restarted host does).
 */
static inline void pvfs_sq_consume(struct pvfs_queue *q, __u32 new_head)
{
	PVFS_STORE_RELEASE(&q->ctrl->sq_head, new_head);
}

/*
 * pvfs_cq_publish - make CQEs up to new_tail visible to the guest. The
 * release orders the CQE stores (and the inflight COMPLETING record) before
 * the tail store.
 */
static inline void pvfs_cq_publish(struct pvfs_queue *q, __u32 new_tail)
{
	PVFS_STORE_RELEASE(&q->ctrl->cq_tail, new_tail);
}

/*
 * pvfs_host_prepare_sleep - set NEED_WAKEUP and return 1 if the SQ is still
 * empty at old_head (safe to sleep), 0 if new work arrived (the caller clears
 * the flag and keeps polling). The full barrier orders the flag store before
 * the tail load; it pairs with the barrier in pvfs_sq_needs_kick().
 */
static inline int pvfs_host_prepare_sleep(struct pvfs_queue *q, __u32 old_head)
{
	PVFS_WRITE_ONCE(&q->ctrl->sq_flags, PVFS_SQ_NEED_WAKEUP);
	PVFS_MB();
	return PVFS_READ_ONCE(&q->ctrl->sq_tail) == old_head;
}

static inline void pvfs_host_clear_wakeup(struct pvfs_queue *q)
{
	PVFS_WRITE_ONCE(&q->ctrl->sq_flags, 0);
}

/*
 * pvfs_cq_wants_interrupt - after pvfs_cq_publish(), 0 if the guest asked
 * for no interrupt. The full barrier orders the cq_tail store before the
 * flags load; it pairs with the guest's barrier between clearing
 * NO_INTERRUPT and re-checking the CQ (pvfs_cq_interrupts_on), so either the
 * guest sees the new CQE or the host sees the flag cleared and interrupts.
 */
static inline int pvfs_cq_wants_interrupt(struct pvfs_queue *q)
{
	PVFS_MB();
	return !(PVFS_READ_ONCE(&q->ctrl->cq_flags) & PVFS_CQ_NO_INTERRUPT);
}

/* ---- reset handshake (PVFS_F_RESET) ---- */

/*
 * pvfs_reset_request - guest: ask the host to forget this region's previous
 * life; returns the value pvfs_reset_acked() waits for. The release orders
 * the guest's earlier stores (guest_features) before the request; it pairs
 * with the acquire in pvfs_host_reset_pending(). The caller then rings
 * queue 0's doorbell unconditionally: the host may sleep with NEED_WAKEUP
 * clear, or be in its heartbeat sleep.
 */
static inline __u32 pvfs_reset_request(struct pvfs_region_hdr *h)
{
	__u32 req = PVFS_READ_ONCE(&h->reset_req) + 1;

	PVFS_STORE_RELEASE(&h->reset_req, req);
	return req;
}

/*
 * pvfs_reset_acked - guest: 1 once the host answered request req. The
 * acquire orders the load of reset_ack before the guest's reads of sq_head
 * and cq_tail; it pairs with the release in pvfs_host_reset_ack().
 */
static inline int pvfs_reset_acked(struct pvfs_region_hdr *h, __u32 req)
{
	return PVFS_LOAD_ACQUIRE(&h->reset_ack) == req;
}

/*
 * pvfs_host_reset_pending - host: 1 (and the request in *req) if the guest
 * asked for a reset that ack, the host's own copy of the last answer, does
 * not cover. The acquire pairs with the release in pvfs_reset_request(): the
 * host then sees the guest's indices and features as of the request.
 */
static inline int pvfs_host_reset_pending(struct pvfs_region_hdr *h, __u32 ack, __u32 *req)
{
	__u32 r = PVFS_LOAD_ACQUIRE(&h->reset_req);

	if (r == ack)
		return 0;
	*req = r;
	return 1;
}

/*
 * pvfs_host_reset_ack - host: answer request req, after it has set every
 * queue's sq_head, cq_tail and in-flight table. The release orders those
 * stores before the ack; it pairs with the acquire in pvfs_reset_acked().
 */
static inline void pvfs_host_reset_ack(struct pvfs_region_hdr *h, __u32 req)
{
	PVFS_STORE_RELEASE(&h->reset_ack, req);
}

/* ---- volume properties (config_generation) ---- */

/*
 * pvfs_host_config_begin / pvfs_host_config_end - host: bracket stores to
 * the volume properties. begin makes config_generation odd and returns it;
 * its full barrier orders the odd count before the property stores. end
 * release-stores the next even count, ordered after them. They pair with
 * the acquire loads in pvfs_config_read_capacity(): a guest that read the
 * same even count before and after its property loads read no torn value.
 */
static inline __u32 pvfs_host_config_begin(struct pvfs_region_hdr *h)
{
	__u32 gen = PVFS_READ_ONCE(&h->config_generation);

	gen += (gen & 1) ? 2 : 1;	/* odd; a host that died mid-change left it odd */
	PVFS_WRITE_ONCE(&h->config_generation, gen);
	PVFS_MB();
	return gen;
}

static inline void pvfs_host_config_end(struct pvfs_region_hdr *h, __u32 odd_gen)
{
	PVFS_STORE_RELEASE(&h->config_generation, odd_gen + 1);
}

/*
 * pvfs_config_read_capacity - guest: a consistent capacity and the even
 * config_generation it belongs to, or -1 (busy: try again later; the host
 * is in the middle of a change, or died in one). The first acquire orders
 * the count before the capacity load, the second the capacity before the
 * re-check of the count; they pair with pvfs_host_config_begin/end.
 */
static inline int pvfs_config_read_capacity(struct pvfs_region_hdr *h, __u64 *ret_capacity,
					    __u32 *ret_gen)
{
	__u32 gen = PVFS_LOAD_ACQUIRE(&h->config_generation);
	__u64 cap;

	if (gen & 1)
		return -1;
	cap = PVFS_LOAD_ACQUIRE(&h->capacity);
	if (PVFS_READ_ONCE(&h->config_generation) != gen)
		return -1;
	*ret_capacity = cap;
	*ret_gen = gen;
	return 0;
}

#endif /* PVFS_RING_H */
