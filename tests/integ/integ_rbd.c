/* SPDX-License-Identifier: MIT */
/*
 * integ_rbd - Ceph RBD volumes (daemon/backend/rbd.c) against a real
 * single-node cluster that this test starts (scripts/ceph-cluster, in a
 * private directory) and destroys; one cluster for every claim:
 *   - confinement: without allow_rbd_pools, from a pool outside it, with a
 *     ceph_id or ceph_conf the config does not list, or a malformed volume,
 *     attach is refused with an error that says what to do; so are a
 *     missing image and an image without the exclusive-lock feature;
 *   - verified I/O through pvfsd (pvfs-bench --verify: every read checked),
 *     cache=none and writeback, 4 KiB and 64 KiB in 4 KiB segments; the
 *     blocks are in the image (read back with librbd directly);
 *   - exclusive lock: while pvfsd serves an image another librbd writer is
 *     refused, a second pvfsd's attach fails (-EBUSY, "locked by another
 *     client"), attach --force breaks the lock: the first pvfsd's client is
 *     blocklisted, its tenant gets errors (never BROKEN), the second serves
 *     verified I/O;
 *   - DISCARD and WRITE_ZEROES reach the image: the range reads back zero;
 *   - pvfsctl resize grows the image, shrinking is refused, and an image
 *     grown with `rbd resize` elsewhere is seen by the plugged guest;
 *   - a snapshot is served read-only, to two tenants at once;
 *   - a restart of pvfsd restores the tenant (its lock taken again) from a
 *     state file that holds no secret; with the cluster down pvfsd is still
 *     READY within seconds and keeps the tenants in its state file, and
 *     the next start with the cluster up restores them;
 *   - stats and metrics show the backend (kind rbd, its domain, queue depth).
 * About 60 s, of which ~20 s start and stop the cluster. Exit 77 if the
 * Ceph packages are missing (scripts/install-deps installs them).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tlib.h"
#include "util.h"

#define MIB (1ull << 20)

static char cdir[64];		/* the cluster's directory */
static char conf[128];		/* its ceph.conf */
static char out[PATH_MAX];	/* last command's output */
static char text[65536];

