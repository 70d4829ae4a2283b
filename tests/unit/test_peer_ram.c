/* SPDX-License-Identifier: MIT */
/*
 * test_peer_ram - pvfs-shim --mem-from-peer's search for guest RAM
 * (vmm-shim/peer_ram.c) against child processes that play QEMU: each maps
 * memfds or a file the way a memory backend does, then blocks in read()
 * like QEMU waiting for the ivshmem greeting. The one shared backend is
 * found and opened as the same memory; private RAM, anonymous RAM and two
 * backends without --mem-size are refused with their errno; --mem-size
 * picks one of two; the shim's own regions do not count; a peer that is
 * still busy (not reading) is asked again later; a pid that was reused, or
 * is gone, is noticed.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "peer_ram.h"
#include "tlib.h"
#include "util.h"

#define MiB (1u << 20)

enum kind { SHARED, PRIVATE, SHARED_FILE, REGION };

struct backend {
	enum kind kind;
	size_t size;
};

struct peer {
	pid_t pid;
	int release;		/* write end: the peer exits when it closes */
	uint64_t start;
};

static char file_path[64];

/* mkmem - one backend as QEMU makes it: an fd kept open, mapped from 0. */
static void mkmem(const struct backend *b, unsigned i)
{
	int fd;
	void *p;

	if (b->kind == SHARED_FILE) {
		fd = open(file_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	} else {
		fd = memfd_create(b->kind == REGION ? "pvfs-region" : "memory-backend-memfd",
				  MFD_CLOEXEC);
	}
	if (fd < 0 || ftruncate(fd, (off_t)b->size) < 0)
		_exit(2);
	p = mmap(NULL, b->size, PROT_READ | PROT_WRITE,
		 b->kind == PRIVATE ? MAP_PRIVATE : MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		_exit(3);
	/* A marker the test reads back through the fd it opens. */
	memset(p, 'A' + (int)i, 4096);
}

/*
 * peer_start - a child with backends b[n]; it then blocks in read() (busy:
 * spins instead) until released. Waits until its backends exist.
 */
static struct peer peer_start(const struct backend *b, unsigned n, bool busy)
{
	int ready[2], hold[2];
	struct peer pr;
	char c;

	if (pipe(ready) < 0 || pipe(hold) < 0)
		tl_fatal("pipe: %m");
	pr.pid = fork();
	if (pr.pid < 0)
		tl_fatal("fork: %m");
	if (pr.pid == 0) {
		close(ready[0]);
		close(hold[1]);
		for (unsigned i = 0; i < n; i++)
			mkmem(&b[i], i);
		if (write(ready[1], "r", 1) != 1)
			_exit(4);
		if (busy) {
			/* Not in a system call: what /proc/PID/syscall calls "running". */
			for (volatile unsigned long k = 0;; k++)
				if (!(k & 0xffffff) && getppid() == 1)
					_exit(0);
		}
		while (read(hold[0], &c, 1) > 0)
			;
		_exit(0);
	}
	close(ready[1]);
	close(hold[0]);
	if (read(ready[0], &c, 1) != 1)
		tl_fatal("peer did not start");
	close(ready[0]);
	pr.release = hold[1];
	if (peer_start_time(pr.pid, &pr.start) < 0)
		tl_fatal("peer_start_time");
	return pr;
}

static void peer_stop(struct peer *pr)
{
	close(pr->release);
	kill(pr->pid, SIGKILL);
	waitpid(pr->pid, NULL, 0);
}

/*
 * find - peer_ram_find, retried while the peer is not blocked in its read
 * yet (it sits in the read() a moment after it said "ready").
 */
static int find(struct peer *pr, uint64_t want, struct peer_ram *ram, char *why, size_t len)
{
	int r;

	for (int i = 0; i < 200; i++) {
		r = peer_ram_find(pr->pid, pr->start, want, ram, why, len);
		if (r != -EAGAIN)
			return r;
		usleep(5000);
	}
	return r;
}

/* marker - the first byte of the memory behind fd (the peer wrote it). */
static int marker(int fd)
{
	char c = 0;

	return pread(fd, &c, 1, 0) == 1 ? c : -1;
}

int main(void)
{
	struct peer_ram ram;
	struct peer pr;
	char why[512];
	int r;

	snprintf(file_path, sizeof(file_path), "/tmp/pvfs-test-peer-ram.%d", (int)getpid());

	/* One shared memfd next to a shim region: the memfd, whole. */
	{
		struct backend b[] = { { REGION, 2 * MiB }, { SHARED, 16 * MiB } };

		pr = peer_start(b, 2, false);
		r = find(&pr, 0, &ram, why, sizeof(why));
		TL_CHECK(r == 0, "one shared memfd is found: %d %s", r, why);
		if (r == 0) {
			TL_CHECK(ram.size == 16 * MiB, "its size: %llu", (unsigned long long)ram.size);
			TL_CHECK(strstr(ram.name, "memory-backend-memfd") != NULL, "its name: %s",
				 ram.name);
			TL_CHECK(marker(ram.fd) == 'B', "the opened fd is the peer's memory (%c)",
				 marker(ram.fd));
			close(ram.fd);
		}
		peer_stop(&pr);
	}
	/* A regular file, as memory-backend-file or libvirt's pc.ram. */
	{
		struct backend b[] = { { SHARED_FILE, 8 * MiB } };

		pr = peer_start(b, 1, false);
		r = find(&pr, 0, &ram, why, sizeof(why));
		TL_CHECK(r == 0 && !strcmp(ram.name, file_path) && ram.size == 8 * MiB &&
			 marker(ram.fd) == 'A', "a shared file is found: %d %s %s", r, why,
			 r == 0 ? ram.name : "");
		if (r == 0)
			close(ram.fd);
		peer_stop(&pr);
		unlink(file_path);
	}
	/* share=off: refused, saying so. */
	{
		struct backend b[] = { { PRIVATE, 16 * MiB } };

		pr = peer_start(b, 1, false);
		r = find(&pr, 0, &ram, why, sizeof(why));
		TL_CHECK(r == -EINVAL && strstr(why, "private"), "private RAM is refused: %d %s", r,
			 why);
		peer_stop(&pr);
	}
	/* No backend at all (anonymous RAM): -ENOENT once the peer waits. */
	{
		pr = peer_start(NULL, 0, false);
		r = find(&pr, 0, &ram, why, sizeof(why));
		TL_CHECK(r == -ENOENT, "anonymous RAM is refused: %d %s", r, why);
		peer_stop(&pr);
	}
	/* Two shared backends: ambiguous, unless --mem-size picks one. */
	{
		struct backend b[] = { { SHARED, 16 * MiB }, { SHARED, 4 * MiB } };

		pr = peer_start(b, 2, false);
		r = find(&pr, 0, &ram, why, sizeof(why));
		TL_CHECK(r == -ENOTUNIQ && strstr(why, "--mem-size"), "two backends: %d %s", r, why);
		r = find(&pr, 4 * MiB, &ram, why, sizeof(why));
		TL_CHECK(r == 0 && ram.size == 4 * MiB && marker(ram.fd) == 'B',
			 "--mem-size picks the second: %d %s", r, why);
		if (r == 0)
			close(ram.fd);
		r = find(&pr, 8 * MiB, &ram, why, sizeof(why));
		TL_CHECK(r == -ENOENT, "a --mem-size that matches none: %d %s", r, why);
		peer_stop(&pr);
	}
	/* Still busy (not blocked in a read): ask again later, however it looks. */
	{
		struct backend b[] = { { SHARED, 16 * MiB }, { SHARED, 4 * MiB } };

		pr = peer_start(b, 2, true);
		r = peer_ram_find(pr.pid, pr.start, 0, &ram, why, sizeof(why));
		TL_CHECK(r == -EAGAIN, "a busy peer is asked again later: %d %s", r, why);
		peer_stop(&pr);
	}
	/* Another process under the pid (start time differs), or none. */
	{
		struct backend b[] = { { SHARED, 16 * MiB } };

		pr = peer_start(b, 1, false);
		r = peer_ram_find(pr.pid, pr.start + 1, 0, &ram, why, sizeof(why));
		TL_CHECK(r == -ESRCH, "a reused pid is noticed: %d %s", r, why);
		peer_stop(&pr);
		r = peer_ram_find(pr.pid, pr.start, 0, &ram, why, sizeof(why));
		TL_CHECK(r == -ESRCH, "a peer that is gone: %d %s", r, why);
	}
	return tl_done();
}
