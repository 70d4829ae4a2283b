/* SPDX-License-Identifier: MIT */
/*
 * test_request - request validation and translation (daemon/request.c):
 * every malformed field gets its errno, and good requests translate
 * guest-physical segments into pvfsd's mapping of guest RAM.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "pvfsd.h"
#include "request.h"
#include "tlib.h"
#include "util.h"

struct daemon_config cfg;

static uint8_t ram_lo[64 * 1024], ram_hi[64 * 1024];
static struct tenant_io tio;

static struct pvfs_sqe rw(uint8_t op, uint64_t off, uint32_t len, uint16_t nsegs)
{
	return (struct pvfs_sqe){ .opcode = op, .offset = off, .len = len, .nr_segs = nsegs };
}

static int prep(const struct pvfs_sqe *sqe, const struct pvfs_seg *segs)
{
	struct iovec iov[8];
	uint32_t n = 99;

	return request_prepare(&tio, sqe, segs, iov, &n);
}

#define SQE(op, off, length, nsegs, ...) \
	{ .opcode = (op), .offset = (off), .len = (length), .nr_segs = (nsegs), __VA_ARGS__ }
#define SEG(a, l, ...) { .addr = (a), .len = (l), __VA_ARGS__ }
#define ONE { SEG(4096, 4096) }
#define LO_END sizeof(ram_lo)
#define HI (1ull << 32)

/*
 * One request, the answer validation must give, and the tenant it is
 * checked against: by default 1 MiB, 512-byte blocks, O_DIRECT, writable,
 * max_segs 4, max_io_bytes 32 KiB, max_discard_bytes 1 MiB, RAM at gpa 0
 * and 4 GiB (64 KiB each).
 */
struct req_case {
	const char *what;
	struct pvfs_sqe sqe;
	struct pvfs_seg segs[4];
	int want;
	bool writeback;			/* cache=writeback: no O_DIRECT alignment */
	bool readonly;
	uint32_t max_discard;		/* if not 0, instead of 1 MiB */
};

