// SPDX-License-Identifier: GPL-2.0-only
/*
 * staleread - guest-side checker for tests/e2e/e2e_stale.sh: keeps many
 * O_DIRECT 4 KiB READs in flight on a pvfs disk (Linux AIO, one buffer per
 * request, resubmitted as soon as it completes) until the device fails
 * them. A READ that succeeds must carry the block's pattern (the host wrote
 * it: 64-bit word i of block b is PATTERN_BASE + b * 512 + i). A READ that
 * fails gets its buffer reused at once: filled with REUSED bytes. Once every
 * request has failed, the buffers are left alone for --settle seconds (a
 * host that still writes into pages it was given would land its data there
 * now) and then checked: any byte that is not REUSED is stale data in a
 * reused page. Prints one line, "staleread: ok=N eio=N bad=N stale=N", and
 * exits 0 only if bad and stale are 0 and eio > 0.
 *
 * Built statically by the test (gcc -static), so it needs no library.
 *
 *   staleread DEVICE BLOCKS REQUESTS SETTLE_SECONDS MAX_SECONDS
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define BLOCK		4096
#define PATTERN_BASE	0x1111000000000000ull
#define REUSED		0x5a
#define MAX_REQ		256

static long io_setup(unsigned int n, aio_context_t *ctx)
{
	return syscall(SYS_io_setup, n, ctx);
}

static long io_submit(aio_context_t ctx, long n, struct iocb **iocbs)
{
	return syscall(SYS_io_submit, ctx, n, iocbs);
}

static long io_getevents(aio_context_t ctx, long min, long max, struct io_event *ev,
			 struct timespec *ts)
{
	return syscall(SYS_io_getevents, ctx, min, max, ev, ts);
}

static struct iocb cbs[MAX_REQ];
static uint64_t *bufs[MAX_REQ];
static int failed[MAX_REQ];

static int submit(aio_context_t ctx, int fd, int i, unsigned int blocks)
{
	struct iocb *p = &cbs[i];
	uint64_t blk = (uint64_t)random() % blocks;

	memset(p, 0, sizeof(*p));
	p->aio_fildes = fd;
	p->aio_lio_opcode = IOCB_CMD_PREAD;
	p->aio_buf = (uintptr_t)bufs[i];
	p->aio_nbytes = BLOCK;
	p->aio_offset = blk * BLOCK;
	p->aio_data = i;
	return io_submit(ctx, 1, &p) == 1 ? 0 : -errno;
}

int main(int argc, char **argv)
{
	unsigned int blocks, nreq, settle, max_s, i, w, live;
	unsigned long ok = 0, eio = 0, bad = 0, stale = 0;
	struct io_event ev[MAX_REQ];
	aio_context_t ctx = 0;
	time_t start;
	int fd;

	if (argc != 6) {
		fprintf(stderr, "usage: staleread DEVICE BLOCKS REQUESTS SETTLE_S MAX_S\n");
		return 2;
	}
	blocks = strtoul(argv[2], NULL, 0);
	nreq = strtoul(argv[3], NULL, 0);
	settle = strtoul(argv[4], NULL, 0);
	max_s = strtoul(argv[5], NULL, 0);
	if (!blocks || !nreq || nreq > MAX_REQ) {
		fprintf(stderr, "staleread: bad arguments\n");
		return 2;
	}
	fd = open(argv[1], O_RDONLY | O_DIRECT);
	if (fd < 0 || io_setup(nreq, &ctx) < 0) {
		perror("staleread: open/io_setup");
		return 2;
	}
	srandom(getpid());
	for (i = 0; i < nreq; i++) {
		if (posix_memalign((void **)&bufs[i], BLOCK, BLOCK))
			return 2;
		if (submit(ctx, fd, i, blocks)) {
			perror("staleread: first submit");
			return 2;
		}
	}
	printf("staleread: %u READs in flight\n", nreq);
	fflush(stdout);

	start = time(NULL);
	live = nreq;
	while (live) {
		struct timespec ts = { 1, 0 };
		long n = io_getevents(ctx, 1, nreq, ev, &ts);

		if (time(NULL) - start > max_s) {
			fprintf(stderr, "staleread: %u READs still succeed after %u s\n", live, max_s);
			return 1;
		}
		for (long k = 0; k < n; k++) {
			unsigned int j = ev[k].data;
			uint64_t blk = cbs[j].aio_offset / BLOCK;

			if (ev[k].res == BLOCK) {
				for (w = 0; w < BLOCK / 8; w++)
					if (bufs[j][w] != PATTERN_BASE + blk * 512 + w)
						break;
				if (w < BLOCK / 8)
					bad++;
				else
					ok++;
				/* Device failed meanwhile: this buffer is done too. */
				if (submit(ctx, fd, j, blocks)) {
					memset(bufs[j], REUSED, BLOCK);
					failed[j] = 1;
					eio++;
					live--;
				}
				continue;
			}
			/* Failed: the buffer is ours again; reuse it at once. */
			memset(bufs[j], REUSED, BLOCK);
			failed[j] = 1;
			eio++;
			live--;
		}
	}

	sleep(settle);
	for (i = 0; i < nreq; i++) {
		const unsigned char *b = (const unsigned char *)bufs[i];

		if (!failed[i])
			continue;
		for (w = 0; w < BLOCK; w++)
			if (b[w] != REUSED)
				break;
		if (w < BLOCK)
			stale++;
	}
	printf("staleread: ok=%lu eio=%lu bad=%lu stale=%lu\n", ok, eio, bad, stale);
	return (bad || stale || !eio) ? 1 : 0;
}
