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

#define EXPECT(sqe, segs, err, what) do { \
	int r_ = prep(&(sqe), (segs)); \
	TL_CHECK(r_ == (err), "%s: %d (want %d)", what, r_, err); \
} while (0)

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
	struct pvfs_seg s[2];
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
	q = rw(PVFS_OP_READ, (1 << 20) - 4096, 4096, 1);
	EXPECT(q, one, 0, "read of the last block");
	q = rw(PVFS_OP_FLUSH, 0, 0, 0);
	EXPECT(q, NULL, 0, "flush");
	q = rw(PVFS_OP_DISCARD, 4096, 8192, 0);
	EXPECT(q, NULL, 0, "discard");
	q = rw(PVFS_OP_WRITE_ZEROES, 0, 1 << 20, 0);
	EXPECT(q, NULL, 0, "write-zeroes of the whole volume");

	/* Malformed header fields. */
	q = rw(PVFS_OP_MAX, 0, 4096, 1);
	EXPECT(q, one, -EINVAL, "unknown opcode");
	q = rw(0xff, 0, 4096, 1);
	EXPECT(q, one, -EINVAL, "opcode 255");
	q = rw(PVFS_OP_WRITE, 0, 4096, 1);
	q.flags = 0x80;
	EXPECT(q, one, -EINVAL, "unknown flag");
	q = rw(PVFS_OP_READ, 0, 4096, 1);
	q.flags = PVFS_SQE_FUA;
	EXPECT(q, one, -EINVAL, "FUA on a read");
	q = rw(PVFS_OP_READ, 0, 4096, 1);
	q.rsvd0 = 1;
	EXPECT(q, one, -EINVAL, "rsvd0 set");
	q = rw(PVFS_OP_READ, 0, 4096, 1);
	q.rsvd1 = 1;
	EXPECT(q, one, -EINVAL, "rsvd1 set");
	for (int i = 0; i < 5; i++) {
		char what[32];

		q = rw(PVFS_OP_READ, 0, 4096, 1);
		q.rsvd2[i] = 1ull << 63;
		snprintf(what, sizeof(what), "rsvd2[%d] set", i);
		EXPECT(q, one, -EINVAL, what);
	}

	/* Segment count and length. */
	q = rw(PVFS_OP_READ, 0, 4096, 0);
	EXPECT(q, one, -EINVAL, "read with no segments");
	q = rw(PVFS_OP_READ, 0, 4096, 5);
	EXPECT(q, one, -EINVAL, "more segments than max_segs");
	q = rw(PVFS_OP_READ, 0, 0, 1);
	EXPECT(q, one, -EINVAL, "zero length");
	q = rw(PVFS_OP_READ, 0, 65536, 1);
	EXPECT(q, one, -EINVAL, "longer than max_io_bytes");
	q = rw(PVFS_OP_READ, 0, 8192, 1);
	EXPECT(q, one, -EINVAL, "length differs from the segments' sum");
	s[0] = (struct pvfs_seg){ .addr = 0, .len = 0 };
	q = rw(PVFS_OP_READ, 0, 4096, 1);
	EXPECT(q, s, -EINVAL, "zero-length segment");
	s[0] = (struct pvfs_seg){ .addr = 0, .len = 4096, .rsvd = 1 };
	EXPECT(q, s, -EINVAL, "segment rsvd set");

	/* Alignment (O_DIRECT). */
	q = rw(PVFS_OP_READ, 100, 4096, 1);
	EXPECT(q, one, -EINVAL, "misaligned offset");
	s[0] = (struct pvfs_seg){ .addr = 4096, .len = 1000 };
	q = rw(PVFS_OP_READ, 0, 1000, 1);
	EXPECT(q, s, -EINVAL, "misaligned length");
	s[0] = (struct pvfs_seg){ .addr = 4097, .len = 4096 };
	q = rw(PVFS_OP_READ, 0, 4096, 1);
	EXPECT(q, s, -EINVAL, "misaligned segment address");
	tio.direct = false;
	EXPECT(q, s, 0, "misaligned buffer is fine with cache=writeback");
	tio.direct = true;

	/* Guest memory bounds. */
	s[0] = (struct pvfs_seg){ .addr = sizeof(ram_lo), .len = 512 };
	q = rw(PVFS_OP_READ, 0, 512, 1);
	EXPECT(q, s, -EINVAL, "segment just past low RAM");
	s[0] = (struct pvfs_seg){ .addr = sizeof(ram_lo) - 512, .len = 1024 };
	q = rw(PVFS_OP_READ, 0, 1024, 1);
	EXPECT(q, s, -EINVAL, "segment straddling the end of RAM");
	s[0] = (struct pvfs_seg){ .addr = (1ull << 32) - 512, .len = 1024 };
	q = rw(PVFS_OP_READ, 0, 1024, 1);
	EXPECT(q, s, -EINVAL, "segment straddling the hole");
	s[0] = (struct pvfs_seg){ .addr = UINT64_MAX - 511, .len = 1024 };
	q = rw(PVFS_OP_READ, 0, 1024, 1);
	EXPECT(q, s, -EINVAL, "segment wrapping 2^64");
	s[0] = (struct pvfs_seg){ .addr = 1ull << 40, .len = 512 };
	q = rw(PVFS_OP_READ, 0, 512, 1);
	EXPECT(q, s, -EINVAL, "segment in unmapped space");
	s[0] = (struct pvfs_seg){ .addr = 0, .len = 4096 };
	s[1] = (struct pvfs_seg){ .addr = 1ull << 40, .len = 512 };
	q = rw(PVFS_OP_WRITE, 0, 4608, 2);
	EXPECT(q, s, -EINVAL, "second segment out of RAM");

	/* Volume bounds. */
	q = rw(PVFS_OP_READ, 1 << 20, 4096, 1);
	EXPECT(q, one, -ENOSPC, "read at capacity");
	q = rw(PVFS_OP_READ, (1 << 20) - 512, 4096, 1);
	EXPECT(q, one, -ENOSPC,
	       "read crossing capacity");
	q = rw(PVFS_OP_READ, UINT64_MAX - 511, 4096, 1);
	EXPECT(q, one, -ENOSPC,
	       "offset + length overflowing 2^64");
	q = rw(PVFS_OP_DISCARD, 1 << 20, 512, 0);
	EXPECT(q, NULL, -ENOSPC, "discard past capacity");

	/* max_discard_bytes is enforced, not only advertised (issue 8, item 8). */
	tio.max_discard_bytes = 65536;
	q = rw(PVFS_OP_DISCARD, 0, 65536, 0);
	EXPECT(q, NULL, 0, "discard of exactly max_discard_bytes");
	q = rw(PVFS_OP_DISCARD, 0, 65536 + 512, 0);
	EXPECT(q, NULL, -EINVAL, "discard above max_discard_bytes");
	q = rw(PVFS_OP_WRITE_ZEROES, 0, 65536 + 512, 0);
	EXPECT(q, NULL, -EINVAL, "write-zeroes above max_discard_bytes");
	tio.max_discard_bytes = 1 << 20;

	/* FLUSH, DISCARD, WRITE_ZEROES shapes. */
	q = rw(PVFS_OP_FLUSH, 512, 0, 0);
	EXPECT(q, NULL, -EINVAL, "flush with an offset");
	q = rw(PVFS_OP_FLUSH, 0, 512, 0);
	EXPECT(q, NULL, -EINVAL, "flush with a length");
	q = rw(PVFS_OP_FLUSH, 0, 0, 1);
	EXPECT(q, one, -EINVAL, "flush with a segment");
	q = rw(PVFS_OP_DISCARD, 0, 4096, 1);
	EXPECT(q, one, -EINVAL, "discard with a segment");
	q = rw(PVFS_OP_DISCARD, 0, 0, 0);
	EXPECT(q, NULL, -EINVAL, "discard of nothing");
	q = rw(PVFS_OP_WRITE_ZEROES, 100, 512, 0);
	EXPECT(q, NULL, -EINVAL,
	       "misaligned write-zeroes");

	/* Read-only volumes. */
	tio.readonly = true;
	q = rw(PVFS_OP_READ, 0, 4096, 1);
	EXPECT(q, one, 0, "read on a read-only volume");
	q = rw(PVFS_OP_WRITE, 0, 4096, 1);
	EXPECT(q, one, -EROFS, "write on a read-only volume");
	q = rw(PVFS_OP_DISCARD, 0, 4096, 0);
	EXPECT(q, NULL, -EROFS, "discard on a read-only volume");
	q = rw(PVFS_OP_WRITE_ZEROES, 0, 4096, 0);
	EXPECT(q, NULL, -EROFS,
	       "write-zeroes on a read-only volume");
	q = rw(PVFS_OP_FLUSH, 0, 0, 0);
	EXPECT(q, NULL, 0, "flush on a read-only volume");
	tio.readonly = false;
	random_requests();
	short_transfers();
	return tl_done();
}