static const struct req_case cases[] = {
	/* Good requests. */
	{ .what = "read of the last block", .sqe = SQE(PVFS_OP_READ, (1 << 20) - 4096, 4096, 1),
	  .segs = ONE, .want = 0 },
	{ .what = "flush", .sqe = SQE(PVFS_OP_FLUSH, 0, 0, 0), .want = 0 },
	{ .what = "discard", .sqe = SQE(PVFS_OP_DISCARD, 4096, 8192, 0), .want = 0 },
	{ .what = "write-zeroes of the whole volume",
	  .sqe = SQE(PVFS_OP_WRITE_ZEROES, 0, 1 << 20, 0), .want = 0 },

	/* Malformed header fields. */
	{ .what = "unknown opcode", .sqe = SQE(PVFS_OP_MAX, 0, 4096, 1), .segs = ONE,
	  .want = -EINVAL },
	{ .what = "opcode 255", .sqe = SQE(0xff, 0, 4096, 1), .segs = ONE, .want = -EINVAL },
	{ .what = "unknown flag", .sqe = SQE(PVFS_OP_WRITE, 0, 4096, 1, .flags = 0x80),
	  .segs = ONE, .want = -EINVAL },
	{ .what = "FUA on a read", .sqe = SQE(PVFS_OP_READ, 0, 4096, 1, .flags = PVFS_SQE_FUA),
	  .segs = ONE, .want = -EINVAL },
	{ .what = "rsvd0 set", .sqe = SQE(PVFS_OP_READ, 0, 4096, 1, .rsvd0 = 1), .segs = ONE,
	  .want = -EINVAL },
	{ .what = "rsvd1 set", .sqe = SQE(PVFS_OP_READ, 0, 4096, 1, .rsvd1 = 1), .segs = ONE,
	  .want = -EINVAL },
	{ .what = "rsvd2[0] set",
	  .sqe = SQE(PVFS_OP_READ, 0, 4096, 1, .rsvd2 = { [0] = 1ull << 63 }), .segs = ONE,
	  .want = -EINVAL },
	{ .what = "rsvd2[1] set",
	  .sqe = SQE(PVFS_OP_READ, 0, 4096, 1, .rsvd2 = { [1] = 1ull << 63 }), .segs = ONE,
	  .want = -EINVAL },
	{ .what = "rsvd2[2] set",
	  .sqe = SQE(PVFS_OP_READ, 0, 4096, 1, .rsvd2 = { [2] = 1ull << 63 }), .segs = ONE,
	  .want = -EINVAL },
	{ .what = "rsvd2[3] set",
	  .sqe = SQE(PVFS_OP_READ, 0, 4096, 1, .rsvd2 = { [3] = 1ull << 63 }), .segs = ONE,
	  .want = -EINVAL },
	{ .what = "rsvd2[4] set",
	  .sqe = SQE(PVFS_OP_READ, 0, 4096, 1, .rsvd2 = { [4] = 1ull << 63 }), .segs = ONE,
	  .want = -EINVAL },

	/* Segment count and length. */
	{ .what = "read with no segments", .sqe = SQE(PVFS_OP_READ, 0, 4096, 0), .segs = ONE,
	  .want = -EINVAL },
	{ .what = "more segments than max_segs", .sqe = SQE(PVFS_OP_READ, 0, 4096, 5), .segs = ONE,
	  .want = -EINVAL },
	{ .what = "zero length", .sqe = SQE(PVFS_OP_READ, 0, 0, 1), .segs = ONE, .want = -EINVAL },
	{ .what = "longer than max_io_bytes", .sqe = SQE(PVFS_OP_READ, 0, 65536, 1), .segs = ONE,
	  .want = -EINVAL },
	{ .what = "length differs from the segments' sum", .sqe = SQE(PVFS_OP_READ, 0, 8192, 1),
	  .segs = ONE, .want = -EINVAL },
	{ .what = "zero-length segment", .sqe = SQE(PVFS_OP_READ, 0, 4096, 1),
	  .segs = { SEG(0, 0) }, .want = -EINVAL },
	{ .what = "segment rsvd set", .sqe = SQE(PVFS_OP_READ, 0, 4096, 1),
	  .segs = { SEG(0, 4096, .rsvd = 1) }, .want = -EINVAL },

	/* Alignment (O_DIRECT). */
	{ .what = "misaligned offset", .sqe = SQE(PVFS_OP_READ, 100, 4096, 1), .segs = ONE,
	  .want = -EINVAL },
	{ .what = "misaligned length", .sqe = SQE(PVFS_OP_READ, 0, 1000, 1),
	  .segs = { SEG(4096, 1000) }, .want = -EINVAL },
	{ .what = "misaligned segment address", .sqe = SQE(PVFS_OP_READ, 0, 4096, 1),
	  .segs = { SEG(4097, 4096) }, .want = -EINVAL },
	{ .what = "misaligned buffer is fine with cache=writeback",
	  .sqe = SQE(PVFS_OP_READ, 0, 4096, 1), .segs = { SEG(4097, 4096) }, .want = 0,
	  .writeback = true },

	/* Guest memory bounds. */
	{ .what = "segment just past low RAM", .sqe = SQE(PVFS_OP_READ, 0, 512, 1),
	  .segs = { SEG(LO_END, 512) }, .want = -EINVAL },
	{ .what = "segment straddling the end of RAM", .sqe = SQE(PVFS_OP_READ, 0, 1024, 1),
	  .segs = { SEG(LO_END - 512, 1024) }, .want = -EINVAL },
	{ .what = "segment straddling the hole", .sqe = SQE(PVFS_OP_READ, 0, 1024, 1),
	  .segs = { SEG(HI - 512, 1024) }, .want = -EINVAL },
	{ .what = "segment wrapping 2^64", .sqe = SQE(PVFS_OP_READ, 0, 1024, 1),
	  .segs = { SEG(UINT64_MAX - 511, 1024) }, .want = -EINVAL },
	{ .what = "segment in unmapped space", .sqe = SQE(PVFS_OP_READ, 0, 512, 1),
	  .segs = { SEG(1ull << 40, 512) }, .want = -EINVAL },
	{ .what = "second segment out of RAM", .sqe = SQE(PVFS_OP_WRITE, 0, 4608, 2),
	  .segs = { SEG(0, 4096), SEG(1ull << 40, 512) }, .want = -EINVAL },

	/* Volume bounds. */
	{ .what = "read at capacity", .sqe = SQE(PVFS_OP_READ, 1 << 20, 4096, 1), .segs = ONE,
	  .want = -ENOSPC },
	{ .what = "read crossing capacity", .sqe = SQE(PVFS_OP_READ, (1 << 20) - 512, 4096, 1),
	  .segs = ONE, .want = -ENOSPC },
	{ .what = "offset + length overflowing 2^64",
	  .sqe = SQE(PVFS_OP_READ, UINT64_MAX - 511, 4096, 1), .segs = ONE, .want = -ENOSPC },
	{ .what = "discard past capacity", .sqe = SQE(PVFS_OP_DISCARD, 1 << 20, 512, 0),
	  .want = -ENOSPC },

	/* max_discard_bytes is enforced, not only advertised (issue 8, item 8). */
	{ .what = "discard of exactly max_discard_bytes", .sqe = SQE(PVFS_OP_DISCARD, 0, 65536, 0),
	  .want = 0, .max_discard = 65536 },
	{ .what = "discard above max_discard_bytes",
	  .sqe = SQE(PVFS_OP_DISCARD, 0, 65536 + 512, 0), .want = -EINVAL, .max_discard = 65536 },
	{ .what = "write-zeroes above max_discard_bytes",
	  .sqe = SQE(PVFS_OP_WRITE_ZEROES, 0, 65536 + 512, 0), .want = -EINVAL,
	  .max_discard = 65536 },

	/* FLUSH, DISCARD, WRITE_ZEROES shapes. */
	{ .what = "flush with an offset", .sqe = SQE(PVFS_OP_FLUSH, 512, 0, 0), .want = -EINVAL },
	{ .what = "flush with a length", .sqe = SQE(PVFS_OP_FLUSH, 0, 512, 0), .want = -EINVAL },
	{ .what = "flush with a segment", .sqe = SQE(PVFS_OP_FLUSH, 0, 0, 1), .segs = ONE,
	  .want = -EINVAL },
	{ .what = "discard with a segment", .sqe = SQE(PVFS_OP_DISCARD, 0, 4096, 1), .segs = ONE,
	  .want = -EINVAL },
	{ .what = "discard of nothing", .sqe = SQE(PVFS_OP_DISCARD, 0, 0, 0), .want = -EINVAL },
	{ .what = "misaligned write-zeroes", .sqe = SQE(PVFS_OP_WRITE_ZEROES, 100, 512, 0),
	  .want = -EINVAL },

	/* Read-only volumes. */
	{ .what = "read on a read-only volume", .sqe = SQE(PVFS_OP_READ, 0, 4096, 1), .segs = ONE,
	  .want = 0, .readonly = true },
	{ .what = "write on a read-only volume", .sqe = SQE(PVFS_OP_WRITE, 0, 4096, 1),
	  .segs = ONE, .want = -EROFS, .readonly = true },
	{ .what = "discard on a read-only volume", .sqe = SQE(PVFS_OP_DISCARD, 0, 4096, 0),
	  .want = -EROFS, .readonly = true },
	{ .what = "write-zeroes on a read-only volume",
	  .sqe = SQE(PVFS_OP_WRITE_ZEROES, 0, 4096, 0), .want = -EROFS, .readonly = true },
	{ .what = "flush on a read-only volume", .sqe = SQE(PVFS_OP_FLUSH, 0, 0, 0), .want = 0,
	  .readonly = true },
};

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	return tl_rand(&rng);
}