/* sh - run a bash command line (stdout and stderr into out); its exit status. */
static int sh(int timeout_ms, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int sh(int timeout_ms, const char *fmt, ...)
{
	char cmd[4096], line[4200];
	char *argv[] = { "/bin/bash", "-c", line, NULL };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	snprintf(line, sizeof(line), "exec 2>&1; %s", cmd);
	return tl_run(argv, out, timeout_ms);
}

/* output - what the last sh() printed. */
static const char *output(void)
{
	int fd = open(out, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, text, sizeof(text) - 1) : -1;

	if (fd >= 0)
		close(fd);
	text[n > 0 ? n : 0] = '\0';
	return text;
}

/* why - nothing if ok, else the last command's output to explain the failure. */
static const char *why(bool ok)
{
	static char buf[sizeof(text) + 4];

	if (ok)
		return "";
	snprintf(buf, sizeof(buf), ":\n%s", output());
	return buf;
}

static bool said(const char *needle)
{
	return strstr(output(), needle) != NULL;
}

static void cluster_stop(void)
{
	if (cdir[0])
		sh(60000, "scripts/ceph-cluster destroy %s", cdir);
	unlink(out);
}

/* attach - pvfsctl attach on d; its exit status, the message in output(). */
static int attach(struct tl_daemon *d, const char *name, const char *volume, const char *more)
{
	return sh(120000, "%s -s %s attach %s --volume %s %s", tl_bin("pvfsctl"), d->sock, name,
		  volume, more ? more : "");
}

/* bench - pvfs-bench through d's tenant name; true if it passed and verified blocks. */
static bool bench(struct tl_daemon *d, const char *name, const char *args)
{
	int r = sh(120000, "%s -s %s --tenant %s -q %s", tl_bin("pvfs-bench"), d->sock, name, args);

	return r == 0 && strstr(output(), ", 0 error(s)") && !strstr(output(), "verify: 0 block");
}



static json_t *backend_of(struct tl_daemon *d, const char *name)
{
	json_t *st = tl_tenant_stats(d, name);
	json_t *b = json_incref(json_object_get(st, "backend"));

	json_decref(st);
	return b;
}

static void start_pvfsd(struct tl_daemon *d, bool allow)
{
	if (allow)
		tl_daemon_start(d, "--allow-rbd-pools", "rbd", "--ceph-conf", conf, "--ceph-id",
				"pvfs", "--metrics-listen", "127.0.0.1:0", NULL);
	else
		tl_daemon_start(d, "--ceph-conf", conf, NULL);
}

static void confinement(struct tl_daemon *d)
{
	static const struct { const char *volume, *more, *says; } refused[] = {
		{ "rbd:rbd", NULL, "rbd:POOL/IMAGE" },
		{ "rbd:/img", NULL, "rbd:POOL/IMAGE" },
		{ "rbd:rbd/a/b", NULL, "rbd:POOL/IMAGE" },
		{ "rbd:rbd/a@", NULL, "rbd:POOL/IMAGE" },
		{ "rbd:other/a", NULL, "not in pvfsd's allow_rbd_pools" },
		{ "rbd:rbd/a", "--ceph-id admin", "ceph_id admin is not one pvfsd's config allows" },
		{ "rbd:rbd/a", "--ceph-conf /etc/ceph/ceph.conf", "is not one pvfsd's config" },
		{ "f.img", "--force", "apply to RBD volumes only" },
		{ "rbd:rbd/missing", NULL, "does not exist" },
		{ "rbd:rbd/nolock", NULL, "no exclusive-lock feature" },
	};
	bool ok;

	for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
		ok = attach(d, "bad", refused[i].volume, refused[i].more) != 0 &&
			  said(refused[i].says);

		TL_CHECK(ok, "attach %s %s refused%s",
			 refused[i].volume, refused[i].more ? refused[i].more : "", why(ok));
	}
	ok = attach(d, "nl", "rbd:rbd/nolock", "--force") == 0;
	TL_CHECK(ok, "an image without exclusive-lock attaches with --force%s", why(ok));
	sh(20000, "%s -s %s detach nl", tl_bin("pvfsctl"), d->sock);
}

