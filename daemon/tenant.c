/* SPDX-License-Identifier: MIT */
/*
 * tenant.c - the tenant life cycle, on the control thread: attach (open and
 * confine the volume), plug (map and validate a VM's region and memory, hand
 * it to a poller), unplug and detach (take it back once drained). This is
 * the core API the control methods call; it never sees JSON. Each function
 * returns 0 or a negative errno and writes a message for the operator to err.
 */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <poll.h>
#include <pthread.h>
#include <linux/fs.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "backend/backend.h"
#include "devkey.h"
#include "domain.h"
#include "lifecycle.h"
#include "log.h"
#include "poller.h"
#include "pvfsd.h"
#include "tenant.h"
#include "util.h"

#define MAX_IO_BYTES		(1u << 20)
#define MAX_DISCARD_BYTES	(1u << 30)

static struct tenant *tenants;
static unsigned nr_tenants;
static uint64_t next_tio_id;
static bool stopping;		/* shutting down: no new plugs */
static uint64_t moves_total;

/*
 * Restoring RBD tenants at start: each Ceph cluster (by ceph.conf) gets
 * RBD_RESTORE_CONNECT_S seconds to answer, once; those that did not are
 * listed here and not asked again for the next tenant.
 */
#define RBD_RESTORE_CONNECT_S	5
static const char *unreachable[ARRAY_SIZE(cfg.ceph_confs) + 1];	/* "": the default */
static int nr_unreachable;

static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return code;
}

/*
 * Connecting to a remote volume (NBD, RBD) blocks for up to its timeout
 * (nbd_timeout, rbd_timeout: 30 s by default). It runs on a thread of its
 * own while the control thread waits and calls wait_tick (set by main:
 * systemd's watchdog) every WAIT_TICK_MS, so one operator's attach to a
 * server that does not answer never gets pvfsd, and every tenant with it,
 * killed by the watchdog. Other control requests still wait for it: the
 * control thread is single (docs/backends.md, "Limits").
 */
#define WAIT_TICK_MS	250
static void (*wait_tick)(void);

void tenant_set_wait_tick(void (*fn)(void))
{
	wait_tick = fn;
}

struct blocking {
	int (*fn)(void *arg);
	void *arg;
	int r;
	int efd;
};

static void *blocking_main(void *p)
{
	struct blocking *bl = p;

	bl->r = bl->fn(bl->arg);
	/* Orders bl->r (and all fn wrote) before the waiter's read, with the join. */
	eventfd_write(bl->efd, 1);
	return NULL;
}

static int run_blocking(int (*fn)(void *arg), void *arg)
{
	struct blocking bl = { .fn = fn, .arg = arg };
	pthread_t th;

	bl.efd = eventfd(0, EFD_CLOEXEC);
	if (bl.efd < 0 || pthread_create(&th, NULL, blocking_main, &bl)) {
		if (bl.efd >= 0)
			close(bl.efd);
		return fn(arg);		/* no thread: wait here, without ticks */
	}
	for (;;) {
		struct pollfd pfd = { .fd = bl.efd, .events = POLLIN };

		if (poll(&pfd, 1, WAIT_TICK_MS) > 0)
			break;
		if (wait_tick)
			wait_tick();
	}
	pthread_join(th, NULL);
	close(bl.efd);
	return bl.r;
}

struct nbd_open_args {
	const char *uri;
	const struct nbd_params *np;
	struct backend **ret;
	char *err;
	size_t errlen;
};

static int nbd_open_fn(void *p)
{
	struct nbd_open_args *a = p;

	return nbd_backend_open(a->uri, a->np, a->ret, a->err, a->errlen);
}

struct rbd_open_args {
	const struct rbd_params *rp;
	struct backend **ret;
	char *err;
	size_t errlen;
};

static int rbd_open_fn(void *p)
{
	struct rbd_open_args *a = p;

	return rbd_backend_open(a->rp, a->ret, a->err, a->errlen);
}

static int qos_error(int r, char *err, size_t errlen)
{
	return fail(err, errlen, r,
		    "invalid QoS: weight must be %d-%d, iops_limit and iops_reservation 0-%llu, "
		    "bps_limit 0-%llu, latency_target_us 0-%llu (0 = none), and the "
		    "reservation not above the IOPS limit",
		    SCHED_WEIGHT_MIN, SCHED_WEIGHT_MAX, (unsigned long long)SCHED_IOPS_MAX,
		    (unsigned long long)SCHED_BPS_MAX,
		    (unsigned long long)(SCHED_LAT_TARGET_MAX / 1000));
}

const char *tenant_state_name(enum tenant_state s)
{
	switch (s) {
	case TENANT_UNPLUGGED: return "unplugged";
	case TENANT_RUNNING: return "running";
	case TENANT_BROKEN: return "broken";
	case TENANT_DRAINING: return "draining";
	}
	return "unknown";
}

const char *cache_mode_name(enum cache_mode m)
{
	return m == CACHE_WRITEBACK ? "writeback" : "none";
}

struct tenant *tenant_find(const char *name)
{
	for (struct tenant *t = tenants; t; t = t->next)
		if (!strcmp(t->name, name))
			return t;
	return NULL;
}

struct tenant *tenant_first(void)
{
	return tenants;
}

unsigned tenant_count(void)
{
	return nr_tenants;
}

/* tenant_effective_state - RUNNING turns BROKEN once a poller found the ring corrupt. */
enum tenant_state tenant_effective_state(const struct tenant *t)
{
	if (t->state == TENANT_RUNNING && stat_get(&t->st.broken))
		return TENANT_BROKEN;
	return t->state;
}

int tenant_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n < 1 || n > PVFS_CTL_MAX_NAME || name[0] == '.' || name[0] == '-')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return 0;
	}
	return 1;
}

/*
 * open_beneath - open rel inside dirfd, refusing any resolution that leaves
 * it (".." or a symlink pointing out), and magic links.
 */
static int open_beneath(int dirfd, const char *rel, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)flags,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
}

/*
 * under_dir - what follows directory dir in absolute path (without leading
 * slashes), or NULL if path is not inside dir. dir is normalised (config.c):
 * no trailing '/', except "/" itself.
 */
static const char *under_dir(const char *path, const char *dir)
{
	size_t dl = strlen(dir);

	if (strncmp(path, dir, dl) || (dl > 1 && path[dl] != '/'))
		return NULL;
	path += dl;
	while (*path == '/')
		path++;
	return path;
}

/* under_volume_dir - under_dir for volume dir i, by its real or its configured name. */
static const char *under_volume_dir(const char *path, int i)
{
	const char *rel = under_dir(path, cfg.volume_dirs[i]);

	if (!rel && cfg.volume_dir_aliases[i])
		rel = under_dir(path, cfg.volume_dir_aliases[i]);
	return rel;
}

