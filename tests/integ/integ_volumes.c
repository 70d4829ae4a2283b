/* SPDX-License-Identifier: MIT */
/*
 * integ_volumes - what `attach` opens, and how it finds it (issue 8,
 * item 10). A FIFO in a volume directory must not hang pvfsd's control
 * thread (a read-only attach used to block in open() until a writer came),
 * and neither a FIFO, a socket nor a character device is ever served: each
 * is refused with -EINVAL naming its type, and pvfsd keeps answering.
 * Volume directories given with a trailing '/' or through a symlink accept
 * absolute volume paths written either way; a missing file inside one is
 * -ENOENT, a path elsewhere -EXDEV. With block devices allowed (a loop
 * device, skipped if losetup cannot make one), two device nodes of one
 * disk cannot serve two tenants (-EBUSY naming the tenant), and neither can
 * a partition and its whole disk (skipped when the kernel finds no
 * partitions on the loop device); pvfsd holds an attached disk exclusively,
 * and refuses one that another program holds so.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include "rpc.h"
#include "tlib.h"
#include "util.h"

static struct tl_daemon d;
static char loopdev[64];

static void detach_loop(void)
{
	char cmd[128];

	if (!loopdev[0])
		return;
	snprintf(cmd, sizeof(cmd), "losetup -d %s", loopdev);
	if (system(cmd) != 0)
		printf("# could not detach %s\n", loopdev);
	loopdev[0] = '\0';
}

/* attach - attach name on vol within timeout_ms; the error code, message in msg. */
static int attach(const char *name, const char *vol, bool readonly, const char *cache,
		  int timeout_ms, char *msg, size_t msglen)
{
	json_t *res = NULL, *error = NULL;
	int s, r;

	msg[0] = '\0';
	if (rpc_connect(d.sock, &s) < 0)
		tl_fatal("connect: %m");
	r = rpc_call(s, "attach", json_pack("{s:s, s:s, s:b, s:s}", "name", name, "volume", vol,
					    "readonly", readonly, "cache", cache),
		     NULL, 0, timeout_ms, &res, &error);
	close(s);
	json_decref(res);
	if (r == -EREMOTEIO) {
		r = (int)json_integer_value(json_object_get(error, "code"));
		snprintf(msg, msglen, "%s", json_string_value(json_object_get(error, "message")) ?: "");
		json_decref(error);
	}
	return r;
}

static void detach(const char *name)
{
	if (tl_rpc(&d, "detach", json_pack("{s:s}", "name", name), NULL) != 0)
		tl_fatal("detach %s", name);
}

static void touch(const char *dir, const char *name)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || ftruncate(fd, 1 << 20) < 0)
		tl_fatal("create %s: %m", path);
	close(fd);
}

