/* SPDX-License-Identifier: MIT */
/*
 * peer_ram.c - find and open a running QEMU's guest RAM (see peer_ram.h).
 *
 * QEMU connects its ivshmem chardev while it parses the command line, then
 * creates every memory backend, then realizes devices; the ivshmem-doorbell
 * device's realize blocks in a read of the server's greeting on the main
 * thread. So once QEMU's main thread sits in a read-family system call
 * (/proc/PID/syscall), every backend it will have exists and is mapped, and
 * the candidate list is final. Where /proc/PID/syscall cannot be read
 * (Yama ptrace_scope 3, no CAP_SYS_PTRACE) the caller's deadline bounds the
 * wait instead and a candidate is taken as soon as it is the only one.
 *
 * The cost is bounded by QEMU's open descriptors and mappings: one pass over
 * /proc/PID/fd (regular files only are kept, at most MAX_FILES) and one over
 * /proc/PID/maps per call.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "peer_ram.h"
#include "util.h"

#define MAX_FILES	256	/* regular files QEMU holds open that we consider */
#define MiB		((uint64_t)1 << 20)
/* Our own ring regions, which QEMU maps shared too once a shim greeted it. */
#define REGION_NAME	"/memfd:pvfs-region"

struct file_cand {
	int peer_fd;
	dev_t dev;
	ino_t ino;
	uint64_t st_size;
	char name[256];
	/* From /proc/PID/maps: the end of the furthest mapping, and whether one starts at 0. */
	uint64_t shared_end, private_end;
	bool shared_at0, private_at0;
};

static int say(char *why, size_t whylen, int r, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int say(char *why, size_t whylen, int r, const char *fmt, ...)
{
	va_list ap;

	if (why && whylen) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return r;
}

int peer_start_time(pid_t pid, uint64_t *ret)
{
	char path[64], buf[1024], *p;
	_cleanup_close_ int fd = -1;
	unsigned long long v;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return n < 0 ? -errno : -ESRCH;
	buf[n] = '\0';
	/* The command name is in parentheses and may hold anything: skip to its end. */
	p = strrchr(buf, ')');
	if (!p)
		return -EINVAL;
	/* Field 3 (state) follows; start time is field 22, 19 fields later. */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d "
		   "%*d %*d %llu", &v) != 1)
		return -EINVAL;
	*ret = v;
	return 0;
}

/*
 * main_thread_reads - 1 if pid's main thread is blocked in a read-family
 * system call (QEMU waiting for a greeting), 0 if not, -errno if that
 * cannot be seen.
 */
static int main_thread_reads(pid_t pid)
{
	char path[64], buf[256];
	_cleanup_close_ int fd = -1;
	long nr;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	/* "running", or "-1 ..." (not in a syscall), or "NR arg1 ...". */
	if (sscanf(buf, "%ld", &nr) != 1)
		return 0;
	return nr == SYS_read || nr == SYS_readv || nr == SYS_recvfrom || nr == SYS_recvmsg;
}

/* list_files - QEMU's open regular files (memfds are regular files too). */
static int list_files(pid_t pid, struct file_cand *c, unsigned *ret_n, char *why, size_t whylen)
{
	char path[64];
	DIR *d;
	struct dirent *e;
	unsigned n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (!d) {
		if (errno == ENOENT)
			return say(why, whylen, -ESRCH, "QEMU (pid %d) is gone", (int)pid);
		return say(why, whylen, -errno, "cannot list %s: %m (pvfs-shim must run as root "
			   "or as QEMU's user)", path);
	}
	while ((e = readdir(d)) && n < MAX_FILES) {
		struct stat st;
		ssize_t l;
		int nr = atoi(e->d_name);

		if (e->d_name[0] == '.')
			continue;
		if (fstatat(dirfd(d), e->d_name, &st, 0) < 0 || !S_ISREG(st.st_mode))
			continue;
		l = readlinkat(dirfd(d), e->d_name, c[n].name, sizeof(c[n].name) - 1);
		if (l < 0)
			continue;
		c[n].name[l] = '\0';
		if (!strncmp(c[n].name, REGION_NAME, strlen(REGION_NAME)))
			continue;
		c[n].peer_fd = nr;
		c[n].dev = st.st_dev;
		c[n].ino = st.st_ino;
		c[n].st_size = (uint64_t)st.st_size;
		c[n].shared_end = c[n].private_end = 0;
		c[n].shared_at0 = c[n].private_at0 = false;
		n++;
	}
	closedir(d);
	*ret_n = n;
	return 0;
}

/*
 * scan_maps - account QEMU's file mappings to the candidates. A mapping
 * belongs to a file by device and inode; where those differ between stat()
 * and the maps line (overlayfs and btrfs report another device there), by
 * the same path, for named files only (memfd names are not unique).
 */
static int scan_maps(pid_t pid, struct file_cand *c, unsigned n, char *why, size_t whylen)
{
	char path[64], *line = NULL;
	size_t cap = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return say(why, whylen, errno == ENOENT ? -ESRCH : -errno, "cannot read %s: %m",
			   path);
	while (getline(&line, &cap, f) > 0) {
		uint64_t start, end, off;
		unsigned maj, min;
		unsigned long long ino;
		char perms[5], *name;
		int pos = 0;

		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %4s %" SCNx64 " %x:%x %llu %n", &start,
			   &end, perms, &off, &maj, &min, &ino, &pos) < 7 || !ino)
			continue;
		name = line + pos;
		name[strcspn(name, "\n")] = '\0';
		for (unsigned i = 0; i < n; i++) {
			bool same = (c[i].dev == makedev(maj, min) && c[i].ino == ino) ||
				    (name[0] == '/' && strncmp(name, "/memfd:", 7) &&
				     !strcmp(name, c[i].name));

			if (!same)
				continue;
			if (perms[3] == 's') {
				c[i].shared_end = MAX(c[i].shared_end, off + (end - start));
				c[i].shared_at0 |= off == 0;
			} else {
				c[i].private_end = MAX(c[i].private_end, off + (end - start));
				c[i].private_at0 |= off == 0;
			}
		}
	}
	free(line);
	fclose(f);
	return 0;
}

