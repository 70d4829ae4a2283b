/* SPDX-License-Identifier: MIT */
/*
 * pvfs-shim - connects one stock QEMU VM to pvfsd.
 *
 * QEMU's ivshmem-doorbell device gets its shared memory and its interrupt
 * and doorbell eventfds from a server over a UNIX socket chardev (the
 * protocol of QEMU's contrib/ivshmem-server, docs/specs/ivshmem-spec.rst).
 * pvfs-shim is that server for exactly one VM, and pvfsd's VMM at the same
 * time: for each QEMU connection it creates a fresh ring region with
 * libpvfs-shim, plugs it into the provisioned tenant together with the VM's
 * guest RAM file, then hands QEMU the region (BAR2) and the eventfds:
 *
 *   peer 0 (host, the region's doorbell_peer): vector q = kick[q]; a guest
 *          write of (0 << 16) | q to the DOORBELL register kicks queue q
 *   peer 1 (the VM): vector q = call[q]; pvfsd writing it raises MSI-X
 *          vector q in the guest
 *
 * Guest RAM is either a file the shim creates (--mem-path) or, with
 * --mem-from-peer, whatever QEMU itself created (a memfd, or the file libvirt
 * chose): the shim takes QEMU's pid from the connection, waits in the event
 * loop until QEMU has its memory backends, and opens the RAM through
 * /proc/PID/fd (peer_ram.c).
 *
 * QEMU 7.2 spins forever in its device setup when the chardev closes before
 * the greeting is complete, so a VM the shim cannot serve is never just
 * dropped: it gets a negative protocol version (-errno), which makes QEMU fail
 * the device with "server sent version -N", and the reason goes to the log.
 *
 * The shim owns the memfd and eventfds, so a pvfsd restart loses nothing: when
 * the plug connection reads end of file the shim plugs the same region again
 * (pvfsd re-issues what was in flight). When QEMU disconnects the shim
 * unplugs and frees the region; the next QEMU gets a new one, so a new boot
 * never sees a previous guest's ring.
 *
 * One plain poll() loop, no threads. docs/qemu.md and docs/libvirt.md are the
 * operator guides.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "peer_ram.h"
#include "pvfs_shim.h"
#include "rpc.h"
#include "util.h"

#define IVSHMEM_PROTOCOL_VERSION 0
#define HOST_PEER	0	/* the region's doorbell_peer: its vectors are the kicks */
#define VM_PEER		1	/* the id QEMU gets: its vectors are the interrupts */
#define GiB		((uint64_t)1 << 30)
#define MiB		((uint64_t)1 << 20)
/* Beyond this QEMU may move above-4G RAM to 1 TiB (AMD HyperTransport hole). */
#define MAX_MEM_SIZE	(512 * GiB)
#define RETRY_MIN_MS	100
#define RETRY_MAX_MS	5000
#define RPC_TIMEOUT_MS	10000
/* --mem-from-peer: how long QEMU may take from connecting to having its RAM. */
#define PEER_RAM_WAIT_MS	60000
#define PROBE_MIN_MS	5
#define PROBE_MAX_MS	200
/* "No shared backend" must hold this long: QEMU may be reading a file at startup. */
#define NO_RAM_GRACE_MS	1000
#define RUNTIME_DIR	"/run/pvfs-shim"
/* QEMU's group under Debian's libvirt: the default owner of what QEMU must open. */
#define DEFAULT_GROUP	"libvirt-qemu"
#define DEFAULT_MODE	0660

/* The group and mode of a file the shim creates for QEMU (socket, RAM file). */
struct perm {
	const char *group;	/* NULL: DEFAULT_GROUP if it exists; "" keeps ours */
	mode_t mode;
};

static struct {
	const char *tenant, *sock, *chardev, *mem_path, *machine;
	uint64_t mem_size;
	uint32_t queues, depth;
	double reconnect_timeout;
	bool mem_from_peer, once, print_args, print_xml;
	struct perm chardev_perm, mem_perm;
} o = {
	.machine = "q35", .queues = 2, .depth = 128, .reconnect_timeout = 60,
	.chardev_perm = { .mode = DEFAULT_MODE }, .mem_perm = { .mode = DEFAULT_MODE },
};

enum vm_phase {
	VM_NONE,	/* no QEMU connected */
	VM_WAIT_RAM,	/* --mem-from-peer: QEMU connected, its RAM not found yet */
	VM_SERVED,	/* greeting sent: QEMU has the region and eventfds */
};

