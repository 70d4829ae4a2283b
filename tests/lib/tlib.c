/* SPDX-License-Identifier: MIT */
/* tlib.c - see tlib.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pvfs_ctl.h"
#include "rpc.h"
#include "tlib.h"
#include "util.h"

int tl_failures;
static int tl_checks;

/* Line-buffered output: a test killed by its timeout still leaves its log. */
__attribute__((constructor)) static void tl_init(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
}

void tl_check(int ok, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	tl_checks++;
	if (!ok)
		tl_failures++;
	printf("%s - ", ok ? "ok" : "not ok");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (!ok)
		printf("  (%s:%d)", file, line);
	putchar('\n');
	fflush(stdout);
}

void tl_fatal(const char *fmt, ...)
{
	va_list ap;

	printf("FATAL: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	exit(1);
}

void tl_skip(const char *fmt, ...)
{
	va_list ap;

	printf("SKIP: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	exit(TL_SKIP);
}

int tl_done(void)
{
	printf("%d check(s), %d failed\n", tl_checks, tl_failures);
	return tl_failures ? 1 : 0;
}

const char *tl_bin(const char *name)
{
	static char buf[8][512];
	static int n;
	const char *b = getenv("PVFS_BUILD");
	char *p = buf[n++ % 8];

	snprintf(p, 512, "%s/bin/%s", b && *b ? b : "build", name);
	return p;
}

/* ---- processes ---- */

pid_t tl_spawn(char *const argv[], const char *out_path)
{
	pid_t pid = fork();

	if (pid < 0)
		tl_fatal("fork: %m");
	if (pid == 0) {
		if (out_path) {
			int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

			if (fd >= 0) {
				dup2(fd, 1);
				close(fd);
			}
		}
		execv(argv[0], argv);
		fprintf(stderr, "exec %s: %m\n", argv[0]);
		_exit(127);
	}
	return pid;
}

int tl_wait(pid_t pid, int timeout_ms)
{
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000ull;
	int status;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			break;
		if (r < 0)
			return -errno;
		if (now_ns() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -ETIMEDOUT;
		}
		/* A pidfd would avoid polling; 10 ms steps inside a hard deadline. */
		usleep(10000);
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

int tl_run(char *const argv[], const char *out_path, int timeout_ms)
{
	return tl_wait(tl_spawn(argv, out_path), timeout_ms);
}

/* ---- pvfsd ---- */

static int notify_socket(char *name, size_t len)
{
	static int seq;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		tl_fatal("socket: %m");
	/* Abstract namespace: nothing to clean up in the file system. */
	snprintf(name, len, "@pvfs-test-%d-%d", (int)getpid(), seq++);
	snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "%s", name + 1);
	if (bind(fd, (struct sockaddr *)&sa,
		 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(name))) < 0)
		tl_fatal("bind notify socket: %m");
	return fd;
}

void tl_daemon_start(struct tl_daemon *d, ...)
{
	char *argv[64], nsock[108], buf[4096];
	uint64_t deadline;
	va_list ap;
	int argc = 0, fd;
	const char *a;

	if (!d->dir[0]) {
		snprintf(d->dir, sizeof(d->dir), "/tmp/pvfs-test.XXXXXX");
		if (!mkdtemp(d->dir))
			tl_fatal("mkdtemp: %m");
		snprintf(d->vols, sizeof(d->vols), "%s/vols", d->dir);
		mkdir(d->vols, 0755);
	}
	snprintf(d->run, sizeof(d->run), "%s/run", d->dir);
	snprintf(d->sock, sizeof(d->sock), "%s/control.sock", d->run);
	snprintf(d->log, sizeof(d->log), "%s/pvfsd.log", d->dir);

	argv[argc++] = (char *)tl_bin("pvfsd");
	argv[argc++] = "--runtime-dir";
	argv[argc++] = d->run;
	argv[argc++] = "--volume-dir";
	argv[argc++] = d->vols;
	argv[argc++] = "--metrics-listen";
	argv[argc++] = "none";
	va_start(ap, d);
	while ((a = va_arg(ap, const char *)) && argc < 62)
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;

	if (d->notify_fd > 0)
		close(d->notify_fd);
	fd = notify_socket(nsock, sizeof(nsock));
	d->pid = fork();
	if (d->pid < 0)
		tl_fatal("fork: %m");
	if (d->pid == 0) {
		int lfd = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0644);

		/*
		 * A test killed by run-tests' timeout must not leave its pvfsd
		 * running (e.g. one hung by the bug the test is about).
		 */
		prctl(PR_SET_PDEATHSIG, SIGKILL);

		if (lfd >= 0) {
			dup2(lfd, 2);
			close(lfd);
		}
		setenv("NOTIFY_SOCKET", nsock, 1);
		if (d->listen_fd > 0) {
			char pid[16];

			dup2(d->listen_fd, 3);
			snprintf(pid, sizeof(pid), "%d", (int)getpid());
			setenv("LISTEN_FDS", "1", 1);
			setenv("LISTEN_PID", pid, 1);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	deadline = now_ns() + 10000000000ull;
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int64_t left = (int64_t)(deadline - now_ns()) / 1000000;
		ssize_t n;

		if (left <= 0 || waitpid(d->pid, NULL, WNOHANG) == d->pid) {
			snprintf(buf, sizeof(buf), "cat %s >&2", d->log);
			if (system(buf) < 0)
				perror("system");
			tl_fatal("pvfsd did not become ready within 10 s (log above)");
		}
		if (poll(&pfd, 1, (int)MIN(left, 100)) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf) - 1, 0);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		if (strstr(buf, "READY=1"))
			break;
	}
	/*
	 * Unless the test reads on, close our end: a datagram socket nobody
	 * reads fills up (net.unix.max_dgram_qlen) and sd_notify() would block.
	 */
	if (d->keep_notify)
		d->notify_fd = fd;
	else
		close(fd);
}

