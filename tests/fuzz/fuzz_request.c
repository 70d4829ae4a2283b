/* SPDX-License-Identifier: MIT */
/*
 * fuzz_request - libFuzzer harness for request validation and translation
 * (daemon/request.c), the code that reads what a guest put in shared memory.
 *
 * Input: 2 bytes of tenant setup (read-only, O_DIRECT, block size, segment
 * limit), then a 64-byte SQE, then up to PVFS_MAX_SEGS 16-byte segments, all
 * taken as the guest wrote them. Whatever the bytes, an accepted request
 * must keep the properties pvfsd relies on; a violation aborts, which
 * libFuzzer reports as a crash (and ASan/UBSan catch the rest).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pvfsd.h"
#include "request.h"

struct daemon_config cfg;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Guest RAM: 64 KiB at GPA 0 and 64 KiB at 4 GiB, as a q35 guest has holes. */
static uint8_t ram_lo[64 * 1024], ram_hi[64 * 1024];

static int in_ram(const void *p, size_t len)
{
	const uint8_t *b = p;

	if (b >= ram_lo && b <= ram_lo + sizeof(ram_lo))
		return len <= (size_t)(ram_lo + sizeof(ram_lo) - b);
	if (b >= ram_hi && b <= ram_hi + sizeof(ram_hi))
		return len <= (size_t)(ram_hi + sizeof(ram_hi) - b);
	return 0;
}

static uintptr_t ram_off(const void *p)
{
	const uint8_t *b = p;

	return (uintptr_t)(b >= ram_hi && b < ram_hi + sizeof(ram_hi) ? b - ram_hi : b - ram_lo);
}

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t lbs[4] = { 512, 1024, 4096, 512 };
	struct tenant_io tio = { 0 };
	struct pvfs_sqe sqe;
	struct pvfs_seg segs[PVFS_MAX_SEGS];
	struct iovec iov[PVFS_MAX_SEGS];
	uint32_t n = 0, nsegs;
	uint64_t total = 0;

	if (size < 2 + sizeof(sqe))
		return 0;
	tio.nr_mem = 2;
	tio.mem[0] = (struct guest_mem){ .gpa = 0, .size = sizeof(ram_lo), .host = ram_lo };
	tio.mem[1] = (struct guest_mem){ .gpa = 1ull << 32, .size = sizeof(ram_hi), .host = ram_hi };
	tio.capacity = 1 << 20;
	tio.readonly = data[0] & 1;
	tio.direct = (data[0] >> 1) & 1;
	tio.lbs = lbs[(data[0] >> 2) & 3];
	tio.max_segs = 1 + data[1] % PVFS_MAX_SEGS;
	tio.max_io_bytes = 128 * 1024;
	tio.max_discard_bytes = 256 * 1024;
	memcpy(&sqe, data + 2, sizeof(sqe));
	nsegs = (uint32_t)((size - 2 - sizeof(sqe)) / sizeof(segs[0]));
	if (nsegs > PVFS_MAX_SEGS)
		nsegs = PVFS_MAX_SEGS;
	memset(segs, 0, sizeof(segs));
	memcpy(segs, data + 2 + sizeof(sqe), nsegs * sizeof(segs[0]));

	if (request_prepare(&tio, &sqe, segs, iov, &n))
		return 0;

	/* Accepted: inside the volume, aligned, allowed on this tenant. */
	CHECK(sqe.offset <= tio.capacity && sqe.len <= tio.capacity - sqe.offset);
	CHECK(((sqe.offset | sqe.len) & (tio.lbs - 1)) == 0);
	CHECK(!tio.readonly || sqe.opcode == PVFS_OP_READ || sqe.opcode == PVFS_OP_FLUSH);
	if (sqe.opcode == PVFS_OP_DISCARD || sqe.opcode == PVFS_OP_WRITE_ZEROES)
		CHECK(sqe.len <= tio.max_discard_bytes);
	if (sqe.opcode != PVFS_OP_READ && sqe.opcode != PVFS_OP_WRITE)
		return 0;
	/* A transfer only touches guest RAM, and its pieces add up. */
	CHECK(n == sqe.nr_segs && n >= 1 && n <= tio.max_segs);
	CHECK(sqe.len <= tio.max_io_bytes);
	for (uint32_t i = 0; i < n; i++) {
		CHECK(in_ram(iov[i].iov_base, iov[i].iov_len));
		CHECK(!tio.direct || ((ram_off(iov[i].iov_base) | iov[i].iov_len) & (tio.lbs - 1)) == 0);
		total += iov[i].iov_len;
	}
	CHECK(total == sqe.len);
	return 0;
}