/* Everything that lives for one QEMU connection. */
static struct {
	int fd;				/* the chardev connection, -1 when no VM */
	enum vm_phase phase;
	unsigned served;		/* connections accepted so far (for --once) */
	/* --mem-from-peer: who connected, and the search for its RAM. */
	pid_t pid;
	uint64_t start_time;
	uint64_t since_ns, ram_deadline_ns, next_probe_ns, no_ram_since_ns;
	unsigned probe_ms;
	struct pvfs_region *region;
	struct pvfs_plug *plug;		/* NULL while pvfsd is away */
	int mem_fd;			/* guest RAM file */
	uint64_t mem_size;
	/* Plug retries while pvfsd is away or refuses. */
	unsigned attempts;
	unsigned retry_ms;
	uint64_t next_try_ns, deadline_ns;
	char last_err[512];		/* the last plug error logged, to log each change once */
} vm = { .fd = -1, .mem_fd = -1 };

static struct pvfs_memregion memtab[2];
static unsigned nmem;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_err("%s", buf);
	exit(1);
}

/*
 * build_memtab - where QEMU puts a memory-backend's bytes in guest-physical
 * space on x86 (QEMU 7.2, hw/i386/pc_q35.c and pc_piix.c, default
 * max-ram-below-4g, no NUMA or hotplug memory): the first below_4g bytes of
 * the file at gpa 0, the rest at 4 GiB. q35 keeps 2.75 GiB below 4 GiB
 * unless RAM is at least that large, then 2 GiB; pc keeps up to 3.5 GiB,
 * and 3 GiB when RAM is at least 3.5 GiB (gigabyte alignment).
 */
static void build_memtab(int fd, uint64_t size)
{
	uint64_t below, lowmem;

	if (!strcmp(o.machine, "q35"))
		lowmem = size >= 0xb0000000ull ? 0x80000000ull : 0xb0000000ull;
	else
		lowmem = size >= 0xe0000000ull ? 0xc0000000ull : 0xe0000000ull;
	below = MIN(size, lowmem);
	memtab[0] = (struct pvfs_memregion){ .gpa = 0, .size = below, .fd = fd, .offset = 0 };
	nmem = 1;
	if (size > below) {
		memtab[1] = (struct pvfs_memregion){ .gpa = 4 * GiB, .size = size - below,
						     .fd = fd, .offset = below };
		nmem = 2;
	}
}

/*
 * perm_gid - the group a file for QEMU gets: the named one, else
 * DEFAULT_GROUP where it exists; -1 keeps the shim's own.
 */
static gid_t perm_gid(const struct perm *p)
{
	struct group *g;

	if (p->group && !*p->group)
		return (gid_t)-1;
	g = getgrnam(p->group ? p->group : DEFAULT_GROUP);
	if (!g && p->group)
		die("group %s does not exist", p->group);
	return g ? g->gr_gid : (gid_t)-1;
}

/*
 * open_guest_ram - open (creating and sizing it if it is new or empty) the
 * file QEMU's memory-backend-file maps with share=on. Opened again for each
 * VM, so a file replaced between two boots is followed. A file the shim
 * creates gets --mem-group and --mem-mode, so that QEMU running as another
 * user (libvirt-qemu) can map it.
 */
static int open_guest_ram(void)
{
	_cleanup_close_ int fd = -1;
	struct stat st;

	fd = open(o.mem_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0) {
		gid_t gid = perm_gid(&o.mem_perm);

		if ((gid != (gid_t)-1 && fchown(fd, (uid_t)-1, gid) < 0) ||
		    fchmod(fd, o.mem_perm.mode) < 0)
			return log_err("guest RAM file %s: cannot set its group and mode: %m",
				       o.mem_path), -errno;
	} else if (errno == EEXIST) {
		fd = open(o.mem_path, O_RDWR | O_CLOEXEC);
	}
	if (fd < 0)
		return log_errno(LOG_ERR, "guest RAM file %s: %m", o.mem_path);
	if (fstat(fd, &st) < 0)
		return log_errno(LOG_ERR, "guest RAM file %s: %m", o.mem_path);
	if (!S_ISREG(st.st_mode))
		return log_err("guest RAM file %s is not a regular file "
			       "(mem-path must name a file, not a directory)", o.mem_path), -EINVAL;
	if (st.st_size == 0 && ftruncate(fd, (off_t)o.mem_size) < 0)
		return log_errno(LOG_ERR, "guest RAM file %s: cannot size it: %m", o.mem_path);
	if (st.st_size != 0 && (uint64_t)st.st_size != o.mem_size)
		return log_err("guest RAM file %s has %lld bytes, --mem-size is %" PRIu64
			       " (remove the file or fix --mem-size)", o.mem_path,
			       (long long)st.st_size, o.mem_size), -EINVAL;
	return take_fd(&fd);
}

