/* SPDX-License-Identifier: MIT */
/*
 * test_verify - the self-checking blocks of lib/verify.h detect every kind
 * of bad data the integration tests rely on them to find.
 */
#include <stdlib.h>
#include <string.h>

#include "tlib.h"
#include "verify.h"

int main(void)
{
	static uint8_t b[4096], c[4096];

	verify_fill(b, sizeof(b), 7, 8192, 3);
	TL_CHECK(verify_check(b, sizeof(b), 7, 8192, 3) == VERIFY_OK, "fresh block verifies");
	TL_CHECK(verify_check(b, sizeof(b), 7, 8192, UINT64_MAX) == VERIFY_OK,
		 "any generation accepted when unknown");
	TL_CHECK(verify_check(b, sizeof(b), 8, 8192, 3) == VERIFY_BAD_SEED, "other writer detected");
	TL_CHECK(verify_check(b, sizeof(b), 7, 4096, 3) == VERIFY_BAD_OFFSET, "misplaced block detected");
	TL_CHECK(verify_check(b, sizeof(b), 7, 8192, 2) == VERIFY_BAD_GEN, "stale block detected");
	memcpy(c, b, sizeof(c));
	c[3000] ^= 1;
	TL_CHECK(verify_check(c, sizeof(c), 7, 8192, 3) == VERIFY_BAD_CSUM, "one flipped bit detected");
	memcpy(c, b, sizeof(c));
	memset(c + 2048, 0, 2048);
	TL_CHECK(verify_check(c, sizeof(c), 7, 8192, 3) == VERIFY_BAD_CSUM, "torn block detected");
	memset(c, 0, sizeof(c));
	TL_CHECK(verify_check(c, sizeof(c), 7, 8192, 3) == VERIFY_ZERO, "zero block recognised");
	c[100] = 1;
	TL_CHECK(verify_check(c, sizeof(c), 7, 8192, 3) == VERIFY_BAD_MAGIC, "garbage detected");
	TL_CHECK(verify_check(b, 2048, 7, 8192, 3) == VERIFY_BAD_LEN, "length mismatch detected");
	return tl_done();
}
