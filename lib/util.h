/* SPDX-License-Identifier: MIT */
/*
 * util.h - small helpers shared by every pvfs userspace component: cleanup
 * attributes in the style of systemd's alloc-util.h, a monotonic clock, and
 * single-writer statistics counters. Nothing here allocates behind the
 * caller's back or logs.
 */
#ifndef PVFS_UTIL_H
#define PVFS_UTIL_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - __builtin_offsetof(type, member)))

static inline void freep(void *p)
{
	free(*(void **)p);
}

static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)

/* take_fd - hand an fd out of a _cleanup_close_ variable. */
static inline int take_fd(int *fd)
{
	int r = *fd;

	*fd = -1;
	return r;
}

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Statistics counters are written by one thread (a poller) and read by
 * others (control, metrics) without locks: relaxed atomic accesses give
 * untorn 64-bit values and compile to plain moves on x86-64.
 */
static inline void stat_add(uint64_t *c, uint64_t v)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + v, __ATOMIC_RELAXED);
}

static inline uint64_t stat_get(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

static inline int is_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

/*
 * shm_copy - copy n bytes (a multiple of 8, both pointers 8-aligned) out of
 * memory that another, untrusted party may rewrite at any moment (a guest's
 * ring region). Each 8-byte word is read exactly once through a volatile
 * relaxed atomic load, so the compiler can neither re-read the source after
 * the copy (a double fetch that inlining or LTO could make out of a plain
 * memcpy whose result is checked and then used) nor tear a word.
 */
static inline void shm_copy(void *dst, const void *src, size_t n)
{
	const volatile uint64_t *s = (const volatile uint64_t *)src;
	uint64_t *d = (uint64_t *)dst;

	for (size_t i = 0; i < n / 8; i++)
		d[i] = __atomic_load_n(&s[i], __ATOMIC_RELAXED);
}

/* parse_size - "4k", "128K", "1M", "2g", "512" -> bytes. -EINVAL on junk or overflow. */
int parse_size(const char *s, uint64_t *ret);
/* parse_u64 - a plain decimal number. -EINVAL on junk or overflow. */
int parse_u64(const char *s, uint64_t *ret);

#endif /* PVFS_UTIL_H */
