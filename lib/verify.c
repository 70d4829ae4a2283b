/* SPDX-License-Identifier: MIT */
/* verify.c - see verify.h. */
#include <string.h>

#include "verify.h"

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/*
 * csum64 - a 64-bit multiply-xor checksum over the block's words (len is a
 * multiple of 8), with the header words taken from hdr (whose csum is 0).
 */
static uint64_t csum64(const struct verify_hdr *hdr, const void *buf, size_t len)
{
	const uint64_t *w = buf, *hw = (const uint64_t *)hdr;
	uint64_t h = 0xcbf29ce484222325ull ^ len;

	for (size_t i = 0; i < len / 8; i++) {
		h ^= i < sizeof(*hdr) / 8 ? hw[i] : w[i];
		h *= 0x100000001b3ull;
		h ^= h >> 29;
	}
	return h;
}

void verify_fill(void *buf, size_t len, uint64_t seed, uint64_t offset, uint64_t gen)
{
	struct verify_hdr *h = buf;
	uint64_t *w = buf;
	uint64_t s = seed ^ (offset * 0x9e3779b97f4a7c15ull) ^ (gen << 32);

	for (size_t i = sizeof(*h) / 8; i < len / 8; i++)
		w[i] = splitmix(&s);
	memset(h, 0, sizeof(*h));
	h->magic = VERIFY_MAGIC;
	h->seed = seed;
	h->offset = offset;
	h->generation = gen;
	h->len = len;
	h->csum = csum64(h, buf, len);
}

enum verify_result verify_check(const void *buf, size_t len, uint64_t seed, uint64_t offset,
				uint64_t gen)
{
	struct verify_hdr h;
	const uint64_t *w = buf;
	uint64_t sum;

	memcpy(&h, buf, sizeof(h));
	if (h.magic != VERIFY_MAGIC) {
		for (size_t i = 0; i < len / 8; i++)
			if (w[i])
				return VERIFY_BAD_MAGIC;
		return VERIFY_ZERO;
	}
	if (h.seed != seed)
		return VERIFY_BAD_SEED;
	if (h.offset != offset)
		return VERIFY_BAD_OFFSET;
	if (h.len != len)
		return VERIFY_BAD_LEN;
	sum = h.csum;
	h.csum = 0;
	if (csum64(&h, buf, len) != sum)
		return VERIFY_BAD_CSUM;
	if (gen != UINT64_MAX && h.generation != gen)
		return VERIFY_BAD_GEN;
	return VERIFY_OK;
}

const char *verify_result_name(enum verify_result r)
{
	static const char *const names[] = {
		[VERIFY_OK] = "ok", [VERIFY_ZERO] = "never written (zeroes)",
		[VERIFY_BAD_MAGIC] = "no block header (garbage)",
		[VERIFY_BAD_SEED] = "written by another writer (seed)",
		[VERIFY_BAD_OFFSET] = "block from another offset",
		[VERIFY_BAD_LEN] = "wrong block length",
		[VERIFY_BAD_CSUM] = "checksum mismatch (torn or corrupt)",
		[VERIFY_BAD_GEN] = "stale data (not the last write)",
	};
	return names[r];
}