/* in_ram - [p, p+len) lies inside one of the guest RAM buffers. */
static bool in_ram(const void *p, size_t len)
{
	const uint8_t *b = p;

	return (b >= ram_lo && b + len <= ram_lo + sizeof(ram_lo) && b + len >= b) ||
	       (b >= ram_hi && b + len <= ram_hi + sizeof(ram_hi) && b + len >= b);
}

/* gpa_off - the offset of p in its RAM buffer (= in its guest memory region). */
static uintptr_t gpa_off(const void *p)
{
	const uint8_t *b = p;

	if (b >= ram_hi && b < ram_hi + sizeof(ram_hi))
		return (uintptr_t)(b - ram_hi);
	return (uintptr_t)(b - ram_lo);
}

/*
 * random_requests - a property test: a million requests built from good
 * ones with random fields flipped. Whatever the input, an accepted request
 * must only touch guest RAM, stay inside the volume, add up, and respect
 * alignment and read-only; run under ASan and UBSan by `make check`.
 */
static void random_requests(void)
{
	static const uint64_t gpas[] = { 0, 512, 4096, sizeof(ram_lo) - 4096, sizeof(ram_lo),
					 1ull << 32, (1ull << 32) + sizeof(ram_hi) - 512,
					 (1ull << 32) - 512, UINT64_MAX - 511, 1ull << 40 };
	uint64_t accepted = 0, bad = 0;

	for (int i = 0; i < 1000000; i++) {
		struct pvfs_sqe q = { .opcode = (uint8_t)(rnd() % 7), .nr_segs = (uint16_t)(rnd() % 6) };
		struct pvfs_seg sg[8];
		struct iovec iov[8];
		uint32_t n = 0, total = 0;
		int r;

		q.offset = (rnd() % 3 == 0) ? rnd() : (rnd() % ((1 << 20) + 8192)) & ~511ull;
		q.len = (rnd() % 4 == 0) ? (uint32_t)rnd() : (uint32_t)((rnd() % 16) * 512);
		if (rnd() % 20 == 0)
			q.flags = (uint8_t)rnd();
		if (rnd() % 50 == 0)
			q.rsvd2[rnd() % 5] = rnd();
		for (int k = 0; k < 8; k++) {
			sg[k].addr = gpas[rnd() % ARRAY_SIZE(gpas)] + ((rnd() % 4 == 0) ? rnd() % 8192 : 0);
			sg[k].len = (rnd() % 4 == 0) ? (uint32_t)rnd() : (uint32_t)((rnd() % 9) * 512);
			sg[k].rsvd = rnd() % 40 == 0;
		}
		if (rnd() % 2) {	/* make the lengths add up, so more get through */
			q.len = 0;
			for (int k = 0; k < q.nr_segs && k < 8; k++)
				q.len += sg[k].len;
		}
		tio.readonly = rnd() % 8 == 0;
		tio.direct = rnd() % 2;
		r = request_prepare(&tio, &q, sg, iov, &n);
		if (r)
			continue;
		accepted++;
		if (q.offset + q.len > tio.capacity || q.offset + q.len < q.offset)
			bad++;
		if (tio.readonly && q.opcode != PVFS_OP_READ && q.opcode != PVFS_OP_FLUSH)
			bad++;
		if (q.opcode == PVFS_OP_READ || q.opcode == PVFS_OP_WRITE) {
			if (n != q.nr_segs || !n)
				bad++;
			for (uint32_t k = 0; k < n; k++) {
				if (!in_ram(iov[k].iov_base, iov[k].iov_len))
					bad++;
				if (tio.direct && (gpa_off(iov[k].iov_base) | iov[k].iov_len) & 511)
					bad++;
				total += (uint32_t)iov[k].iov_len;
			}
			if (total != q.len || (q.offset | q.len) & 511)
				bad++;
		}
	}
	TL_CHECK(bad == 0 && accepted > 1000, "1000000 random requests: %llu accepted, %llu "
		 "violated a property", (unsigned long long)accepted, (unsigned long long)bad);
}