static const char *file_type_name(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFIFO: return "FIFO";
	case S_IFSOCK: return "socket";
	case S_IFCHR: return "character device";
	default: return "special file";
	}
}

/*
 * bdev_user - the tenant already attached to block device dev, to the disk
 * it is a partition of, or to a partition of it; NULL if none. Two
 * partitions of one disk do not overlap. (The kernel enforces the same
 * through O_EXCL; this is to name the tenant.)
 */
static const struct tenant *bdev_user(dev_t dev)
{
	dev_t whole = dev_whole_disk(dev);

	for (const struct tenant *o = tenants; o; o = o->next)
		if (o->is_bdev && (o->vol_dev == dev || o->vol_dev == whole ||
				   dev_whole_disk(o->vol_dev) == dev))
			return o;
	return NULL;
}

/*
 * open_checked - open what pfd (an O_PATH descriptor of volume path)
 * names with flags, if it is something pvfsd serves. O_PATH opened nothing:
 * no FIFO to block on until a writer comes, no device driver's open() with
 * its side effects. Only a regular file, or an allowed block device, is then
 * opened, through /proc/self/fd so that it is the very inode checked. Block
 * devices are opened O_EXCL: the kernel then refuses a disk that is mounted
 * or in use by md or device-mapper, the same disk through another node, and
 * a whole disk and its partitions at once.
 */