/*
 * send_msg - one ivshmem-server message: a little-endian int64 and at most
 * one descriptor as SCM_RIGHTS. Blocking: QEMU reads the whole setup
 * synchronously while it realizes the device.
 */
static int send_msg(int sock, int64_t value, int fd)
{
	ssize_t n;

	value = (int64_t)htole64((uint64_t)value);
	n = rpc_send_raw(sock, &value, sizeof(value), &fd, fd >= 0);
	if (n < 0)
		return (int)n;
	return n == sizeof(value) ? 0 : -EIO;
}

/*
 * send_setup - the whole ivshmem-server greeting, in the server's order:
 * version, the client's id, the shared memory, every other peer's eventfds
 * (here only the host peer's kicks), and last the client's own eventfds
 * (QEMU finishes its setup once it has all of its own vectors).
 */
static int send_setup(int sock, const struct pvfs_region *r)
{
	int err;

	if ((err = send_msg(sock, IVSHMEM_PROTOCOL_VERSION, -1)) < 0 ||
	    (err = send_msg(sock, VM_PEER, -1)) < 0 ||
	    (err = send_msg(sock, -1, r->memfd)) < 0)
		return err;
	for (unsigned q = 0; q < r->nr_queues; q++)
		if ((err = send_msg(sock, HOST_PEER, r->kick_fd[q])) < 0)
			return err;
	for (unsigned q = 0; q < r->nr_queues; q++)
		if ((err = send_msg(sock, VM_PEER, r->call_fd[q])) < 0)
			return err;
	return 0;
}

/*
 * refuse - answer a QEMU the shim will not serve with a negative protocol
 * version (-errno) instead of closing the chardev, which would leave QEMU
 * 7.2 spinning in its device setup: QEMU fails the device ("server sent
 * version -N, expecting 0") and exits or fails the hot-plug.
 */
static void refuse(int sock, int err)
{
	send_msg(sock, err < 0 ? err : -EPROTO, -1);
}

static int try_plug(void)
{
	char err[512] = "";
	int r;

	r = pvfs_plug(o.sock, o.tenant, vm.region, memtab, nmem, &vm.plug, err, sizeof(err));
	if (r < 0) {
		vm.plug = NULL;
		if (!err[0])
			snprintf(err, sizeof(err), "%s", strerror(-r));
		/* pvfsd's message names the problem and the fix (e.g. "attach it first"). */
		if (strcmp(err, vm.last_err))
			log_warn("plug %s: %s", o.tenant, err);
		snprintf(vm.last_err, sizeof(vm.last_err), "%s", err);
	} else {
		vm.last_err[0] = '\0';
	}
	return r;
}

/* vm_end - QEMU went away (or was refused): unplug and forget the region. */
static void vm_end(const char *why)
{
	if (vm.fd < 0)
		return;
	/* Shutting down before the greeting: QEMU must not be left waiting for it. */
	if (vm.phase == VM_WAIT_RAM)
		refuse(vm.fd, -ESHUTDOWN);
	log_info("VM connection closed (%s)%s%s", why, vm.plug ? "; unplugged tenant " : "",
		 vm.plug ? o.tenant : "");
	pvfs_unplug(vm.plug);
	vm.plug = NULL;
	pvfs_region_free(vm.region);
	vm.region = NULL;
	close(vm.fd);
	vm.fd = -1;
	vm.phase = VM_NONE;
	if (vm.mem_fd >= 0)
		close(vm.mem_fd);
	vm.mem_fd = -1;
}