/*
 * short_transfers - a transfer split at random points (as short reads and
 * writes return): after each piece the remaining iovecs must describe
 * exactly the bytes not yet transferred, in order, so the continuation
 * reads or writes each guest byte once.
 */
static void short_transfers(void)
{
	static uint8_t buf[8 * 4096];
	uint64_t bad = 0, pieces = 0;

	for (int round = 0; round < 20000; round++) {
		struct iovec iov[8];
		uint32_t nr = 1 + (uint32_t)(rnd() % 8), pos = 0, total = 0, done = 0;
		size_t off = 0;

		for (uint32_t i = 0; i < nr; i++) {
			iov[i].iov_base = buf + off;
			iov[i].iov_len = 1 + rnd() % 4096;
			off += iov[i].iov_len;
			total += (uint32_t)iov[i].iov_len;
		}
		while (done < total) {
			uint32_t n = 1 + (uint32_t)(rnd() % (total - done)), left = 0;

			if (rnd() % 4 == 0)	/* often land exactly on a segment boundary */
				n = (uint32_t)iov[pos].iov_len;
			request_advance_iov(iov, nr, &pos, n);
			done += n;
			pieces++;
			for (uint32_t i = pos; i < nr; i++)
				left += (uint32_t)iov[i].iov_len;
			if (left != total - done)
				bad++;
			/* The next byte to transfer is the done-th byte of the buffer. */
			if (done < total && ((uint8_t *)iov[pos].iov_base != buf + done ||
					     !iov[pos].iov_len))
				bad++;
		}
		if (pos != nr)
			bad++;
	}
	TL_CHECK(bad == 0, "20000 transfers cut into %llu short pieces: the continuation always "
		 "covers exactly the rest", (unsigned long long)pieces);
}