static int open_checked(int pfd, const char *path, int flags, char *err, size_t errlen)
{
	const struct tenant *o;
	char self[64];
	struct stat st;
	int fd;

	if (fstat(pfd, &st) < 0)
		return fail(err, errlen, -errno, "cannot stat volume %s: %m", path);
	if (S_ISDIR(st.st_mode))
		return fail(err, errlen, -EISDIR,
			    "volume %s is a directory; give a file or a block device", path);
	if (S_ISBLK(st.st_mode)) {
		if (!cfg.allow_bdev)
			return fail(err, errlen, -EPERM,
				    "volume %s is a block device; pvfsd only serves block "
				    "devices with allow_block_devices=true in its config", path);
		o = bdev_user(st.st_rdev);
		if (o)
			return fail(err, errlen, -EBUSY,
				    "volume %s (block device %u:%u) overlaps the volume of tenant "
				    "%s (%s); a disk serves one tenant at a time, whole or by "
				    "partitions", path, major(st.st_rdev), minor(st.st_rdev),
				    o->name, o->volume);
		flags |= O_EXCL;
	} else if (!S_ISREG(st.st_mode)) {
		return fail(err, errlen, -EINVAL,
			    "volume %s is a %s; pvfsd serves regular files and block devices "
			    "only", path, file_type_name(st.st_mode));
	}
	snprintf(self, sizeof(self), "/proc/self/fd/%d", pfd);
	fd = open(self, flags | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	if (errno == EINVAL && (flags & O_DIRECT))
		return fail(err, errlen, -EINVAL,
			    "volume %s: its file system does not support O_DIRECT; "
			    "attach with cache=writeback", path);
	if (errno == EBUSY && S_ISBLK(st.st_mode))
		return fail(err, errlen, -EBUSY,
			    "volume %s (block device %u:%u) is in use on the host: mounted, part "
			    "of an md, LVM or device-mapper device, or opened exclusively by "
			    "another program; free it first", path, major(st.st_rdev),
			    minor(st.st_rdev));
	if (errno == ENOENT)
		return fail(err, errlen, -ENOENT,
			    "cannot open volume %s through /proc/self/fd: is /proc mounted?", path);
	return fail(err, errlen, -errno, "cannot open volume %s: %m", path);
}

/*
 * open_volume - find path in the configured volume directories and open it.
 * An absolute path must lie inside one of them (by its real path or by the
 * name it was configured with); a relative one is looked up in each in order.
 */
static int open_volume(const char *path, int flags, char *real, size_t reallen,
		       char *err, size_t errlen)
{
	int last = -ENOENT;

	if (!*path)
		return fail(err, errlen, -EINVAL, "volume path is empty");
	for (int i = 0; i < cfg.nr_volume_dirs; i++) {
		const char *dir = cfg.volume_dirs[i];
		const char *rel = path;
		_cleanup_close_ int dfd = -1, pfd = -1;

		if (path[0] == '/' && !(rel = under_volume_dir(path, i)))
			continue;
		dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			continue;
		pfd = open_beneath(dfd, rel, O_PATH | O_CLOEXEC);
		if (pfd == -EXDEV || pfd == -ELOOP)
			return fail(err, errlen, -EXDEV,
				    "volume %s resolves outside volume directory %s "
				    "(\"..\" or a symlink leading out); use a path inside it",
				    path, dir);
		if (pfd < 0) {
			last = pfd;
			if (path[0] == '/')
				break;
			continue;
		}
		snprintf(real, reallen, "%s/%s", strcmp(dir, "/") ? dir : "", rel);
		return open_checked(pfd, path, flags, err, errlen);
	}
	if (last == -ENOENT) {
		if (path[0] == '/' && !cfg.nr_volume_dirs)
			return fail(err, errlen, -EACCES,
				    "no volume directory is configured; start pvfsd with --volume-dir");
		if (path[0] == '/') {
			int inside = 0;

			for (int i = 0; i < cfg.nr_volume_dirs; i++)
				if (under_volume_dir(path, i))
					inside = 1;
			if (!inside)
				return fail(err, errlen, -EXDEV,
					    "volume %s is outside the configured volume directories "
					    "(--volume-dir); move it into one", path);
		}
		return fail(err, errlen, -ENOENT,
			    "volume %s does not exist in the volume directories; create it first "
			    "(e.g. truncate -s 10G)", path);
	}
	return fail(err, errlen, last, "cannot open volume %s: %s", path, strerror(-last));
}

static int volume_geometry(struct tenant *t, char *err, size_t errlen)
{
	struct statx stx;

	if (statx(t->vol_fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS | STATX_DIOALIGN, &stx) < 0)
		return fail(err, errlen, -errno, "cannot stat volume %s: %m", t->volume);
	t->vol_dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
	t->vol_ino = stx.stx_ino;
	t->lbs = 512;
	t->pbs = stx.stx_blksize ? stx.stx_blksize : 4096;
	if (S_ISBLK(stx.stx_mode)) {
		uint64_t bytes;
		int lbs, pbs;

		if (ioctl(t->vol_fd, BLKGETSIZE64, &bytes) < 0 ||
		    ioctl(t->vol_fd, BLKSSZGET, &lbs) < 0 || ioctl(t->vol_fd, BLKPBSZGET, &pbs) < 0)
			return fail(err, errlen, -errno, "cannot query block device %s: %m",
				    t->volume);
		/* A disk is the same whatever node names it: compare device numbers. */
		t->vol_dev = makedev(stx.stx_rdev_major, stx.stx_rdev_minor);
		t->is_bdev = true;
		t->capacity = bytes;
		t->lbs = (uint32_t)lbs;
		t->pbs = (uint32_t)pbs;
	} else if (S_ISREG(stx.stx_mode)) {
		t->capacity = stx.stx_size;
		if (t->cache == CACHE_NONE && (stx.stx_mask & STATX_DIOALIGN) &&
		    stx.stx_dio_offset_align > t->lbs)
			t->lbs = stx.stx_dio_offset_align;
	} else {
		return fail(err, errlen, -EINVAL,
			    "volume %s is neither a regular file nor a block device", t->volume);
	}
	if (t->pbs < t->lbs)
		t->pbs = t->lbs;
	t->capacity &= ~(uint64_t)(t->lbs - 1);
	if (!t->capacity)
		return fail(err, errlen, -EINVAL,
			    "volume %s is empty; give it a size first (e.g. truncate -s 10G)",
			    t->volume);
	return 0;
}

/* attach_file - a file or block device inside the volume directories. */
static int attach_file(struct tenant *t, const struct attach_params *ap, char *err, size_t errlen)
{
	int flags, r;

	flags = (ap->readonly ? O_RDONLY : O_RDWR) | (ap->cache == CACHE_NONE ? O_DIRECT : 0);
	t->vol_fd = open_volume(ap->volume, flags, t->volume_real, sizeof(t->volume_real),
				err, errlen);
	if (t->vol_fd < 0)
		return t->vol_fd;
	r = volume_geometry(t, err, errlen);
	if (r < 0)
		goto out_close_volume;
	/* Block devices were checked (bdev_user) and claimed (O_EXCL) when opened. */
	for (struct tenant *o = tenants; o && !t->is_bdev; o = o->next) {
		if (!o->is_bdev && o->vol_dev == t->vol_dev && o->vol_ino == t->vol_ino) {
			r = fail(err, errlen, -EBUSY,
				 "volume %s is already attached to tenant %s; a volume serves one "
				 "tenant at a time", ap->volume, o->name);
			goto out_close_volume;
		}
	}
	r = file_backend_open(t->vol_fd, &(struct file_params){
					.capacity = t->capacity, .lbs = t->lbs, .pbs = t->pbs,
					.readonly = t->readonly, .direct = t->cache == CACHE_NONE,
					.is_bdev = t->is_bdev, .dev = t->vol_dev },
			      &t->backend, err, errlen);
	/* The backend owns the descriptor now, also when it failed. */
	t->vol_fd = -1;
	return r;

out_close_volume:
	close(t->vol_fd);
	t->vol_fd = -1;
	return r;
}

/*
 * attach_nbd - an NBD export, from a server the config allows (allow_nbd
 * globs, matched against the whole URI): a control request alone never
 * makes pvfsd connect anywhere.
 */
static int attach_nbd(struct tenant *t, const struct attach_params *ap, char *err, size_t errlen)
{
	const struct backend_info *bi;
	bool allowed = false;
	int r;

	r = nbd_uri_check(ap->volume, err, errlen);
	if (r < 0)
		return r;
	for (int i = 0; i < cfg.nr_allow_nbd; i++)
		if (!fnmatch(cfg.allow_nbd[i], ap->volume, 0))
			allowed = true;
	if (!allowed && !cfg.nr_allow_nbd)
		return fail(err, errlen, -EPERM,
			    "volume %s: pvfsd serves NBD volumes only from servers its config "
			    "allows; add allow_nbd = PATTERN (e.g. nbd://10.0.0.*/* or "
			    "nbd+unix://*) to the [pvfsd] section of %s", ap->volume,
			    cfg.config_file ? cfg.config_file : "its config");
	if (!allowed)
		return fail(err, errlen, -EPERM,
			    "volume %s matches no allow_nbd pattern in pvfsd's config (first: %s); "
			    "an operator must allow that server there", ap->volume,
			    cfg.allow_nbd[0]);
	for (struct tenant *o = tenants; o; o = o->next)
		if (!strcmp(o->volume, ap->volume))
			return fail(err, errlen, -EBUSY,
				    "volume %s is already attached to tenant %s; a volume serves "
				    "one tenant at a time", ap->volume, o->name);
	r = run_blocking(nbd_open_fn, &(struct nbd_open_args){
				.uri = ap->volume,
				.np = &(struct nbd_params){
					.timeout_ms = cfg.nbd_timeout_ms,
					.connections = cfg.nbd_connections,
					.readonly = ap->readonly,
					.known = ap->known },
				.ret = &t->backend, .err = err, .errlen = errlen });
	if (r < 0)
		return r;
	if (r > 0)
		log_warn("tenant %s: %s; restored from the state file, its requests wait for the "
			 "server (nbd_timeout) once a VM is plugged", ap->name, err);
	bi = &t->backend->info;
	t->vol_fd = -1;
	t->capacity = bi->capacity;
	t->lbs = bi->lbs;
	t->pbs = bi->pbs;
	snprintf(t->volume_real, sizeof(t->volume_real), "%s", ap->volume);
	return 0;
}

/*
 * pick - the config's choice for key: want if the config lists it, its
 * first entry if want is NULL (NULL if it lists none: Ceph's default).
 */
static int pick(const char *want, char *const *list, int n, const char *key, const char **ret,
		char *err, size_t errlen)
{
	char names[512] = "";

	if (!want) {
		*ret = n ? list[0] : NULL;
		return 0;
	}
	for (int i = 0; i < n; i++) {
		if (!strcmp(list[i], want)) {
			*ret = list[i];
			return 0;
		}
		snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s", i ? ", " : "",
			 list[i]);
	}
	if (!n)
		return fail(err, errlen, -EPERM,
			    "%s %s: pvfsd's config names no %s, so only Ceph's default is used; "
			    "attach without it, or add %s = %s to the [pvfsd] section", key, want,
			    key, key, want);
	return fail(err, errlen, -EPERM,
		    "%s %s is not one pvfsd's config allows; pick one of: %s", key, want, names);
}

/*
 * attach_rbd - an RBD image from a pool the config allows (allow_rbd_pools),
 * with a ceph.conf and client the config names: the request picks among
 * them, never beyond. The keyring is what that ceph.conf (or ceph_keyring)
 * names, read by pvfsd; no secret travels over the control socket.
 */