int tl_notify_wait(struct tl_daemon *d, const char *want, int count, int timeout_ms)
{
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000ull;
	char buf[4096];
	int seen = 0;

	while (seen < count) {
		struct pollfd pfd = { .fd = d->notify_fd, .events = POLLIN };
		int64_t left = (int64_t)(deadline - now_ns()) / 1000000;
		ssize_t n;

		if (left <= 0)
			break;
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		n = recv(d->notify_fd, buf, sizeof(buf) - 1, 0);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		if (strstr(buf, want))
			seen++;
	}
	return seen;
}

int tl_daemon_stop(struct tl_daemon *d)
{
	int r;

	if (d->pid <= 0)
		return 0;
	kill(d->pid, SIGTERM);
	r = tl_wait(d->pid, 20000);
	d->pid = 0;
	return r;
}

void tl_daemon_kill(struct tl_daemon *d)
{
	if (d->pid <= 0)
		return;
	kill(d->pid, SIGKILL);
	waitpid(d->pid, NULL, 0);
	d->pid = 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

void tl_daemon_cleanup(struct tl_daemon *d)
{
	if (d->pid > 0)
		tl_daemon_kill(d);
	if (d->notify_fd > 0)
		close(d->notify_fd);
	d->notify_fd = 0;
	if (d->dir[0] && !getenv("PVFS_TEST_KEEP"))
		nftw(d->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *tl_volume(struct tl_daemon *d, const char *name, uint64_t size)
{
	static char path[8][512];
	static int n;
	char *p = path[n++ % 8];
	int fd;

	snprintf(p, 512, "%s/%s", d->vols, name);
	fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
		tl_fatal("create volume %s: %m", p);
	close(fd);
	return p;
}

int tl_rpc(struct tl_daemon *d, const char *method, json_t *params, json_t **ret_result)
{
	json_t *result = NULL, *error = NULL;
	int s, r;

	r = rpc_connect(d->sock, &s);
	if (r < 0) {
		json_decref(params);
		return r;
	}
	r = rpc_call(s, method, params, NULL, 0, 20000, &result, &error);
	close(s);
	if (r == -EREMOTEIO) {
		r = (int)json_integer_value(json_object_get(error, "code"));
		json_decref(error);
	}
	if (ret_result)
		*ret_result = result;
	else
		json_decref(result);
	return r;
}

json_t *tl_tenant_stats(struct tl_daemon *d, const char *name)
{
	json_t *res = NULL, *t;

	if (tl_rpc(d, "stats", json_pack("{s:s}", "name", name), &res) < 0)
		return NULL;
	t = json_incref(json_array_get(json_object_get(res, "tenants"), 0));
	json_decref(res);
	return t;
}

long long tl_tenant_rw_ops(struct tl_daemon *d, const char *name)
{
	json_t *st = tl_tenant_stats(d, name);
	json_t *ops = json_object_get(st, "ops");
	long long n = json_integer_value(json_object_get(json_object_get(ops, "write"), "ops")) +
		      json_integer_value(json_object_get(json_object_get(ops, "read"), "ops"));

	json_decref(st);
	return n;
}

bool tl_wait_ops(struct tl_daemon *d, const char *name, long long base, long long more,
		 int timeout_ms)
{
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000ull;

	while (now_ns() < deadline) {
		if (tl_tenant_rw_ops(d, name) >= base + more)
			return true;
		usleep(5000);	/* polling an observable counter, bounded by the deadline */
	}
	return false;
}

bool tl_wait_state(struct tl_daemon *d, const char *name, const char *want, int timeout_ms)
{
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000ull;

	while (now_ns() < deadline) {
		json_t *t = tl_tenant_stats(d, name);
		const char *st = t ? json_string_value(json_object_get(t, "state")) : NULL;
		bool ok = st && !strcmp(st, want);

		json_decref(t);
		if (ok)
			return true;
		usleep(10000);	/* polling an observable state, bounded by the deadline */
	}
	return false;
}

/* ---- /proc ---- */

int tl_fd_count(pid_t pid)
{
	char path[64];
	DIR *dir;
	struct dirent *e;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	if (!dir)
		return -errno;
	while ((e = readdir(dir)))
		if (e->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

int tl_fd_count_settled(pid_t pid, int want)
{
	uint64_t deadline = now_ns() + 2000000000ull;
	int n;

	while ((n = tl_fd_count(pid)) != want && now_ns() < deadline)
		usleep(10000);
	return n;
}

static int read_stat_field(pid_t pid, int field, unsigned long long *ret)
{
	char path[64], buf[2048], *p;
	FILE *f;
	int i;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return -EIO;
	}
	fclose(f);
	p = strrchr(buf, ')');	/* comm may contain spaces */
	if (!p)
		return -EIO;
	p += 2;
	/* p points at field 3 (state). */
	for (i = 3; i < field && p; i++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	if (!p)
		return -EIO;
	*ret = strtoull(p, NULL, 10);
	return 0;
}

uint64_t tl_cpu_ns(pid_t pid)
{
	unsigned long long ut = 0, st = 0;
	long hz = sysconf(_SC_CLK_TCK);

	read_stat_field(pid, 14, &ut);
	read_stat_field(pid, 15, &st);
	return (ut + st) * (1000000000ull / (uint64_t)hz);
}

uint64_t tl_rss_kb(pid_t pid)
{
	unsigned long long pages = 0;

	read_stat_field(pid, 24, &pages);
	return pages * (uint64_t)sysconf(_SC_PAGESIZE) / 1024;
}

/* ---- simulated VM ---- */

int tl_vm_plug(struct tl_daemon *d, struct tl_vm *vm, const char *name, const char *volume,
	       uint32_t nq, uint32_t depth, uint64_t ram_size, char *err, size_t errlen)
{
	struct pvfs_region_params rp = { .nr_queues = nq, .depth = depth, .max_segs = 16 };
	int r;

	memset(vm, 0, sizeof(*vm));
	vm->ram_fd = -1;
	if (volume) {
		struct pvfs_attach_opts ao = { .volume = volume };

		r = pvfs_attach(d->sock, name, &ao, err, errlen);
		if (r < 0)
			return r;
	}
	r = pvfs_region_create(&rp, &vm->region);
	if (r < 0)
		return r;
	vm->ram_size = ram_size;
	vm->ram_fd = memfd_create("tl-ram", MFD_CLOEXEC);
	if (vm->ram_fd < 0 || ftruncate(vm->ram_fd, (off_t)ram_size) < 0)
		return -errno;
	vm->ram = mmap(NULL, ram_size, PROT_READ | PROT_WRITE, MAP_SHARED, vm->ram_fd, 0);
	if (vm->ram == MAP_FAILED)
		return -errno;
	vm->mem[0] = (struct pvfs_memregion){ 0, ram_size / 2, vm->ram_fd, 0 };
	vm->mem[1] = (struct pvfs_memregion){ 1ull << 32, ram_size / 2, vm->ram_fd, ram_size / 2 };
	r = pvfs_plug(d->sock, name, vm->region, vm->mem, 2, &vm->plug, err, errlen);
	if (r < 0)
		return r;
	return pvfs_uguest_init(&vm->guest, vm->region);
}

void tl_vm_plug_new(struct tl_daemon *d, struct tl_vm *vm, const char *name, uint64_t vol_size,
		    uint32_t nq, uint32_t depth, uint64_t ram_size)
{
	char file[300], err[512];

	snprintf(file, sizeof(file), "%s.img", name);
	if (tl_vm_plug(d, vm, name, tl_volume(d, file, vol_size), nq, depth, ram_size, err,
		       sizeof(err)) < 0)
		tl_fatal("plug %s: %s", name, err);
}

void tl_vm_unplug(struct tl_vm *vm)
{
	pvfs_unplug(vm->plug);
	vm->plug = NULL;
	pvfs_uguest_free(&vm->guest);
	pvfs_region_free(vm->region);
	vm->region = NULL;
	if (vm->ram && vm->ram != MAP_FAILED)
		munmap(vm->ram, vm->ram_size);
	vm->ram = NULL;
	if (vm->ram_fd >= 0)
		close(vm->ram_fd);
	vm->ram_fd = -1;
}

bool tl_vm_host_state_is(struct tl_vm *vm, uint32_t want, int timeout_ms)
{
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000ull;

	while (now_ns() < deadline)
		if (pvfs_uguest_host_state(&vm->guest, NULL) == want)
			return true;
	return false;
}

uint64_t tl_vm_gpa(const struct tl_vm *vm, uint64_t off)
{
	if (off < vm->ram_size / 2)
		return off;
	return (1ull << 32) + off - vm->ram_size / 2;
}

int tl_vm_io(struct tl_vm *vm, uint32_t q, const struct pvfs_sqe *sqe,
	     const struct pvfs_seg *segs, unsigned nsegs, int timeout_ms)
{
	struct pvfs_uguest_queue *uq = &vm->guest.queues[q];
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000ull;
	struct pvfs_cqe cqe;
	int tag, r;

	tag = pvfs_uguest_queue_sqe(uq, sqe, segs, nsegs);
	if (tag < 0)
		return tag;
	r = pvfs_uguest_commit(uq);
	if (r < 0)
		return r;
	for (;;) {
		int64_t left;

		if (pvfs_uguest_reap(uq, &cqe, 1)) {
			if (cqe.tag != tag)
				tl_fatal("completion for tag %u, expected %d", cqe.tag, tag);
			return cqe.result;
		}
		left = (int64_t)(deadline - now_ns()) / 1000000;
		if (left <= 0)
			return -ETIMEDOUT;
		pvfs_uguest_wait(uq, (int)MIN(left, 100));
	}
}

int tl_vm_rw(struct tl_vm *vm, uint32_t q, bool write, uint64_t off, uint32_t len,
	     uint64_t ram_off)
{
	struct pvfs_sqe sqe = {
		.opcode = write ? PVFS_OP_WRITE : PVFS_OP_READ,
		.nr_segs = 1, .len = len, .offset = off,
	};
	struct pvfs_seg seg = { .addr = tl_vm_gpa(vm, ram_off), .len = len };

	return tl_vm_io(vm, q, &sqe, &seg, 1, 10000);
}

bool tl_vm_roundtrip(struct tl_vm *vm, uint64_t off, uint8_t pat)
{
	memset(vm->ram, pat, 4096);
	if (tl_vm_rw(vm, 0, true, off, 4096, 0) != 4096)
		return false;
	memset(vm->ram + 8192, 0, 4096);
	if (tl_vm_rw(vm, 0, false, off, 4096, 8192) != 4096)
		return false;
	return !memcmp(vm->ram, vm->ram + 8192, 4096);
}

uint64_t tl_rand(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* ---- slowfs: a FUSE volume with held reads ---- */

const char *tl_slowfs_missing(void)
{
	char *probe[] = { "/usr/bin/python3", "-c", "import fusepy", NULL };

	if (geteuid() != 0)
		return "needs root to mount a FUSE file system";
	if (access("/dev/fuse", R_OK | W_OK) < 0)
		return "no /dev/fuse (slowfs needs FUSE)";
	if (tl_run(probe, "/dev/null", 30000) != 0)
		return "python3-fusepy is missing (scripts/install-deps installs it)";
	return NULL;
}

void tl_slowfs_start(struct tl_daemon *d, struct tl_slowfs *fs, uint64_t size, uint64_t gate_off)
{
	const char *why = tl_slowfs_missing();
	char path[512], gate[32], *argv[7];
	uint8_t block[4096];
	int fd;

	memset(fs, 0, sizeof(*fs));
	fs->events_fd = fs->gate_fd = -1;
	if (why)
		tl_skip("SKIP: %s", why);
	snprintf(fs->mnt, sizeof(fs->mnt), "%s/fuse", d->vols);
	snprintf(fs->ctl, sizeof(fs->ctl), "%s/slowfs", d->dir);
	snprintf(fs->back, sizeof(fs->back), "%s/slowfs/back.img", d->dir);
	if (mkdir(fs->mnt, 0755) < 0 || mkdir(fs->ctl, 0755) < 0)
		tl_fatal("mkdir for slowfs: %m");
	fd = open(fs->back, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		tl_fatal("create %s: %m", fs->back);
	for (uint64_t off = 0; off < size; off += sizeof(block)) {
		for (size_t i = 0; i < sizeof(block); i++)
			block[i] = tl_slowfs_byte(off + i);
		if (pwrite(fd, block, sizeof(block), (off_t)off) != (ssize_t)sizeof(block))
			tl_fatal("write %s: %m", fs->back);
	}
	close(fd);
	snprintf(path, sizeof(path), "%s/events", fs->ctl);
	if (mkfifo(path, 0600) < 0)
		tl_fatal("mkfifo %s: %m", path);
	/* Ours first, non-blocking: slowfs's blocking open for writing then returns. */
	fs->events_fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	snprintf(path, sizeof(path), "%s/gate", fs->ctl);
	if (fs->events_fd < 0 || mkfifo(path, 0600) < 0)
		tl_fatal("slowfs fifos: %m");
	snprintf(gate, sizeof(gate), "%llu", (unsigned long long)gate_off);
	argv[0] = "/usr/bin/python3";
	argv[1] = "tests/integ/slowfs.py";
	argv[2] = fs->mnt;
	argv[3] = fs->back;
	argv[4] = fs->ctl;
	argv[5] = gate;
	argv[6] = NULL;
	fs->pid = tl_spawn(argv, NULL);
	if (tl_slowfs_wait_read(fs, 20000) != -1)
		tl_fatal("slowfs did not come up (see its output above)");
	/* slowfs holds the gate open for reading and writing: this never blocks. */
	fs->gate_fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (fs->gate_fd < 0)
		tl_fatal("open %s: %m", path);
}

int64_t tl_slowfs_wait_read(struct tl_slowfs *fs, int timeout_ms)
{
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000ull;

	for (;;) {
		struct pollfd pfd = { .fd = fs->events_fd, .events = POLLIN };
		char *nl = memchr(fs->buf, '\n', fs->len);
		int64_t left;
		ssize_t n;

		if (nl) {
			/* "m" (mounted): -1; "r OFFSET": the offset. */
			int64_t v = fs->buf[0] == 'r' ? strtoll(fs->buf + 2, NULL, 10) : -1;

			fs->len -= (size_t)(nl + 1 - fs->buf);
			memmove(fs->buf, nl + 1, fs->len);
			return v;
		}
		left = (int64_t)(deadline - now_ns()) / 1000000;
		if (left <= 0 || fs->len == sizeof(fs->buf))
			return -ETIMEDOUT;
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		n = read(fs->events_fd, fs->buf + fs->len, sizeof(fs->buf) - fs->len);
		if (n > 0)
			fs->len += (size_t)n;
		else if (n == 0)
			return -ETIMEDOUT;	/* slowfs exited */
	}
}

void tl_slowfs_release(struct tl_slowfs *fs)
{
	if (fs->gate_fd >= 0 && write(fs->gate_fd, "x", 1) != 1)
		tl_fatal("slowfs gate: %m");
}

void tl_slowfs_stop(struct tl_slowfs *fs)
{
	if (fs->pid <= 0)
		return;
	/* Whatever still waits gets its data; then the mount goes. */
	for (int i = 0; i < 64 && fs->gate_fd >= 0; i++)
		if (write(fs->gate_fd, "x", 1) != 1)
			break;
	/* slowfs unmounts on SIGTERM; the lazy unmount is for one that cannot. */
	kill(fs->pid, SIGTERM);
	tl_wait(fs->pid, 10000);
	umount2(fs->mnt, MNT_DETACH);
	fs->pid = 0;
	if (fs->gate_fd >= 0)
		close(fs->gate_fd);
	if (fs->events_fd >= 0)
		close(fs->events_fd);
	fs->gate_fd = fs->events_fd = -1;
}