/* special_files - FIFO, socket and character device: refused without hanging. */
static void special_files(void)
{
	char path[PATH_MAX], msg[512];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s, r;

	snprintf(path, sizeof(path), "%s/fifo", d.vols);
	if (mkfifo(path, 0600) < 0)
		tl_fatal("mkfifo: %m");
	r = attach("fifo", "fifo", true, "none", 3000, msg, sizeof(msg));
	TL_CHECK(r == -EINVAL && strstr(msg, "FIFO"),
		 "a read-only attach of a FIFO is refused at once: %d \"%s\"", r, msg);
	if (r == -ETIMEDOUT) {
		/* pvfsd's control thread waits for a writer: be one, so the test goes on. */
		int w = open(path, O_WRONLY | O_NONBLOCK);

		printf("# pvfsd hung in open() of the FIFO; unblocked it by opening it for writing\n");
		usleep(200000);	/* let pvfsd's open return before the writer goes */
		if (w >= 0)
			close(w);
		tl_rpc(&d, "detach", json_pack("{s:s}", "name", "fifo"), NULL);
	}
	r = attach("fifo2", "fifo", false, "writeback", 3000, msg, sizeof(msg));
	TL_CHECK(r == -EINVAL && strstr(msg, "FIFO"),
		 "a read-write attach of a FIFO is refused: %d \"%s\"", r, msg);

	snprintf(path, sizeof(path), "%s/sock", d.vols);
	if (strlen(path) >= sizeof(sa.sun_path))
		tl_fatal("socket path %s too long", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		tl_fatal("bind %s: %m", sa.sun_path);
	r = attach("sock", "sock", false, "none", 3000, msg, sizeof(msg));
	TL_CHECK(r == -EINVAL && strstr(msg, "socket"), "a socket is refused: %d \"%s\"", r, msg);
	close(s);

	snprintf(path, sizeof(path), "%s/null", d.vols);
	if (mknod(path, S_IFCHR | 0600, makedev(1, 3)) < 0)
		tl_fatal("mknod: %m");
	r = attach("chr", "null", false, "none", 3000, msg, sizeof(msg));
	TL_CHECK(r == -EINVAL && strstr(msg, "character device"),
		 "a character device is refused: %d \"%s\"", r, msg);
	TL_CHECK(tl_rpc(&d, "version", NULL, NULL) == 0, "pvfsd keeps answering");
}

/* dirs - a volume dir given with a trailing '/', one given through a symlink. */
static void dirs(const char *slash_dir, const char *link_dir, const char *real_dir)
{
	char vol[PATH_MAX + 32], msg[512];
	int r;

	snprintf(vol, sizeof(vol), "%sa.img", slash_dir);
	r = attach("slash", vol, false, "none", 5000, msg, sizeof(msg));
	TL_CHECK(r == 0, "volume dir given as %s: absolute path %s attaches (%d %s)", slash_dir,
		 vol, r, msg);
	r = attach("slash-rel", "a2.img", false, "none", 5000, msg, sizeof(msg));
	TL_CHECK(r == 0, "... and a relative path found in it (%d %s)", r, msg);
	snprintf(vol, sizeof(vol), "%s/b.img", link_dir);
	r = attach("link", vol, false, "none", 5000, msg, sizeof(msg));
	TL_CHECK(r == 0, "volume dir given as symlink %s: absolute path %s attaches (%d %s)",
		 link_dir, vol, r, msg);
	snprintf(vol, sizeof(vol), "%s/b.img", real_dir);
	r = attach("link-real", vol, false, "none", 5000, msg, sizeof(msg));
	TL_CHECK(r == -EBUSY, "... the same file by its real path is the same volume: %d \"%s\"",
		 r, msg);
	snprintf(vol, sizeof(vol), "%s/missing.img", link_dir);
	r = attach("missing", vol, false, "none", 5000, msg, sizeof(msg));
	TL_CHECK(r == -ENOENT, "a missing file inside a volume dir is -ENOENT: %d \"%s\"", r,
		 msg);
	r = attach("outside", "/etc/hostname", false, "none", 5000, msg, sizeof(msg));
	TL_CHECK(r == -EXDEV, "a path outside every volume dir is -EXDEV: %d \"%s\"", r, msg);
}

/* node - a block device node for dev, named name, in the volume dir. */
static void node(const char *name, dev_t dev)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", d.vols, name);
	if (mknod(path, S_IFBLK | 0600, dev) < 0)
		tl_fatal("mknod %s: %m", path);
}

static dev_t sysfs_dev(const char *path)
{
	unsigned ma, mi;
	FILE *f = fopen(path, "r");
	int n = f ? fscanf(f, "%u:%u", &ma, &mi) : 0;

	if (f)
		fclose(f);
	return n == 2 ? makedev(ma, mi) : 0;
}