static int attach_rbd(struct tenant *t, const struct attach_params *ap, char *err, size_t errlen)
{
	struct rbd_params rp = { .readonly = ap->readonly, .writeback = ap->cache == CACHE_WRITEBACK,
				 .keyring = cfg.ceph_keyring, .timeout_s = cfg.rbd_timeout_s };
	const struct backend_info *bi;
	const char *id = ap->ceph_id;
	bool allowed = false;
	int r;

	if (rbd_spec_parse(ap->volume, &rp.spec) < 0)
		return fail(err, errlen, -EINVAL,
			    "volume %s: an RBD volume is rbd:POOL/IMAGE or rbd:POOL/IMAGE@SNAPSHOT "
			    "(names without spaces, '/' or '@'; namespaces are not supported)",
			    ap->volume);
	for (int i = 0; i < cfg.nr_allow_rbd_pools; i++)
		if (!strcmp(cfg.allow_rbd_pools[i], rp.spec.pool))
			allowed = true;
	if (!cfg.nr_allow_rbd_pools)
		return fail(err, errlen, -EPERM,
			    "volume %s: pvfsd serves RBD volumes only from pools its config allows; "
			    "add allow_rbd_pools = %s to the [pvfsd] section of %s", ap->volume,
			    rp.spec.pool, cfg.config_file ? cfg.config_file : "its config");
	if (!allowed)
		return fail(err, errlen, -EPERM,
			    "volume %s: pool %s is not in pvfsd's allow_rbd_pools (first: %s); an "
			    "operator must allow it there", ap->volume, rp.spec.pool,
			    cfg.allow_rbd_pools[0]);
	if (id && !strncmp(id, "client.", 7))
		id += 7;
	r = pick(ap->ceph_conf, cfg.ceph_confs, cfg.nr_ceph_confs, "ceph_conf", &rp.conf, err,
		 errlen);
	if (r < 0)
		return r;
	r = pick(id, cfg.ceph_ids, cfg.nr_ceph_ids, "ceph_id", &rp.id, err, errlen);
	if (r < 0)
		return r;
	for (struct tenant *o = tenants; o; o = o->next)
		if (!strcmp(o->volume, ap->volume) && !(o->readonly && ap->readonly))
			return fail(err, errlen, -EBUSY,
				    "volume %s is already attached to tenant %s; a volume serves "
				    "one tenant at a time (read-only ones may share it)", ap->volume,
				    o->name);
	rp.lock = ap->force ? RBD_LOCK_BREAK : ap->restore ? RBD_LOCK_WAIT : RBD_LOCK_REFUSE;
	if (ap->restore) {
		/*
		 * pvfsd is not READY until its state file is restored: a cluster
		 * that is down at boot must cost seconds once, not rbd_timeout
		 * per tenant (systemd would kill pvfsd, and every local tenant
		 * with it). A tenant not restored stays in the state file.
		 */
		for (int i = 0; i < nr_unreachable; i++)
			if (!strcmp(unreachable[i], rp.conf ? rp.conf : ""))
				return fail(err, errlen, -ETIMEDOUT,
					    "its Ceph cluster (%s) did not answer for an earlier "
					    "tenant", rp.conf ? rp.conf : "default ceph.conf");
		rp.connect_timeout_s = RBD_RESTORE_CONNECT_S;
	}
	r = run_blocking(rbd_open_fn, &(struct rbd_open_args){ .rp = &rp, .ret = &t->backend,
							       .err = err, .errlen = errlen });
	if (r == -ETIMEDOUT && ap->restore && nr_unreachable < (int)ARRAY_SIZE(unreachable))
		unreachable[nr_unreachable++] = rp.conf ? rp.conf : "";
	if (r < 0)
		return r;
	bi = &t->backend->info;
	t->vol_fd = -1;
	t->capacity = bi->capacity;
	t->lbs = bi->lbs;
	t->pbs = bi->pbs;
	/* A snapshot is read-only whatever was asked. */
	t->readonly = t->readonly || (bi->features & BACKEND_F_RO);
	snprintf(t->volume_real, sizeof(t->volume_real), "%s (%s, client.%s)", ap->volume,
		 rp.conf ? rp.conf : "default ceph.conf", rp.id ? rp.id : "admin");
	t->ceph_conf = ap->ceph_conf ? strdup(ap->ceph_conf) : NULL;
	t->ceph_id = id ? strdup(id) : NULL;
	if ((ap->ceph_conf && !t->ceph_conf) || (id && !t->ceph_id)) {
		free(t->ceph_conf);
		free(t->ceph_id);
		backend_close(t->backend);
		return fail(err, errlen, -ENOMEM, "out of memory");
	}
	return 0;
}

int tenant_attach(const struct attach_params *ap, struct tenant **ret, char *err, size_t errlen)
{
	_cleanup_free_ struct tenant *t = NULL;
	int r;

	if (!tenant_name_valid(ap->name))
		return fail(err, errlen, -EINVAL,
			    "invalid tenant name \"%s\": use 1-%d characters of A-Z a-z 0-9 _ . -, "
			    "not starting with . or -", ap->name, PVFS_CTL_MAX_NAME);
	if (tenant_find(ap->name))
		return fail(err, errlen, -EEXIST, "tenant %s already exists; detach it first",
			    ap->name);
	if (nr_tenants >= PVFSD_MAX_TENANTS)
		return fail(err, errlen, -ENOSPC, "pvfsd serves at most %d tenants",
			    PVFSD_MAX_TENANTS);
	r = sched_qos_validate(&ap->qos);
	if (r < 0)
		return qos_error(r, err, errlen);
	if (strlen(ap->volume) >= sizeof(t->volume))
		return fail(err, errlen, -ENAMETOOLONG, "volume path too long");

	t = calloc(1, sizeof(*t));
	if (!t)
		return fail(err, errlen, -ENOMEM, "out of memory");
	snprintf(t->name, sizeof(t->name), "%s", ap->name);
	snprintf(t->volume, sizeof(t->volume), "%s", ap->volume);
	t->readonly = ap->readonly;
	t->cache = ap->cache;
	t->qos = ap->qos;
	t->coalesce = ap->coalesce;
	t->state = TENANT_UNPLUGGED;

	if (strcmp(backend_kind(ap->volume), "rbd") && (ap->force || ap->ceph_conf || ap->ceph_id))
		r = fail(err, errlen, -EINVAL,
			 "volume %s: force, ceph_conf and ceph_id apply to RBD volumes only",
			 ap->volume);
	else if (!strcmp(backend_kind(ap->volume), "nbd"))
		r = attach_nbd(t, ap, err, errlen);
	else if (!strcmp(backend_kind(ap->volume), "rbd"))
		r = attach_rbd(t, ap, err, errlen);
	else
		r = attach_file(t, ap, err, errlen);
	if (r < 0)
		return r;
	/* The device it is on is what it competes for (docs/qos.md "Domains"). */
	r = domain_get(t->backend->info.domain, &t->dom);
	if (r < 0) {
		fail(err, errlen, r, "cannot create the scheduling domain %s: %s",
		     t->backend->info.domain, strerror(-r));
		backend_close(t->backend);
		return r;
	}
	t->next = tenants;
	tenants = t;
	nr_tenants++;
	log_info("tenant %s attached: volume %s, %llu bytes, %s, cache=%s", t->name,
		 t->volume_real, (unsigned long long)t->capacity, t->readonly ? "ro" : "rw",
		 cache_mode_name(t->cache));
	*ret = t;
	t = NULL;
	return 0;
}