int main(void)
{
	struct tl_daemon d0 = { 0 }, d = { 0 }, d2 = { 0 };
	char ids[256], err[512];
	struct tl_vm vm;
	json_t *b;
	uint64_t t0 = now_ns(), t1, cap = 0;
	uint32_t gen;
	bool ok;
	int r;

	if (sh(10000, "command -v ceph-mon ceph-mgr ceph-osd ceph rbd") != 0)
		tl_skip("Ceph is not installed (scripts/install-deps: ceph-mon ceph-mgr ceph-osd "
			"ceph-common)");
	snprintf(cdir, sizeof(cdir), "/tmp/integ_rbd.XXXXXX");
	if (!mkdtemp(cdir))
		tl_fatal("mkdtemp: %m");
	snprintf(conf, sizeof(conf), "%s/ceph.conf", cdir);
	snprintf(out, sizeof(out), "%s.out", cdir);
	atexit(cluster_stop);
	/* The cluster dies with this process, however it ends. */
	r = sh(180000, "CEPH_CLUSTER_OWNER=%d scripts/ceph-cluster start %s", (int)getpid(), cdir);
	if (r != 0)
		tl_fatal("cannot start the Ceph cluster: %s", output());
	printf("# cluster up after %.1f s\n", (double)(now_ns() - t0) / 1e9);
	snprintf(ids, sizeof(ids), "--ceph-conf %s --ceph-id pvfs", conf);
	r = sh(60000, "export CEPH_CONF=%s; rbd create --size 256M rbd/a && "
	       "rbd create --size 256M rbd/b && rbd create --size 64M rbd/z && "
	       "rbd create --size 64M --image-feature layering rbd/nolock && "
	       "rbd create --size 64M rbd/c && rbd snap create rbd/c@s1", conf);
	if (r != 0)
		tl_fatal("rbd create: %s", output());

	/* Without allow_rbd_pools: no RBD volume at all. */
	start_pvfsd(&d0, false);
	ok = attach(&d0, "x", "rbd:rbd/a", NULL) != 0 && said("allow_rbd_pools = rbd");
	TL_CHECK(ok, "no allow_rbd_pools: refused, saying what to add%s", why(ok));
	tl_daemon_stop(&d0);
	tl_daemon_cleanup(&d0);

	start_pvfsd(&d, true);
	tl_volume(&d, "f.img", MIB);
	confinement(&d);

	/* Verified I/O, cache=none, and the blocks are in the image. */
	ok = attach(&d, "a", "rbd:rbd/a", NULL) == 0;
	TL_CHECK(ok, "attach rbd:rbd/a%s", why(ok));
	ok = bench(&d, "a", "--rw randrw --bs 4k --iodepth 16 --runtime 2 --verify --seed 3");
	TL_CHECK(ok, "verified 4 KiB randrw QD16 through pvfsd%s", why(ok));
	printf("# %s", strstr(output(), "pvfsd a") ? strstr(output(), "pvfsd a") : output());
	r = sh(60000, "%s --rbd rbd/a %s -q --rw randread --verify --seed 3 --runtime 1",
	       tl_bin("pvfs-bench"), ids);
	ok = r == 0 && said(", 0 error(s)") && !said("verify: 0 block");
	TL_CHECK(ok, "librbd directly reads back pvfsd's blocks from the image%s", why(ok));
	b = backend_of(&d, "a");
	TL_CHECK(!strcmp(json_string_value(json_object_get(b, "kind")) ?: "", "rbd") &&
		 !strncmp(json_string_value(json_object_get(b, "domain")) ?: "", "rbd:", 4) &&
		 json_object_get(b, "queue_depth"), "stats: backend kind rbd, domain rbd:FSID/POOL");
	json_decref(b);
	r = sh(10000, "exec 3<>/dev/tcp/$(sed 's/:/\\//' %s/metrics.addr); printf 'GET /metrics "
	       "HTTP/1.0\\r\\n\\r\\n' >&3; cat <&3", d.run);
	ok = r == 0 && said("pvfs_backend_queue_depth{tenant=\"a\",kind=\"rbd\"} 0");
	TL_CHECK(ok, "metrics: pvfs_backend_queue_depth for the RBD tenant%s", why(ok));

	/* cache=writeback (librbd's cache), larger requests in 4 KiB segments. */
	ok = attach(&d, "b", "rbd:rbd/b", "--cache writeback") == 0;
	TL_CHECK(ok, "attach b%s", why(ok));
	ok = bench(&d, "b", "--rw randrw --bs 64k --seg-size 4k --iodepth 8 --runtime 2 "
		       "--verify --seed 4");
	TL_CHECK(ok, "verified 64 KiB randrw in 4 KiB segments, cache=writeback%s", why(ok));

	/* Exclusive lock: another writer, a second pvfsd, then --force. */
	r = sh(60000, "%s --rbd rbd/a %s -q --rw randwrite --ios 8", tl_bin("pvfs-bench"), ids);
	ok = r != 0 && said("Read-only file system");
	TL_CHECK(ok, "a librbd writer is refused while pvfsd holds the lock%s", why(ok));
	start_pvfsd(&d2, true);
	ok = attach(&d2, "a2", "rbd:rbd/a", NULL) != 0 && said("locked by another client") &&
		 said("--force");
	TL_CHECK(ok, "a second pvfsd's attach is refused%s", why(ok));
	ok = attach(&d2, "a2", "rbd:rbd/a", "--force") == 0;
	TL_CHECK(ok, "attach --force breaks the lock%s", why(ok));
	ok = bench(&d2, "a2", "--rw randrw --bs 4k --iodepth 8 --runtime 1 --verify --seed 3");
	TL_CHECK(ok, "the new owner serves verified I/O%s", why(ok));
	r = sh(60000, "%s -s %s --tenant a -q --rw randwrite --ios 4 --iodepth 1 "
	       "--reconnect-timeout 5", tl_bin("pvfs-bench"), d.sock);
	ok = r != 0 && said("I/O errors");
	TL_CHECK(ok, "the old owner (blocklisted) gets errors%s", why(ok));
	TL_CHECK(tl_wait_state(&d, "a", "unplugged", 5000), "its tenant is unplugged, not broken");
	ok = sh(60000, "%s -s %s detach a", tl_bin("pvfsctl"), d.sock) == 0;
	TL_CHECK(ok, "the old owner detaches%s", why(ok));

	/* DISCARD and WRITE_ZEROES on the second pvfsd's tenant. */
	ok = attach(&d2, "z", "rbd:rbd/z", NULL) == 0;
	TL_CHECK(ok, "attach z%s", why(ok));
	r = tl_vm_plug(&d2, &vm, "z", NULL, 1, 8, 8 * MIB, err, sizeof(err));
	if (r)
		tl_fatal("plug z: %s", err);
	memset(vm.ram, 0xa5, 4 * MIB);
	ok = tl_vm_rw(&vm, 0, true, 0, (uint32_t)MIB, 0) == (int)MIB &&
	     tl_vm_rw(&vm, 0, true, 4 * MIB, (uint32_t)MIB, 0) == (int)MIB;
	TL_CHECK(ok, "write 1 MiB at 0 and at 4 MiB");
	r = tl_vm_io(&vm, 0, &(struct pvfs_sqe){ .opcode = PVFS_OP_DISCARD, .offset = 0,
		     .len = 4 * MIB }, NULL, 0, 20000);
	TL_CHECK(r == 0, "discard of the first 4 MiB object: %d", r);
	r = tl_vm_io(&vm, 0, &(struct pvfs_sqe){ .opcode = PVFS_OP_WRITE_ZEROES,
		     .offset = 4 * MIB + 4096, .len = 64 * 1024 }, NULL, 0, 20000);
	TL_CHECK(r == 0, "write-zeroes of 64 KiB at 4 MiB + 4 KiB: %d", r);
	memset(vm.ram + 4 * MIB, 0x5a, 2 * MIB);
	ok = tl_vm_rw(&vm, 0, false, 0, (uint32_t)MIB, 4 * MIB) == (int)MIB &&
	     tl_vm_rw(&vm, 0, false, 4 * MIB, (uint32_t)MIB, 5 * MIB) == (int)MIB;
	TL_CHECK(ok, "read both back");
	{
		bool zero = true, kept = true, around = true;

		for (uint64_t i = 0; i < MIB; i++)
			zero &= vm.ram[4 * MIB + i] == 0;
		for (uint64_t i = 0; i < MIB; i++) {
			uint8_t v = vm.ram[5 * MIB + i];

			if (i >= 4096 && i < 4096 + 65536)
				kept &= v == 0;
			else
				around &= v == 0xa5;
		}
		TL_CHECK(zero, "the discarded range reads zero");
		TL_CHECK(kept && around, "write-zeroes zeroed its range and nothing around it");
	}
	/* Resize: through pvfsd (the image grows), then with `rbd resize` elsewhere. */
	ok = sh(60000, "%s -s %s resize z 96M", tl_bin("pvfsctl"), d2.sock) == 0 &&
	     sh(20000, "rbd -c %s info rbd/z", conf) == 0 && said("size 96 MiB");
	TL_CHECK(ok, "pvfsctl resize z 96M grows the image%s", why(ok));
	ok = pvfs_uguest_capacity(&vm.guest, &cap, &gen) == 0 && cap == 96 * MIB;
	TL_CHECK(ok, "the guest sees 96 MiB (%llu)", (unsigned long long)cap);
	ok = sh(60000, "%s -s %s resize z 32M", tl_bin("pvfsctl"), d2.sock) != 0 &&
	     said("only grows");
	TL_CHECK(ok, "shrinking is refused%s", why(ok));
	ok = sh(60000, "rbd -c %s resize --size 160M rbd/z", conf) == 0;
	TL_CHECK(ok, "rbd resize elsewhere while pvfsd holds the lock%s", why(ok));
	for (int i = 0; i < 100; i++) {
		if (pvfs_uguest_capacity(&vm.guest, &cap, &gen) == 0 && cap == 160 * MIB)
			break;
		usleep(100000);	/* polls the guest's view; bounded: 10 s */
	}
	TL_CHECK(cap == 160 * MIB, "the guest sees the image's new size, 160 MiB (%llu)",
		 (unsigned long long)cap);
	ok = tl_vm_rw(&vm, 0, true, 160 * MIB - MIB, (uint32_t)MIB, 0) == (int)MIB;
	TL_CHECK(ok, "and writes its last MiB");
	tl_vm_unplug(&vm);

	/* A snapshot: read-only, and two tenants may share it. */
	ok = attach(&d2, "s1", "rbd:rbd/c@s1", NULL) == 0 && said(" ro,");
	TL_CHECK(ok, "a snapshot attaches read-only%s", why(ok));
	ok = attach(&d2, "s2", "rbd:rbd/c@s1", "--readonly") == 0;
	TL_CHECK(ok, "a second tenant on the same snapshot%s", why(ok));
	r = sh(60000, "%s -s %s --tenant s1 -q --rw randwrite --ios 4", tl_bin("pvfs-bench"),
	       d2.sock);
	ok = r != 0 && said("I/O errors");
	TL_CHECK(ok, "writes to a snapshot fail%s", why(ok));

	/* A restart restores the tenant, lock and all, from a state file without secrets. */
	TL_CHECK(tl_daemon_stop(&d2) == 0, "pvfsd stops cleanly (closes its images)");
	r = sh(10000, "cat %s/state.json", d2.run);
	ok = r == 0 && said("\"rbd:rbd/a\"") && !said("key") && !said("AQ");
	TL_CHECK(ok, "the state file names the volume and holds no key%s", why(ok));
	start_pvfsd(&d2, true);
	ok = bench(&d2, "a2", "--rw randrw --bs 4k --iodepth 8 --runtime 1 --verify --seed 3");
	TL_CHECK(ok, "after a restart the tenant is back with verified I/O%s", why(ok));
	r = sh(60000, "%s --rbd rbd/a %s -q --rw randwrite --ios 8", tl_bin("pvfs-bench"), ids);
	ok = r != 0 && said("Read-only file system");
	TL_CHECK(ok, "and holds the image's lock again%s", why(ok));
	TL_CHECK(tl_daemon_stop(&d2) == 0, "pvfsd stops cleanly");
	tl_daemon_stop(&d);

	/*
	 * A host boots while its Ceph cluster is down: pvfsd is READY within
	 * tl_daemon_start's 10 s (not one rbd_timeout per tenant: systemd
	 * would kill it, and every local tenant with it), serves nothing for
	 * the three RBD tenants but keeps them in its state file, and the
	 * next start with the cluster up restores them.
	 */
	r = sh(60000, "scripts/ceph-cluster stop %s", cdir);
	TL_CHECK(r == 0, "the cluster is stopped");
	t1 = now_ns();
	start_pvfsd(&d2, true);
	TL_CHECK(now_ns() - t1 < 10000000000ull, "pvfsd is READY in %.1f s with the cluster down",
		 (double)(now_ns() - t1) / 1e9);
	TL_CHECK(tl_rpc(&d2, "stats", json_pack("{s:s}", "name", "a2"), NULL) == -ENOENT,
		 "the RBD tenant is not served while its cluster is down");
	TL_CHECK(tl_daemon_stop(&d2) == 0, "pvfsd stops cleanly");
	r = sh(10000, "cat %s/state.json", d2.run);
	ok = r == 0 && said("\"rbd:rbd/a\"") && said("\"rbd:rbd/c@s1\"");
	TL_CHECK(ok, "its state file still holds the RBD tenants%s", why(ok));
	r = sh(180000, "CEPH_CLUSTER_OWNER=%d scripts/ceph-cluster start %s", (int)getpid(), cdir);
	if (r != 0)
		tl_fatal("cannot restart the Ceph cluster: %s", output());
	start_pvfsd(&d2, true);
	ok = bench(&d2, "a2", "--rw randrw --bs 4k --iodepth 8 --runtime 1 --verify --seed 3");
	TL_CHECK(ok, "with the cluster back, a restart restores them with verified I/O%s", why(ok));
	TL_CHECK(tl_daemon_stop(&d2) == 0, "pvfsd stops cleanly");
	tl_daemon_cleanup(&d);
	tl_daemon_cleanup(&d2);
	printf("# %.1f s in all\n", (double)(now_ns() - t0) / 1e9);
	return tl_done();
}
