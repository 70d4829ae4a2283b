/* SPDX-License-Identifier: MIT */
/*
 * verify.h - self-checking data blocks, written by pvfs-bench --verify and
 * checked by pvfs-bench and the tests (which also read volume files
 * directly). A block of any size >= 64 starts with a header naming who
 * wrote it (seed), where (offset) and which write it was (generation); the
 * rest is a pseudo-random fill derived from those, covered by a checksum.
 * A block read back can so be checked without knowing what was written:
 * a torn, misplaced, stale or foreign block fails.
 */
#ifndef PVFS_VERIFY_H
#define PVFS_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#define VERIFY_MAGIC 0x6b6c427366767021ull	/* "!pvfsBlk" */

struct verify_hdr {
	uint64_t magic;
	uint64_t seed;
	uint64_t offset;
	uint64_t generation;
	uint64_t len;
	uint64_t csum;		/* of the whole block with csum = 0 */
	uint64_t rsvd[2];
};

enum verify_result {
	VERIFY_OK = 0,
	VERIFY_ZERO,		/* all zeroes: never written */
	VERIFY_BAD_MAGIC,
	VERIFY_BAD_SEED,	/* another writer's block */
	VERIFY_BAD_OFFSET,	/* a block written elsewhere */
	VERIFY_BAD_LEN,
	VERIFY_BAD_CSUM,	/* torn or corrupt */
	VERIFY_BAD_GEN,		/* stale: not the last write */
};

void verify_fill(void *buf, size_t len, uint64_t seed, uint64_t offset, uint64_t gen);
/* verify_check - gen == UINT64_MAX accepts any generation. */
enum verify_result verify_check(const void *buf, size_t len, uint64_t seed, uint64_t offset,
				uint64_t gen);
const char *verify_result_name(enum verify_result r);

#endif