/* fd_is_eventfd - the kernel names eventfds "anon_inode:[eventfd]". */
static int fd_is_eventfd(int fd)
{
	char path[64], target[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return 0;
	target[n] = '\0';
	return !strcmp(target, "anon_inode:[eventfd]");
}

static int fd_is_memory(int fd, uint64_t *ret_size)
{
	struct stat st;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return 0;
	*ret_size = (uint64_t)st.st_size;
	return 1;
}

/*
 * REGION_SEALS - what a region memfd must carry. pvfsd's own CPU reads and
 * writes the region (indices, SQEs, CQEs, the in-flight table): a region that
 * shrank under its mapping would kill all of pvfsd with SIGBUS, so it must
 * not be able to shrink (F_SEAL_SHRINK), and the VMM must not be able to add
 * seals later (F_SEAL_SEAL: F_SEAL_FUTURE_WRITE would make a re-plug's
 * writable mapping fail). Growing is harmless: pvfsd maps the size it saw.
 * Guest RAM needs no seal: only the kernel touches it, through io_uring, and
 * a request into a part that is gone fails with -EFAULT for its tenant alone.
 */
#define REGION_SEALS (F_SEAL_SHRINK | F_SEAL_SEAL)

/* fd_seals - the memfd's seals, or -errno (-EINVAL: not a file that can be sealed). */
static int fd_seals(int fd)
{
	int seals = fcntl(fd, F_GET_SEALS);

	return seals < 0 ? -errno : seals;
}

/* max_bytes - pvfsd's limit, lowered to the backend's (0: none), in whole blocks. */
static uint32_t max_bytes(uint32_t ours, uint32_t backend, uint32_t lbs)
{
	if (backend && backend < ours)
		ours = backend & ~(lbs - 1);
	return ours ? ours : lbs;
}

/* host_features - what the guest is offered: what the backend can do. */
static uint64_t host_features(const struct tenant *t)
{
	uint32_t f = t->backend->info.features;

	return ((f & BACKEND_F_FLUSH) ? PVFS_F_FLUSH : 0) |
	       ((f & BACKEND_F_DISCARD) ? PVFS_F_DISCARD : 0) |
	       ((f & BACKEND_F_WRITE_ZEROES) ? PVFS_F_WRITE_ZEROES : 0) |
	       ((t->readonly || (f & BACKEND_F_RO)) ? PVFS_F_RO : 0) |
	       /* pvfs_ring.h's life-cycle bits: what pvfsd itself does. */
	       PVFS_F_DRAIN | PVFS_F_RESET | ((f & BACKEND_F_RESIZE) ? PVFS_F_RESIZE : 0);
}

static void tio_free(struct tenant_io *tio)
{
	if (!tio)
		return;
	/*
	 * A tenant whose move ended in a drain left its poller detached from
	 * the scheduler, not removed: take it out of its domain's counts.
	 */
	sched_entity_remove(NULL, &tio->se);
	for (uint32_t i = 0; i < tio->nr_mem; i++)
		if (tio->mem[i].map_base)
			munmap(tio->mem[i].map_base, tio->mem[i].map_len);
	if (tio->queues) {
		for (uint32_t i = 0; i < tio->nr_queues; i++) {
			struct io_queue *ioq = &tio->queues[i];

			free(ioq->reqs);
			free(ioq->iovs);
			free(ioq->seen_ns);
			free(ioq->recov_tags);
			if (ioq->kick_fd >= 0)
				close(ioq->kick_fd);
			if (ioq->call_fd >= 0)
				close(ioq->call_fd);
		}
		free(tio->queues);
	}
	if (tio->region)
		munmap(tio->region, tio->region_size);
	free(tio);
}

static int map_memory(struct tenant_io *tio, const struct plug_params *pp, const int *memfds,
		      char *err, size_t errlen)
{
	long page = sysconf(_SC_PAGESIZE);

	for (uint32_t i = 0; i < pp->nr_mem; i++) {
		const struct plug_mem *m = &pp->mem[i];
		struct guest_mem *g = &tio->mem[i];
		uint64_t fsize, skew;
		void *base;

		if (!fd_is_memory(memfds[i], &fsize))
			return fail(err, errlen, -EBADF,
				    "memory[%u]: fd is not a memfd or regular file", i);
		if (!m->size || m->gpa + m->size < m->gpa || m->offset + m->size < m->offset ||
		    m->offset + m->size > fsize)
			return fail(err, errlen, -EINVAL,
				    "memory[%u]: gpa 0x%llx size 0x%llx offset 0x%llx does not fit "
				    "its file (%llu bytes)", i, (unsigned long long)m->gpa,
				    (unsigned long long)m->size, (unsigned long long)m->offset,
				    (unsigned long long)fsize);
		for (uint32_t j = 0; j < i; j++)
			if (m->gpa < pp->mem[j].gpa + pp->mem[j].size &&
			    pp->mem[j].gpa < m->gpa + m->size)
				return fail(err, errlen, -EINVAL,
					    "memory[%u] overlaps memory[%u] in guest-physical space", i, j);
		skew = m->offset & (uint64_t)(page - 1);
		base = mmap(NULL, m->size + skew, PROT_READ | PROT_WRITE, MAP_SHARED, memfds[i],
			    (off_t)(m->offset - skew));
		if (base == MAP_FAILED)
			return fail(err, errlen, -errno, "memory[%u]: mmap: %m", i);
		g->map_base = base;
		g->map_len = m->size + skew;
		g->host = (uint8_t *)base + skew;
		g->gpa = m->gpa;
		g->size = m->size;
		tio->nr_mem++;
	}
	return 0;
}

static int setup_queues(struct tenant_io *tio, int *fds)
{
	tio->queues = calloc(tio->nr_queues, sizeof(*tio->queues));
	if (!tio->queues)
		return -ENOMEM;
	for (uint32_t i = 0; i < tio->nr_queues; i++) {
		struct io_queue *ioq = &tio->queues[i];

		ioq->kick_fd = ioq->call_fd = -1;
	}
	for (uint32_t i = 0; i < tio->nr_queues; i++) {
		struct io_queue *ioq = &tio->queues[i];
		struct pvfs_queue_ctrl *c;

		ioq->tio = tio;
		ioq->qid = i;
		pvfs_queue_init(&ioq->q, tio->region, i, tio->depth, tio->max_segs);
		ioq->reqs = calloc(tio->depth, sizeof(*ioq->reqs));
		ioq->iovs = calloc((size_t)tio->depth * tio->max_segs, sizeof(*ioq->iovs));
		ioq->seen_ns = calloc(tio->depth, sizeof(*ioq->seen_ns));
		ioq->recov_tags = calloc(tio->depth, sizeof(*ioq->recov_tags));
		if (!ioq->reqs || !ioq->iovs || !ioq->seen_ns || !ioq->recov_tags)
			return -ENOMEM;
		for (uint32_t t = 0; t < tio->depth; t++) {
			ioq->reqs[t].tio = tio;
			ioq->reqs[t].ioq = ioq;
			ioq->reqs[t].tag = (uint16_t)t;
			ioq->reqs[t].iov = &ioq->iovs[(size_t)t * tio->max_segs];
		}
		/* Resume where the ring is: the region outlives pvfsd instances. */
		c = ioq->q.ctrl;
		ioq->sq_head = ioq->seen_tail = PVFS_READ_ONCE(&c->sq_head);
		ioq->cq_tail = PVFS_READ_ONCE(&c->cq_tail);
		ioq->cq_head_seen = PVFS_READ_ONCE(&c->cq_head);
		/* The eventfds now belong to tio (closed by tio_free). */
		ioq->kick_fd = fds[1 + i];
		ioq->call_fd = fds[1 + tio->nr_queues + i];
		fds[1 + i] = fds[1 + tio->nr_queues + i] = -1;
	}
	return 0;
}

int tenant_plug(const struct plug_params *pp, int *fds, size_t nfds, struct ctl_conn *conn,
		char *err, size_t errlen)
{
	struct tenant *t = tenant_find(pp->name);
	struct tenant_io *tio;
	struct pvfs_region_hdr *h, geo;
	uint64_t rsize;
	size_t want;
	int r;

	if (!t)
		return fail(err, errlen, -ENOENT,
			    "tenant %s is not attached; attach it first (pvfsctl attach)", pp->name);
	if (stopping)
		return fail(err, errlen, -ESHUTDOWN,
			    "pvfsd is shutting down; plug again once it is back");
	if (t->detaching)
		return fail(err, errlen, -EBUSY, "tenant %s is being detached", t->name);
	if (t->state != TENANT_UNPLUGGED)
		return fail(err, errlen, -EBUSY, "tenant %s is already plugged (state %s)",
			    t->name, tenant_state_name(t->state));
	if (pp->queues < 1 || pp->queues > PVFS_MAX_QUEUES)
		return fail(err, errlen, -EINVAL, "queues must be 1-%u", PVFS_MAX_QUEUES);
	if (pp->nr_mem < 1 || pp->nr_mem > PVFS_CTL_MAX_MEMREGIONS)
		return fail(err, errlen, -EINVAL, "memory must list 1-%d regions",
			    PVFS_CTL_MAX_MEMREGIONS);
	want = 1 + 2 * (size_t)pp->queues + pp->nr_mem;
	if (nfds != want)
		return fail(err, errlen, -EBADF,
			    "plug needs %zu fds (region, %u kick, %u call, %u memory), got %zu",
			    want, pp->queues, pp->queues, pp->nr_mem, nfds);
	/* Seals before size: once it cannot shrink, the size we read stays mapped. */
	r = fd_seals(fds[0]);
	if (r < 0 || (r & REGION_SEALS) != REGION_SEALS)
		return fail(err, errlen, -EBADF,
			    "region fd is %s; pvfsd needs a memfd sealed with F_SEAL_SHRINK and "
			    "F_SEAL_SEAL, or a VMM could crash it by shrinking the region: create "
			    "it with memfd_create(MFD_ALLOW_SEALING) and add those seals before "
			    "plugging (pvfs_region_create() does)",
			    r < 0 ? "not a memfd" : "not sealed that way");
	if (!fd_is_memory(fds[0], &rsize) || rsize < PVFS_HDR_SIZE)
		return fail(err, errlen, -EBADF, "region fd is not a memfd of at least %u bytes",
			    PVFS_HDR_SIZE);
	for (uint32_t i = 0; i < 2 * pp->queues; i++) {
		int fl;

		if (!fd_is_eventfd(fds[1 + i]))
			return fail(err, errlen, -EBADF, "%s fd of queue %u is not an eventfd",
				    i < pp->queues ? "kick" : "call", i % pp->queues);
		/* The pollers must never block on a VMM's eventfd. */
		fl = fcntl(fds[1 + i], F_GETFL);
		if (fl < 0 || (!(fl & O_NONBLOCK) && fcntl(fds[1 + i], F_SETFL, fl | O_NONBLOCK) < 0))
			return fail(err, errlen, -errno, "cannot make eventfd non-blocking: %m");
	}

	tio = calloc(1, sizeof(*tio));
	if (!tio)
		return fail(err, errlen, -ENOMEM, "out of memory");
	tio->id = ++next_tio_id;
	tio->t = t;
	tio->backend = t->backend;
	tio->region_size = rsize;
	tio->region = mmap(NULL, rsize, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	if (tio->region == MAP_FAILED) {
		tio->region = NULL;
		r = fail(err, errlen, -errno, "cannot map region: %m");
		goto out_free_tio;
	}
	h = tio->region;
	/* One copy of the creator's geometry; only the copy is checked and used. */
	memcpy(&geo, h, offsetof(struct pvfs_region_hdr, host_features));
	if (geo.magic != PVFS_MAGIC || geo.abi_version != PVFS_ABI_VERSION) {
		r = fail(err, errlen, -EPROTO,
			 "region has magic 0x%x ABI %u; this pvfsd speaks ABI %u",
			 geo.magic, geo.abi_version, PVFS_ABI_VERSION);
		goto out_free_tio;
	}
	if (!pvfs_geometry_valid(geo.nr_queues, geo.queue_depth, geo.max_segs, geo.queue_stride,
				 MIN(geo.region_size, rsize)) || geo.nr_queues != pp->queues) {
		r = fail(err, errlen, -EINVAL,
			 "region geometry invalid or inconsistent (queues %u depth %u segs %u, "
			 "%llu bytes)", geo.nr_queues, geo.queue_depth, geo.max_segs,
			 (unsigned long long)rsize);
		goto out_free_tio;
	}
	tio->hdr = h;
	tio->nr_queues = geo.nr_queues;
	tio->depth = geo.queue_depth;
	tio->max_segs = geo.max_segs;
	tio->capacity = t->capacity;
	tio->lbs = t->lbs;
	tio->max_io_bytes = max_bytes(MAX_IO_BYTES, t->backend->info.max_io_bytes, t->lbs);
	tio->max_discard_bytes = max_bytes(MAX_DISCARD_BYTES, t->backend->info.max_discard_bytes,
					   t->lbs);
	tio->qos = t->qos;
	tio->coalesce = t->coalesce;
	tio->dom = t->dom->sd;
	tio->readonly = t->readonly;
	tio->direct = t->backend->info.direct;
	r = setup_queues(tio, fds);
	if (r < 0) {
		fail(err, errlen, r, "out of memory");
		goto out_free_tio;
	}
	r = map_memory(tio, pp, fds + 1 + 2 * pp->queues, err, errlen);
	if (r < 0)
		goto out_free_tio;

	/*
	 * A guest that asked for a reset nobody answered, or failed what was
	 * left when the last host ended in a terminal state, must not see any
	 * of it run: start empty (pvfs_ring.h "Host states", "Reset"). Before
	 * anything is re-issued: recover() then finds an empty table.
	 */
	if (lifecycle_plug_needs_reset(tio)) {
		lifecycle_reset_ring(tio, PVFS_READ_ONCE(&h->reset_req));
		log_notice("tenant %s: the region is reset (asked by the guest, or left in a "
			   "terminal state); nothing left in it runs", t->name);
	} else {
		tio->reset_ack = PVFS_READ_ONCE(&h->reset_ack);
	}
	/* Volume facts, then READY last with a release: the guest reads them after it. */
	lifecycle_publish_volume(tio, host_features(t), t->pbs);
	t->generation = PVFS_READ_ONCE(&h->host_generation) + 1;
	PVFS_WRITE_ONCE(&h->host_generation, t->generation);
	PVFS_STORE_RELEASE(&h->host_state, (uint32_t)PVFS_HOST_READY);

	memset(&t->st.broken, 0, sizeof(t->st.broken));
	__atomic_store_n(&t->broken_reason, NULL, __ATOMIC_RELAXED);
	t->tio = tio;
	t->plug_conn = conn;
	t->state = TENANT_RUNNING;
	t->plugs++;
	poller_add(pp->poller ? pp->poller : poller_get(0), tio, false);
	log_info("tenant %s plugged: %u queue(s) x %u, %u memory region(s), generation %u",
		 t->name, tio->nr_queues, tio->depth, tio->nr_mem, t->generation);
	return 0;

out_free_tio:
	tio_free(tio);
	return r;
}

void tenant_unplug(struct tenant *t)
{
	if (t->state != TENANT_RUNNING || !t->tio)
		return;
	t->state = TENANT_DRAINING;
	t->plug_conn = NULL;
	poller_remove(t->tio, false, false);
}

static void tenant_free(struct tenant *t)
{
	for (struct tenant **pp = &tenants; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	}
	nr_tenants--;
	domain_put(t->dom);
	if (t->vol_fd >= 0)
		close(t->vol_fd);
	backend_close(t->backend);
	free(t->ceph_conf);
	free(t->ceph_id);
	free(t);
}

/*
 * Ownership of a plugged tenant's data-plane state (struct tenant_io), the
 * one rule every path below keeps:
 *
 *   control thread --poller_add--> poller --(drained)--> control thread
 *
 * tenant_plug builds tio and hands it over; from then on only the poller
 * touches it (the control thread reads its immutable id and poller, and
 * statistics). Unplug and detach post removes; more than one may be on its
 * way (a VMM disconnect, then a forced detach), and the poller ignores one
 * for a tenant it no longer serves (poller.c: owned()). Only
 * tenant_drained, called when the poller has handed tio back, frees it;
 * t->tio is non-NULL exactly until then, so a remove is never posted for a
 * freed tio. t->state says which stage the tenant is in:
 *   UNPLUGGED (no tio) -> RUNNING (poller owns tio) -> DRAINING (a remove
 *   posted) -> UNPLUGGED (tio freed), or freed with it if detaching.
 * A move (tenant_move) stays in RUNNING: the old poller hands tio back
 * the same way as a drained remove, the control thread owns it for a
 * moment (tenant_drained -> move_end) and hands it to the new poller;
 * t->move_to is set exactly while that is on its way. Whatever comes
 * meanwhile still finds t->tio and posts to t->tio->p, the old poller:
 * either that poller still serves tio and acts on it (a remove turns the
 * move into a drain), or it handed tio back already and ignores the
 * message; then the state the message left (DRAINING) makes move_end
 * drain tio instead of passing it on. set_qos is kept in t->qos, which
 * the new poller gets.
 */
int tenant_detach(struct tenant *t, bool force, tenant_detach_cb cb, void *arg)
{
	if (t->detaching) {
		/* Escalate a detach that waits on slow I/O; there is one reply. */
		if (force && !t->detach_forced && t->tio) {
			t->detach_forced = true;
			poller_remove(t->tio, true, true);
			log_notice("tenant %s: forced detach: cancelling in-flight I/O", t->name);
		}
		return -EALREADY;
	}
	if (!t->tio) {
		log_info("tenant %s detached", t->name);
		tenant_free(t);
		return 0;
	}
	t->detaching = true;
	t->detach_forced = force;
	t->detach_cb = cb;
	t->detach_arg = arg;
	t->state = TENANT_DRAINING;
	/* Also when an unplug is draining already: it must now fail new I/O. */
	poller_remove(t->tio, true, force);
	if (force)
		log_notice("tenant %s: forced detach: cancelling in-flight I/O", t->name);
	return 1;	/* cb runs when the poller has drained */
}

/* fold_sched_stats - keep the scheduler's counters of tio: metrics never go backwards. */
static void fold_sched_stats(struct tenant *t, struct tenant_io *tio)
{
	struct sched_stats ss;

	sched_entity_stats(&tio->se, &ss);
	stat_add(&t->st.throttled, ss.throttled);
	stat_add(&t->st.throttled_ns, ss.throttled_ns);
}

/*
 * move_end - a move's hand-back: on to the new poller if the tenant still
 * runs; otherwise an unplug or detach came while it was on its way, and
 * tio, drained, takes the usual way out. Returns true if tio went on.
 */
static bool move_end(struct tenant *t, struct tenant_io *tio)
{
	struct poller *dst = t->move_to;
	tenant_move_cb cb = t->move_cb;
	void *arg = t->move_arg;
	bool on = tio->moving && t->state == TENANT_RUNNING;

	t->move_to = NULL;
	t->move_cb = NULL;
	if (on) {
		/*
		 * The control thread owns tio until poller_add: the QoS it
		 * takes is the newest (a set_qos on its way to the old poller
		 * may have been dropped with the tenant). Its scheduler
		 * counters travel with it (sched_entity_detach/attach): they
		 * are folded once, when it leaves for good.
		 */
		tio->qos = t->qos;
		tio->coalesce = t->coalesce;
		/* Likewise a resize: publish it now, with its interrupt on queue 0. */
		if (t->capacity > tio->capacity) {
			lifecycle_set_capacity(tio, t->capacity);
			tio->queues[0].need_irq = true;
			tio->queues[0].force_irq = true;
		}
		poller_add(dst, tio, true);
		t->moves++;
		t->moved_ns = now_ns();
		moves_total++;
		log_debug("tenant %s moved to poller %d", t->name, poller_index(dst));
	}
	if (cb)
		cb(arg, t->name, on ? poller_index(dst) : -ENODEV);
	return on;
}

void tenant_drained(struct tenant_io *tio)
{
	struct tenant *t = tio->t;

	if (t->move_to && move_end(t, tio))
		return;
	/* The remove may have come after the poller handed tio back for the move. */
	if (t->detaching)
		PVFS_STORE_RELEASE(&tio->hdr->host_state, (uint32_t)PVFS_HOST_REMOVED);
	fold_sched_stats(t, tio);
	tio_free(tio);
	t->tio = NULL;
	t->plug_conn = NULL;
	t->state = TENANT_UNPLUGGED;
	log_info("tenant %s unplugged", t->name);
	if (t->detaching) {
		if (t->detach_cb)
			t->detach_cb(t->detach_arg, t->name);
		log_info("tenant %s detached", t->name);
		tenant_free(t);
	}
}

void tenant_stop_plugging(void)
{
	stopping = true;
}

int tenant_changed_fd(void)
{
	return backend_changed_fd();
}

void tenant_volumes_changed(void)
{
	char err[512];

	/* Reset first: a change that comes during the loop rings again. */
	backend_changed_reset();
	for (struct tenant *t = tenants; t; t = t->next) {
		if (!backend_take_changed(t->backend))
			continue;
		if (tenant_resize(t, 0, err, sizeof(err)) < 0)
			log_warn("tenant %s: its volume changed underneath: %s", t->name, err);
	}
}

void tenant_free_all(void)
{
	while (tenants) {
		if (tenants->tio)
			break;	/* still lent to a poller: leave it to the exit */
		tenant_free(tenants);
	}
}

void tenant_conn_closed(struct ctl_conn *conn)
{
	for (struct tenant *t = tenants; t; t = t->next) {
		if (t->plug_conn == conn) {
			log_info("tenant %s: VMM connection closed, unplugging", t->name);
			tenant_unplug(t);
			/* Also while a detach drains: the pointer must not outlive conn. */
			t->plug_conn = NULL;
		}
	}
}

int tenant_move(struct tenant *t, struct poller *dst, tenant_move_cb cb, void *arg, char *err,
		size_t errlen)
{
	if (t->state != TENANT_RUNNING || !t->tio)
		return fail(err, errlen, -EINVAL, "tenant %s is not running (state %s); only a "
			    "plugged tenant is served by a poller", t->name,
			    tenant_state_name(tenant_effective_state(t)));
	if (t->move_to)
		return fail(err, errlen, -EBUSY, "tenant %s is already moving to poller %d",
			    t->name, poller_index(t->move_to));
	if (t->tio->p == dst)
		return 0;
	t->move_to = dst;
	t->move_cb = cb;
	t->move_arg = arg;
	poller_move(t->tio);
	return 1;
}

uint64_t tenant_moves_total(void)
{
	return moves_total;
}

int tenant_set_qos(struct tenant *t, const struct sched_qos *q, char *err, size_t errlen)
{
	int r = sched_qos_validate(q);

	if (r < 0)
		return qos_error(r, err, errlen);
	t->qos = *q;
	if (t->tio && t->state == TENANT_RUNNING)
		poller_set_qos(t->tio, q);
	return 0;
}

void tenant_set_coalesce(struct tenant *t, const struct irq_coalesce *c)
{
	t->coalesce = *c;
	if (t->tio && t->state == TENANT_RUNNING)
		poller_set_coalesce(t->tio, c);
}

int tenant_resize(struct tenant *t, uint64_t size, char *err, size_t errlen)
{
	const struct backend_ops *ops = t->backend->ops;
	uint64_t cap;
	char why[256];
	int r;

	if (t->detaching)
		return fail(err, errlen, -EBUSY, "tenant %s is being detached", t->name);
	if (!ops->resize)
		return fail(err, errlen, -EOPNOTSUPP, "tenant %s's %s volume cannot be resized",
			    t->name, ops->kind);
	if (size & (t->lbs - 1))
		return fail(err, errlen, -EINVAL,
			    "size %llu is not a multiple of tenant %s's block size (%u bytes)",
			    (unsigned long long)size, t->name, t->lbs);
	if (size && size < t->capacity)
		return fail(err, errlen, -EINVAL,
			    "tenant %s has %llu bytes; pvfsd only grows volumes (shrinking would "
			    "cut off data the guest may use): give at least that",
			    t->name, (unsigned long long)t->capacity);
	if (size == t->capacity)
		return 0;
	if (size && t->readonly)
		return fail(err, errlen, -EROFS, "tenant %s is read-only; pvfsd does not resize "
			    "read-only volumes", t->name);
	/* The resize hook of the backend (backend.h); size 0 re-reads a grown device. */
	r = ops->resize(t->backend, size, &cap, why, sizeof(why));
	if (r < 0)
		return fail(err, errlen, r, "cannot resize tenant %s: %s", t->name, why);
	if (cap < t->capacity)
		return fail(err, errlen, -EIO,
			    "tenant %s's volume shrank underneath pvfsd to %llu bytes (it had "
			    "%llu); the guest keeps the old size", t->name,
			    (unsigned long long)cap, (unsigned long long)t->capacity);
	if (cap == t->capacity)
		return 0;
	log_info("tenant %s resized: %llu -> %llu bytes", t->name,
		 (unsigned long long)t->capacity, (unsigned long long)cap);
	t->capacity = cap;
	if (t->tio && t->state == TENANT_RUNNING)
		poller_resize(t->tio, cap);
	return 0;
}

int tenant_drop_interrupts(struct tenant *t, uint32_t count, char *err, size_t errlen)
{
	if (!t->tio || t->state != TENANT_RUNNING)
		return fail(err, errlen, -ENOTCONN, "tenant %s has no VM plugged", t->name);
	poller_drop_interrupts(t->tio, count);
	log_notice("tenant %s: test hook: the next %u interrupt(s) will not be sent", t->name,
		   count);
	return 0;
}