static void human(uint64_t bytes, char *buf, size_t len)
{
	if (bytes >= MiB && bytes % MiB == 0)
		snprintf(buf, len, "%" PRIu64 " MiB", bytes / MiB);
	else
		snprintf(buf, len, "%" PRIu64 " bytes", bytes);
}

/* open_cand - open QEMU's file through /proc and make sure it is the one inspected. */
static int open_cand(pid_t pid, uint64_t start_time, const struct file_cand *c, struct peer_ram *ret,
		     char *why, size_t whylen)
{
	char path[64];
	_cleanup_close_ int fd = -1;
	struct stat st;
	uint64_t t;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, c->peer_fd);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return say(why, whylen, errno == ENOENT ? -EAGAIN : -errno,
			   "cannot open QEMU's guest RAM %s through %s: %m", c->name, path);
	if (fstat(fd, &st) < 0)
		return say(why, whylen, -errno, "fstat of %s: %m", path);
	/* QEMU may have closed N and reused it between the listing and the open. */
	if (st.st_dev != c->dev || st.st_ino != c->ino)
		return say(why, whylen, -EAGAIN, "QEMU's descriptor %d changed under us",
			   c->peer_fd);
	if (peer_start_time(pid, &t) < 0 || t != start_time)
		return say(why, whylen, -ESRCH, "QEMU (pid %d) went away", (int)pid);
	ret->fd = take_fd(&fd);
	ret->size = c->shared_end;
	ret->peer_fd = c->peer_fd;
	snprintf(ret->name, sizeof(ret->name), "%s", c->name);
	return 0;
}

int peer_ram_find(pid_t pid, uint64_t start_time, uint64_t want_size, struct peer_ram *ret,
		  char *why, size_t whylen)
{
	_cleanup_free_ struct file_cand *c = NULL;
	const struct file_cand *pick = NULL, *priv = NULL;
	unsigned n = 0, nshared = 0;
	char list[512] = "", sz[32];
	uint64_t t;
	int r, settled;

	r = peer_start_time(pid, &t);
	if (r < 0 || t != start_time)
		return say(why, whylen, -ESRCH, "QEMU (pid %d) is gone", (int)pid);
	settled = main_thread_reads(pid);
	if (settled == 0)
		return say(why, whylen, -EAGAIN, "QEMU is still creating its memory backends");
	c = calloc(MAX_FILES, sizeof(*c));
	if (!c)
		return say(why, whylen, -ENOMEM, "out of memory");
	r = list_files(pid, c, &n, why, whylen);
	if (r < 0)
		return r;
	r = scan_maps(pid, c, n, why, whylen);
	if (r < 0)
		return r;

	for (unsigned i = 0; i < n; i++) {
		/* Guest RAM is mapped whole, from offset 0, within the file. */
		if (c[i].shared_at0 && c[i].shared_end <= c[i].st_size) {
			if (want_size && c[i].shared_end != want_size)
				continue;
			nshared++;
			pick = &c[i];
			human(c[i].shared_end, sz, sizeof(sz));
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s (%s)",
				 nshared > 1 ? ", " : "", c[i].name, sz);
		} else if (c[i].private_at0 && !c[i].shared_end && c[i].private_end >= MiB &&
			   (!want_size || c[i].private_end == want_size)) {
			priv = &c[i];
		}
	}
	if (nshared > 1)
		return say(why, whylen, -ENOTUNIQ, "QEMU maps %u shared memory backends%s: %s; "
			   "pass --mem-size with the guest RAM size to pick one", nshared,
			   want_size ? " of that size" : "", list);
	if (nshared == 1) {
		if (pick->shared_end > (512ull << 30) || pick->shared_end % 4096)
			return say(why, whylen, -EINVAL, "QEMU's shared memory %s has %" PRIu64
				   " bytes: pvfs-shim handles page-aligned guest RAM up to 512 GiB",
				   pick->name, pick->shared_end);
		return open_cand(pid, start_time, pick, ret, why, whylen);
	}
	if (priv) {
		human(priv->private_end, sz, sizeof(sz));
		return say(why, whylen, -EINVAL, "QEMU maps its guest RAM %s (%s) private, so "
			   "pvfsd would not see what the guest writes: share it (QEMU: share=on on "
			   "the memory backend; libvirt: <memoryBacking><access mode='shared'/>)",
			   priv->name, sz);
	}
	if (settled > 0 && want_size) {
		human(want_size, sz, sizeof(sz));
		return say(why, whylen, -ENOENT, "QEMU has no shared memory backend of %s "
			   "(--mem-size)", sz);
	}
	if (settled > 0)
		return say(why, whylen, -ENOENT, "QEMU has no shared memory backend (guest RAM is "
			   "anonymous memory pvfsd cannot map): give it one (QEMU: "
			   "-object memory-backend-memfd,share=on and -machine memory-backend=ID; "
			   "libvirt: <memoryBacking><source type='memfd'/><access mode='shared'/>)");
	return say(why, whylen, -EAGAIN, "no shared memory backend in QEMU yet");
}