/* vm_refuse - log why, refuse the connected QEMU, forget it. */
static void vm_refuse(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void vm_refuse(int err, const char *fmt, ...)
{
	char buf[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_err("refusing the VM (QEMU fails its ivshmem device with \"server sent version "
		"%d\"): %s", err, buf);
	refuse(vm.fd, err);
	vm.phase = VM_NONE;
	vm_end("refused");
}

/*
 * start_replug - plug again, with backoff. A VM that was never plugged (pvfsd
 * not up yet, tenant not attached yet) waits for as long as it takes: a
 * stall, not an error. One that lost pvfsd waits --reconnect-timeout.
 */
static void start_replug(bool first)
{
	vm.attempts = 0;
	vm.retry_ms = RETRY_MIN_MS;
	vm.next_try_ns = now_ns() + RETRY_MIN_MS * 1000000ull;
	vm.deadline_ns = first ? UINT64_MAX :
			 now_ns() + (uint64_t)(o.reconnect_timeout * 1e9);
}

/*
 * vm_serve - guest RAM is open: new region, plug, then the ivshmem greeting.
 * A failed plug does not refuse QEMU: the region stays INIT, so the guest
 * driver waits for READY (its ready_timeout_ms) and the shim keeps trying.
 */
static void vm_serve(void)
{
	struct pvfs_region_params rp = {
		.nr_queues = o.queues, .depth = o.depth, .max_segs = PVFS_MAX_SEGS,
		.doorbell_peer = HOST_PEER,
	};
	int r;

	build_memtab(vm.mem_fd, vm.mem_size);
	r = pvfs_region_create(&rp, &vm.region);
	if (r < 0)
		return vm_refuse(r, "cannot create the ring region: %s", strerror(-r));
	/* Plug before the greeting: the region is READY before the guest can see it. */
	if (try_plug() < 0) {
		log_warn("VM gets a device that is not ready yet; plugging tenant %s as soon as "
			 "pvfsd takes it", o.tenant);
		start_replug(true);
	}
	r = send_setup(vm.fd, vm.region);
	if (r < 0) {
		log_err("ivshmem setup to QEMU failed: %s", strerror(-r));
		vm.phase = VM_SERVED;
		return vm_end("setup failed");
	}
	vm.phase = VM_SERVED;
	log_info("VM connected: tenant %s %s, %u queue(s) x %u, region %" PRIu64
		 " bytes, guest RAM %" PRIu64 " MiB in %u range(s)", o.tenant,
		 vm.plug ? "plugged" : "not plugged yet", o.queues, o.depth, vm.region->size,
		 vm.mem_size / MiB, nmem);
}

/* probe_ram - --mem-from-peer: one look for QEMU's RAM; serve, wait on, or refuse. */
static void probe_ram(void)
{
	struct peer_ram ram;
	char why[512] = "";
	uint64_t now;
	int r;

	r = peer_ram_find(vm.pid, vm.start_time, o.mem_size, &ram, why, sizeof(why));
	now = now_ns();
	if (r == 0) {
		vm.mem_fd = ram.fd;
		vm.mem_size = ram.size;
		log_info("guest RAM of QEMU pid %d: %s (its fd %d), %" PRIu64 " MiB, found in "
			 "%" PRIu64 " ms", (int)vm.pid, ram.name, ram.peer_fd, ram.size / MiB,
			 (now - vm.since_ns) / 1000000);
		return vm_serve();
	}
	if (r == -ENOENT && !vm.no_ram_since_ns)
		vm.no_ram_since_ns = now;
	if (r == -ENOENT && now - vm.no_ram_since_ns >= NO_RAM_GRACE_MS * 1000000ull)
		return vm_refuse(r, "%s", why);
	if (r != -EAGAIN && r != -ENOENT)
		return vm_refuse(r, "QEMU pid %d: %s", (int)vm.pid, why);
	if (r != -ENOENT)
		vm.no_ram_since_ns = 0;
	if (now >= vm.ram_deadline_ns)
		return vm_refuse(-ETIMEDOUT, "no guest RAM in QEMU pid %d after %d s: %s",
				 (int)vm.pid, PEER_RAM_WAIT_MS / 1000, why);
	vm.next_probe_ns = now + vm.probe_ms * 1000000ull;
	vm.probe_ms = MIN(vm.probe_ms * 2, PROBE_MAX_MS);
}

/* vm_begin - a QEMU connected on the chardev. */
static void vm_begin(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int r;

	vm.fd = fd;
	vm.served++;
	if (!o.mem_from_peer) {
		vm.mem_fd = open_guest_ram();
		if (vm.mem_fd < 0)
			return vm_refuse(vm.mem_fd, "no guest RAM file (see above)");
		vm.mem_size = o.mem_size;
		return vm_serve();
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.pid <= 0)
		return vm_refuse(-ESRCH, "cannot tell QEMU's pid from the connection (is QEMU in "
				 "another pid namespace?)");
	vm.pid = cred.pid;
	r = peer_start_time(vm.pid, &vm.start_time);
	if (r < 0)
		return vm_refuse(r, "QEMU pid %d: /proc/%d/stat: %s", (int)vm.pid, (int)vm.pid,
				 strerror(-r));
	vm.phase = VM_WAIT_RAM;
	vm.since_ns = vm.next_probe_ns = now_ns();
	vm.ram_deadline_ns = vm.since_ns + PEER_RAM_WAIT_MS * 1000000ull;
	vm.no_ram_since_ns = 0;
	vm.probe_ms = PROBE_MIN_MS;
	log_info("QEMU pid %d (uid %d) connected; looking for its guest RAM", (int)vm.pid,
		 (int)cred.uid);
	probe_ram();
}

/* pvfsd went away: plug again, with backoff, until reconnect_timeout. */
static void lost_pvfsd(void)
{
	log_warn("lost pvfsd (plug connection closed); re-plugging tenant %s for up to %.0f s",
		 o.tenant, o.reconnect_timeout);
	pvfs_unplug(vm.plug);
	vm.plug = NULL;
	start_replug(false);
	/* A restarting pvfsd needs a moment; the first try comes at once anyway. */
	vm.next_try_ns = now_ns();
}

static void replug(void)
{
	vm.attempts++;
	if (try_plug() == 0) {
		log_info("plugged tenant %s after %u attempt(s)", o.tenant, vm.attempts);
		return;
	}
	if (now_ns() >= vm.deadline_ns)
		die("pvfsd did not take tenant %s back within %.0f s; giving up (the guest's "
		    "pending I/O stays pending)", o.tenant, o.reconnect_timeout);
	log_debug("plug attempt %u failed; next in %u ms", vm.attempts, vm.retry_ms);
	vm.next_try_ns = now_ns() + vm.retry_ms * 1000000ull;
	vm.retry_ms = MIN(vm.retry_ms * 2, RETRY_MAX_MS);
}

/*
 * check_tenant - fail early, with the operator's next step, when the tenant
 * is not attached or is plugged by someone else. A pvfsd that is not running
 * yet is no error: a VM may start first, and waits for it.
 */
static void check_tenant(void)
{
	_cleanup_close_ int s = -1;
	json_t *result = NULL, *error = NULL, *t;
	const char *state;
	int r;

	r = rpc_connect(o.sock, &s);
	if (r < 0) {
		log_warn("cannot reach pvfsd at %s: %s; a VM that connects waits until pvfsd "
			 "takes tenant %s", o.sock, strerror(-r), o.tenant);
		return;
	}
	r = rpc_call(s, "stats", json_pack("{s:s}", "name", o.tenant), NULL, 0, RPC_TIMEOUT_MS,
		     &result, &error);
	if (r < 0) {
		const char *msg = error ? json_string_value(json_object_get(error, "message")) : NULL;

		die("tenant %s: %s; attach it first: pvfsctl attach %s --volume VOLUME", o.tenant,
		    msg ? msg : strerror(-r), o.tenant);
	}
	t = json_array_get(json_object_get(result, "tenants"), 0);
	state = json_string_value(json_object_get(t, "state"));
	if (state && strcmp(state, "unplugged"))
		die("tenant %s is %s: another VMM has it plugged", o.tenant, state);
	json_decref(result);
}

static int listen_chardev(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	gid_t gid;
	int fd;

	if (strlen(o.chardev) >= sizeof(sa.sun_path))
		die("--chardev path %s is too long", o.chardev);
	strcpy(sa.sun_path, o.chardev);
	/* A stale socket of an earlier run is ours to replace; anything else is not. */
	if (lstat(o.chardev, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			die("--chardev %s exists and is not a socket", o.chardev);
		unlink(o.chardev);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("cannot listen on %s: %m", o.chardev);
	/* Connecting needs write permission: QEMU may run as another user. */
	gid = perm_gid(&o.chardev_perm);
	if ((gid != (gid_t)-1 && chown(o.chardev, (uid_t)-1, gid) < 0) ||
	    chmod(o.chardev, o.chardev_perm.mode) < 0)
		die("cannot set the group and mode of %s: %m", o.chardev);
	if (listen(fd, 4) < 0)
		die("cannot listen on %s: %m", o.chardev);
	return fd;
}

/*
 * notify_ready - tell systemd (Type=notify) that QEMU can connect now. The
 * datagram protocol of sd_notify(3), without linking libsystemd.
 */
static void notify_ready(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;
	socklen_t len;

	if (!path || (path[0] != '/' && path[0] != '@') || strlen(path) >= sizeof(sa.sun_path))
		return;
	strcpy(sa.sun_path, path);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0';	/* abstract namespace */
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || sendto(fd, "READY=1", 7, MSG_NOSIGNAL, (struct sockaddr *)&sa, len) < 0)
		log_warn("cannot notify systemd at %s: %m", path);
}

static void print_qemu_args(void)
{
	printf("-m\n%" PRIu64 "M\n", o.mem_size / MiB);
	if (o.mem_from_peer)
		printf("-object\nmemory-backend-memfd,id=pvfs-ram,size=%" PRIu64 ",share=on\n",
		       o.mem_size);
	else
		printf("-object\nmemory-backend-file,id=pvfs-ram,size=%" PRIu64
		       ",mem-path=%s,share=on\n", o.mem_size, o.mem_path);
	printf("-machine\n%s,memory-backend=pvfs-ram\n", o.machine);
	/* "pvfs-" makes a valid QEMU id of any tenant name. */
	printf("-chardev\nsocket,id=pvfs-%s,path=%s\n", o.tenant, o.chardev);
	printf("-device\nivshmem-doorbell,chardev=pvfs-%s,vectors=%u\n", o.tenant, o.queues);
}

/*
 * print_libvirt_xml - the domain XML for this shim: shared guest RAM that the
 * shim finds in QEMU (--mem-from-peer), and the ivshmem-doorbell device.
 * Tenant names are [A-Za-z0-9_.-], so nothing needs escaping.
 */
static void print_libvirt_xml(void)
{
	printf("<!-- pvfs-shim for tenant %s (docs/libvirt.md). In <domain>: -->\n"
	       "<memoryBacking>\n"
	       "  <source type='memfd'/>\n"
	       "  <access mode='shared'/>\n"
	       "</memoryBacking>\n"
	       "<!-- In <devices>: -->\n"
	       "<shmem name='pvfs-%s'>\n"
	       "  <model type='ivshmem-doorbell'/>\n"
	       "  <server path='%s'/>\n"
	       "  <msi vectors='%u' ioeventfd='on'/>\n"
	       "</shmem>\n", o.tenant, o.tenant, o.chardev, o.queues);
}

static void usage(FILE *f)
{
	fprintf(f,
"Usage: pvfs-shim --tenant NAME [--chardev PATH] --mem-path FILE --mem-size SIZE [OPTIONS]\n"
"       pvfs-shim --tenant NAME [--chardev PATH] --mem-from-peer [OPTIONS]\n\n"
"Serves QEMU's ivshmem-doorbell chardev for one VM and plugs it into pvfsd.\n\n"
"  -t, --tenant NAME           the tenant (attach it first: pvfsctl attach NAME --volume V)\n"
"  -s, --socket PATH           pvfsd control socket (default $PVFS_SOCKET or %s)\n"
"      --chardev PATH          UNIX socket QEMU's -chardev socket,path=PATH connects to\n"
"                              (default " RUNTIME_DIR "/NAME.sock)\n"
"      --chardev-group GROUP   group of the chardev socket (default " DEFAULT_GROUP
" if it exists)\n"
"      --chardev-mode MODE     its mode, octal (0660)\n"
"      --mem-path FILE         guest RAM file (QEMU memory-backend-file mem-path, share=on);\n"
"                              created and sized if missing or empty\n"
"      --mem-group GROUP       group of a RAM file the shim creates (as --chardev-group)\n"
"      --mem-mode MODE         its mode, octal (0660)\n"
"      --mem-from-peer         take guest RAM from the QEMU that connects (its shared\n"
"                              memfd or file backend, e.g. libvirt's) instead of --mem-path\n"
"      --mem-size SIZE         guest RAM (QEMU -m), a multiple of 1M, e.g. 1G; with\n"
"                              --mem-from-peer optional: picks the backend of that size\n"
"      --machine pc|q35        QEMU machine type, for the guest-physical layout (q35)\n"
"      --queues N              queue pairs = MSI-X vectors, 1-%u (2)\n"
"      --depth N               requests per queue, power of two 2-%u (128)\n"
"      --reconnect-timeout S   how long to re-plug a restarted pvfsd (60)\n"
"      --once                  exit when the first VM disconnects\n"
"      --print-qemu-args       print QEMU's options, one per line, and exit\n"
"      --print-libvirt-xml     print the domain XML blocks for libvirt, and exit\n"
"  -h, --help\n\n"
"See docs/qemu.md and docs/libvirt.md.\n", rpc_socket_path(NULL), PVFS_MAX_QUEUES,
		PVFS_MAX_DEPTH);
}

static uint64_t num_arg(const char *opt, const char *s, uint64_t lo, uint64_t hi)
{
	uint64_t v;

	if (parse_u64(s, &v) < 0 || v < lo || v > hi)
		die("%s must be a number %" PRIu64 "-%" PRIu64 ", not '%s'", opt, lo, hi, s);
	return v;
}

static mode_t mode_arg(const char *opt, const char *s)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 8);
	if (errno || !*s || *end || v > 0777)
		die("%s must be an octal mode such as 0660, not '%s'", opt, s);
	return (mode_t)v;
}

static void parse_args(int argc, char **argv)
{
	enum { O_CHARDEV = 256, O_CHARDEV_GROUP, O_CHARDEV_MODE, O_MEM_PATH, O_MEM_GROUP,
	       O_MEM_MODE, O_MEM_PEER, O_MEM_SIZE, O_MACHINE, O_QUEUES, O_DEPTH, O_RECONNECT,
	       O_ONCE, O_PRINT, O_PRINT_XML };
	static const struct option opts[] = {
		{ "tenant", required_argument, NULL, 't' },
		{ "socket", required_argument, NULL, 's' },
		{ "chardev", required_argument, NULL, O_CHARDEV },
		{ "chardev-group", required_argument, NULL, O_CHARDEV_GROUP },
		{ "chardev-mode", required_argument, NULL, O_CHARDEV_MODE },
		{ "mem-path", required_argument, NULL, O_MEM_PATH },
		{ "mem-group", required_argument, NULL, O_MEM_GROUP },
		{ "mem-mode", required_argument, NULL, O_MEM_MODE },
		{ "mem-from-peer", no_argument, NULL, O_MEM_PEER },
		{ "mem-size", required_argument, NULL, O_MEM_SIZE },
		{ "machine", required_argument, NULL, O_MACHINE },
		{ "queues", required_argument, NULL, O_QUEUES },
		{ "depth", required_argument, NULL, O_DEPTH },
		{ "reconnect-timeout", required_argument, NULL, O_RECONNECT },
		{ "once", no_argument, NULL, O_ONCE },
		{ "print-qemu-args", no_argument, NULL, O_PRINT },
		{ "print-libvirt-xml", no_argument, NULL, O_PRINT_XML },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	static char chardev[sizeof(((struct sockaddr_un *)0)->sun_path) + 64];
	const char *sock = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "t:s:h", opts, NULL)) != -1) {
		switch (c) {
		case 't': o.tenant = optarg; break;
		case 's': sock = optarg; break;
		case O_CHARDEV: o.chardev = optarg; break;
		case O_CHARDEV_GROUP: o.chardev_perm.group = optarg; break;
		case O_CHARDEV_MODE: o.chardev_perm.mode = mode_arg("--chardev-mode", optarg); break;
		/* The two memory sources exclude each other; the last one given wins. */
		case O_MEM_PATH: o.mem_path = optarg; o.mem_from_peer = false; break;
		case O_MEM_PEER: o.mem_from_peer = true; o.mem_path = NULL; break;
		case O_MEM_GROUP: o.mem_perm.group = optarg; break;
		case O_MEM_MODE: o.mem_perm.mode = mode_arg("--mem-mode", optarg); break;
		case O_MEM_SIZE:
			if (parse_size(optarg, &o.mem_size) < 0 || !o.mem_size ||
			    o.mem_size % MiB || o.mem_size > MAX_MEM_SIZE)
				die("--mem-size must be a multiple of 1M up to 512G, not '%s'",
				    optarg);
			break;
		case O_MACHINE:
			if (strcmp(optarg, "q35") && strcmp(optarg, "pc"))
				die("--machine must be pc or q35, not '%s'", optarg);
			o.machine = optarg;
			break;
		case O_QUEUES:
			o.queues = (uint32_t)num_arg("--queues", optarg, 1, PVFS_MAX_QUEUES);
			break;
		case O_DEPTH:
			o.depth = (uint32_t)num_arg("--depth", optarg, 2, PVFS_MAX_DEPTH);
			if (!is_pow2(o.depth))
				die("--depth must be a power of two, not %u", o.depth);
			break;
		case O_RECONNECT:
			o.reconnect_timeout = (double)num_arg("--reconnect-timeout", optarg, 0,
							      86400);
			break;
		case O_ONCE: o.once = true; break;
		case O_PRINT: o.print_args = true; break;
		case O_PRINT_XML: o.print_xml = true; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (optind != argc || !o.tenant || (!o.print_xml && !o.mem_from_peer && !o.mem_path) ||
	    (o.mem_path && !o.mem_size) || (o.print_args && !o.mem_size)) {
		usage(stderr);
		exit(2);
	}
	if (!o.chardev) {
		snprintf(chardev, sizeof(chardev), RUNTIME_DIR "/%s.sock", o.tenant);
		o.chardev = chardev;
	}
	o.sock = rpc_socket_path(sock);
}

int main(int argc, char **argv)
{
	int listen_fd, sig_fd;
	sigset_t mask;
	bool stop = false;

	log_init("pvfs-shim", LOG_INFO);
	parse_args(argc, argv);
	if (o.print_xml) {
		print_libvirt_xml();
		return 0;
	}
	if (o.print_args) {
		print_qemu_args();
		return 0;
	}

	check_tenant();
	/* Create the guest RAM file now, so it exists before QEMU opens it. */
	if (o.mem_path) {
		vm.mem_fd = open_guest_ram();
		if (vm.mem_fd < 0)
			return 1;
		close(vm.mem_fd);
		vm.mem_fd = -1;
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sig_fd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sig_fd < 0)
		die("signalfd: %m");
	listen_fd = listen_chardev();
	if (o.mem_from_peer)
		log_info("tenant %s: waiting for QEMU on %s (%u queue(s), guest RAM from QEMU, %s)",
			 o.tenant, o.chardev, o.queues, o.machine);
	else
		log_info("tenant %s: waiting for QEMU on %s (%u queue(s), guest RAM %s, %" PRIu64
			 " MiB, %s)", o.tenant, o.chardev, o.queues, o.mem_path, o.mem_size / MiB,
			 o.machine);
	notify_ready();

	while (!stop) {
		struct pollfd pfd[4] = {
			{ .fd = sig_fd, .events = POLLIN },
			{ .fd = listen_fd, .events = POLLIN },
			{ .fd = vm.fd, .events = POLLIN },
			{ .fd = vm.plug ? pvfs_plug_fd(vm.plug) : -1, .events = POLLIN },
		};
		uint64_t now = now_ns(), wake = UINT64_MAX;
		int timeout = -1;

		/* Timers: the next look for QEMU's RAM, the next plug attempt. */
		if (vm.phase == VM_WAIT_RAM)
			wake = vm.next_probe_ns;
		else if (vm.phase == VM_SERVED && !vm.plug)
			wake = vm.next_try_ns;
		if (wake != UINT64_MAX)
			timeout = wake > now ? (int)((wake - now) / 1000000 + 1) : 0;
		if (poll(pfd, ARRAY_SIZE(pfd), timeout) < 0) {
			if (errno == EINTR)
				continue;
			die("poll: %m");
		}
		if (pfd[0].revents) {
			struct signalfd_siginfo si;

			if (read(sig_fd, &si, sizeof(si)) == sizeof(si))
				log_info("signal %u: exiting", si.ssi_signo);
			stop = true;
			break;
		}
		if (pfd[2].revents) {
			char buf[64];
			ssize_t n = read(vm.fd, buf, sizeof(buf));

			/* QEMU never sends anything after connecting: data is ignored. */
			if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
				vm_end(n == 0 ? "end of file" : strerror(errno));
		}
		if (pfd[3].revents) {
			char buf[64];

			/* pvfsd never sends on a plug connection: readable means it closed. */
			if (read(pfd[3].fd, buf, sizeof(buf)) <= 0)
				lost_pvfsd();
		}
		if (vm.phase == VM_WAIT_RAM && now_ns() >= vm.next_probe_ns)
			probe_ram();
		if (vm.phase == VM_SERVED && !vm.plug && now_ns() >= vm.next_try_ns)
			replug();
		if (pfd[1].revents) {
			int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);

			if (fd >= 0 && vm.fd >= 0) {
				log_warn("refusing a second QEMU connection: this shim serves one VM");
				refuse(fd, -EBUSY);
				close(fd);
			} else if (fd >= 0) {
				vm_begin(fd);
			}
		}
		if (o.once && vm.served && vm.fd < 0)
			break;
	}
	vm_end("pvfs-shim exiting");
	close(listen_fd);
	unlink(o.chardev);
	return 0;
}