static void block_devices(void)
{
	char img[PATH_MAX], cmd[PATH_MAX + 64], msg[512], sys[128];
	static const uint8_t mbr_entries[2][16] = {
		/* type 0x83, first sector 2048 and 6144, 4096 sectors each */
		{ 0, 0, 0, 0, 0x83, 0, 0, 0, 0x00, 0x08, 0, 0, 0x00, 0x10, 0, 0 },
		{ 0, 0, 0, 0, 0x83, 0, 0, 0, 0x00, 0x18, 0, 0, 0x00, 0x10, 0, 0 },
	};
	uint8_t mbr[512] = { 0 };
	struct stat st;
	dev_t whole, p1, p2;
	FILE *f;
	int fd, r;

	snprintf(img, sizeof(img), "%s/disk.img", d.dir);
	memcpy(mbr + 446, mbr_entries, sizeof(mbr_entries));
	mbr[510] = 0x55;
	mbr[511] = 0xaa;
	fd = open(img, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, 8 << 20) < 0 || pwrite(fd, mbr, 512, 0) != 512)
		tl_fatal("create %s: %m", img);
	close(fd);
	snprintf(cmd, sizeof(cmd), "losetup -P -f --show %s 2>/dev/null", img);
	f = popen(cmd, "r");
	if (!f || !fgets(loopdev, sizeof(loopdev), f) || stat(strtok(loopdev, "\n"), &st) < 0 ||
	    !S_ISBLK(st.st_mode)) {
		if (f)
			pclose(f);
		loopdev[0] = '\0';
		printf("# SKIP block devices: losetup cannot make a loop device here\n");
		return;
	}
	pclose(f);
	whole = st.st_rdev;

	/* Two nodes of one disk. */
	node("disk-a", whole);
	node("disk-b", whole);
	r = attach("bd-a", "disk-a", false, "none", 5000, msg, sizeof(msg));
	TL_CHECK(r == 0, "a loop device attaches (%d %s)", r, msg);
	r = attach("bd-b", "disk-b", false, "none", 5000, msg, sizeof(msg));
	TL_CHECK(r == -EBUSY && strstr(msg, "bd-a"),
		 "a second node of the same disk is refused: %d \"%s\"", r, msg);
	if (r == 0)
		detach("bd-b");
	fd = open(loopdev, O_RDONLY | O_EXCL);
	TL_CHECK(fd < 0 && errno == EBUSY,
		 "pvfsd holds the attached disk exclusively (O_EXCL open: %s)",
		 fd < 0 ? strerror(errno) : "succeeded");
	if (fd >= 0)
		close(fd);
	detach("bd-a");
	fd = open(loopdev, O_RDONLY | O_EXCL);
	if (fd < 0)
		tl_fatal("O_EXCL open of %s after the detach: %m", loopdev);
	r = attach("bd-b", "disk-b", false, "none", 5000, msg, sizeof(msg));
	TL_CHECK(r == -EBUSY && strstr(msg, "in use on the host"),
		 "a disk someone else holds exclusively is refused: %d \"%s\"", r, msg);
	close(fd);
	r = attach("bd-b", "disk-b", false, "none", 5000, msg, sizeof(msg));
	TL_CHECK(r == 0, "once detached, the disk attaches through the other node (%d %s)", r,
		 msg);
	detach("bd-b");

	/* A partition and its whole disk. */
	snprintf(sys, sizeof(sys), "/sys/dev/block/%u:%u/%sp1/dev", major(whole), minor(whole),
		 strrchr(loopdev, '/') + 1);
	p1 = sysfs_dev(sys);
	sys[strlen(sys) - 5] = '2';
	p2 = sysfs_dev(sys);
	if (!p1 || !p2) {
		printf("# SKIP partitions: the kernel found no partitions on %s "
		       "(no MS-DOS partition table support?)\n", loopdev);
		return;
	}
	node("part1", p1);
	node("part2", p2);
	r = attach("whole", "disk-a", false, "none", 5000, msg, sizeof(msg));
	TL_CHECK(r == 0, "the whole disk attaches (%d %s)", r, msg);
	r = attach("part1", "part1", false, "none", 5000, msg, sizeof(msg));
	TL_CHECK(r == -EBUSY && strstr(msg, "whole"),
		 "a partition of an attached disk is refused: %d \"%s\"", r, msg);
	if (r == 0)
		detach("part1");
	detach("whole");
	r = attach("part1", "part1", false, "none", 5000, msg, sizeof(msg));
	TL_CHECK(r == 0, "partition 1 attaches (%d %s)", r, msg);
	r = attach("part2", "part2", false, "none", 5000, msg, sizeof(msg));
	TL_CHECK(r == 0, "partition 2 of the same disk attaches too (%d %s)", r, msg);
	r = attach("whole", "disk-a", false, "none", 5000, msg, sizeof(msg));
	TL_CHECK(r == -EBUSY && strstr(msg, "part"),
		 "the whole disk of attached partitions is refused: %d \"%s\"", r, msg);
	if (r == 0)
		detach("whole");
	detach("part1");
	detach("part2");
}

int main(void)
{
	char slash_dir[512], real_dir[512], link_dir[512];

	snprintf(d.dir, sizeof(d.dir), "/tmp/pvfs-test.XXXXXX");
	if (!mkdtemp(d.dir))
		tl_fatal("mkdtemp: %m");
	snprintf(d.vols, sizeof(d.vols), "%s/vols", d.dir);
	snprintf(slash_dir, sizeof(slash_dir), "%s/slash/", d.dir);
	snprintf(real_dir, sizeof(real_dir), "%s/real", d.dir);
	snprintf(link_dir, sizeof(link_dir), "%s/link", d.dir);
	if (mkdir(d.vols, 0755) < 0 || mkdir(slash_dir, 0755) < 0 || mkdir(real_dir, 0755) < 0 ||
	    symlink(real_dir, link_dir) < 0)
		tl_fatal("mkdir: %m");
	touch(slash_dir, "a.img");
	touch(slash_dir, "a2.img");
	touch(real_dir, "b.img");
	atexit(detach_loop);
	tl_daemon_start(&d, "--volume-dir", slash_dir, "--volume-dir", link_dir,
			"--allow-block-devices", NULL);

	special_files();
	dirs(slash_dir, link_dir, real_dir);
	block_devices();
	detach_loop();

	TL_CHECK(tl_daemon_stop(&d) == 0, "pvfsd exits 0");
	tl_daemon_cleanup(&d);
	return tl_done();
}