int main(void)
{
	struct pvfs_seg one[1] = { { .addr = 4096, .len = 4096 } };
	struct pvfs_seg two[2] = { { .addr = 0, .len = 4096 }, { .addr = (1ull << 32) + 512, .len = 1024 } };
	struct pvfs_sqe q;
	struct iovec iov[8];
	uint32_t n;

	tio.nr_mem = 2;
	tio.mem[0] = (struct guest_mem){ .gpa = 0, .size = sizeof(ram_lo), .host = ram_lo };
	tio.mem[1] = (struct guest_mem){ .gpa = 1ull << 32, .size = sizeof(ram_hi), .host = ram_hi };
	tio.capacity = 1 << 20;
	tio.lbs = 512;
	tio.max_segs = 4;
	tio.max_io_bytes = 32768;
	tio.max_discard_bytes = 1 << 20;
	tio.direct = true;

	/* Good requests and their translation. */
	q = rw(PVFS_OP_READ, 8192, 4096, 1);
	n = 0;
	TL_CHECK(request_prepare(&tio, &q, one, iov, &n) == 0 && n == 1 &&
		 iov[0].iov_base == ram_lo + 4096 && iov[0].iov_len == 4096,
		 "read of one segment translates into low RAM");
	q = rw(PVFS_OP_WRITE, 0, 5120, 2);
	q.flags = PVFS_SQE_FUA;
	TL_CHECK(request_prepare(&tio, &q, two, iov, &n) == 0 && n == 2 &&
		 iov[1].iov_base == ram_hi + 512 && iov[1].iov_len == 1024,
		 "FUA write of two segments, second above 4 GiB");
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct req_case *c = &cases[i];
		int r;

		tio.direct = !c->writeback;
		tio.readonly = c->readonly;
		tio.max_discard_bytes = c->max_discard ? c->max_discard : 1 << 20;
		r = prep(&c->sqe, c->segs);
		TL_CHECK(r == c->want, "%s: %d (want %d)", c->what, r, c->want);
	}
	tio.direct = true;
	tio.readonly = false;
	tio.max_discard_bytes = 1 << 20;
	random_requests();
	short_transfers();
	return tl_done();
}
