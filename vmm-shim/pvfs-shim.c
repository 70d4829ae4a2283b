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
 * The shim owns the memfd and eventfds, so a pvfsd restart loses nothing: when
 * the plug connection reads end of file the shim plugs the same region again
 * (pvfsd re-issues what was in flight). When QEMU disconnects the shim
 * unplugs and frees the region; the next QEMU gets a new one, so a new boot
 * never sees a previous guest's ring.
 *
 * One plain poll() loop, no threads. docs/qemu.md is the operator guide.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
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

static struct {
	const char *tenant, *sock, *chardev, *mem_path, *machine;
	uint64_t mem_size;
	uint32_t queues, depth;
	double reconnect_timeout;
	bool once, print_args;
} o = {
	.machine = "q35", .queues = 2, .depth = 128, .reconnect_timeout = 60,
};

/* Everything that lives for one QEMU connection. */
static struct {
	int fd;				/* the chardev connection, -1 when no VM */
	struct pvfs_region *region;
	struct pvfs_plug *plug;		/* NULL while pvfsd is away */
	int mem_fd;			/* guest RAM file */
	/* Re-plug state while pvfsd is away. */
	unsigned attempts;
	unsigned retry_ms;
	uint64_t next_try_ns, deadline_ns;
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
static void build_memtab(int fd)
{
	uint64_t below, lowmem;

	if (!strcmp(o.machine, "q35"))
		lowmem = o.mem_size >= 0xb0000000ull ? 0x80000000ull : 0xb0000000ull;
	else
		lowmem = o.mem_size >= 0xe0000000ull ? 0xc0000000ull : 0xe0000000ull;
	below = MIN(o.mem_size, lowmem);
	memtab[0] = (struct pvfs_memregion){ .gpa = 0, .size = below, .fd = fd, .offset = 0 };
	nmem = 1;
	if (o.mem_size > below) {
		memtab[1] = (struct pvfs_memregion){ .gpa = 4 * GiB, .size = o.mem_size - below,
						     .fd = fd, .offset = below };
		nmem = 2;
	}
}

/*
 * open_guest_ram - open (creating and sizing it if it is new or empty) the
 * file QEMU's memory-backend-file maps with share=on. Opened again for each
 * VM, so a file replaced between two boots is followed.
 */
static int open_guest_ram(void)
{
	_cleanup_close_ int fd = -1;
	struct stat st;

	fd = open(o.mem_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
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

static int try_plug(void)
{
	char err[512] = "";
	int r;

	r = pvfs_plug(o.sock, o.tenant, vm.region, memtab, nmem, &vm.plug, err, sizeof(err));
	if (r < 0) {
		vm.plug = NULL;
		/* pvfsd's message names the problem and the fix (e.g. "attach it first"). */
		log_warn("plug %s: %s", o.tenant, err[0] ? err : strerror(-r));
	}
	return r;
}

/* vm_end - QEMU went away (or was refused): unplug and forget the region. */
static void vm_end(const char *why)
{
	if (vm.fd < 0)
		return;
	log_info("VM connection closed (%s); tenant %s unplugged", why, o.tenant);
	pvfs_unplug(vm.plug);
	vm.plug = NULL;
	pvfs_region_free(vm.region);
	vm.region = NULL;
	close(vm.fd);
	vm.fd = -1;
	if (vm.mem_fd >= 0)
		close(vm.mem_fd);
	vm.mem_fd = -1;
}

static void start_replug(void)
{
	vm.attempts = 0;
	vm.retry_ms = RETRY_MIN_MS;
	vm.next_try_ns = now_ns() + RETRY_MIN_MS * 1000000ull;
	vm.deadline_ns = now_ns() + (uint64_t)(o.reconnect_timeout * 1e9);
}

/*
 * vm_begin - a QEMU connected: new region, plug, then the ivshmem greeting.
 * A failed plug does not refuse QEMU (which would hang in its device setup on
 * a closed chardev): the region stays INIT, so the guest driver does not
 * bind, and the shim keeps trying like after a pvfsd restart.
 */
static void vm_begin(int fd)
{
	struct pvfs_region_params rp = {
		.nr_queues = o.queues, .depth = o.depth, .max_segs = PVFS_MAX_SEGS,
		.doorbell_peer = HOST_PEER,
	};
	int r;

	vm.fd = fd;
	vm.mem_fd = open_guest_ram();
	if (vm.mem_fd < 0)
		return vm_end("no guest RAM file");
	build_memtab(vm.mem_fd);
	r = pvfs_region_create(&rp, &vm.region);
	if (r < 0) {
		log_err("cannot create the ring region: %s", strerror(-r));
		return vm_end("no region");
	}
	/* Plug before the greeting: the region is READY before the guest can see it. */
	if (try_plug() < 0) {
		log_warn("VM gets an unplugged device; retrying the plug for up to %.0f s",
			 o.reconnect_timeout);
		start_replug();
	}
	r = send_setup(fd, vm.region);
	if (r < 0) {
		log_err("ivshmem setup to QEMU failed: %s", strerror(-r));
		return vm_end("setup failed");
	}
	log_info("VM connected: tenant %s %s, %u queue(s) x %u, region %" PRIu64
		 " bytes, guest RAM %" PRIu64 " MiB in %u range(s)", o.tenant,
		 vm.plug ? "plugged" : "not plugged yet", o.queues, o.depth, vm.region->size,
		 o.mem_size / MiB, nmem);
}

/* pvfsd went away: plug again, with backoff, until reconnect_timeout. */
static void lost_pvfsd(void)
{
	log_warn("lost pvfsd (plug connection closed); re-plugging tenant %s for up to %.0f s",
		 o.tenant, o.reconnect_timeout);
	pvfs_unplug(vm.plug);
	vm.plug = NULL;
	start_replug();
	/* A restarting pvfsd needs a moment; the first try comes at once anyway. */
	vm.next_try_ns = now_ns();
}

static void replug(void)
{
	vm.attempts++;
	if (try_plug() == 0) {
		log_info("re-plugged tenant %s after %u attempt(s)", o.tenant, vm.attempts);
		return;
	}
	if (now_ns() >= vm.deadline_ns)
		die("pvfsd did not take tenant %s back within %.0f s; giving up (the guest's "
		    "pending I/O stays pending)", o.tenant, o.reconnect_timeout);
	log_info("re-plug attempt %u failed; next in %u ms", vm.attempts, vm.retry_ms);
	vm.next_try_ns = now_ns() + vm.retry_ms * 1000000ull;
	vm.retry_ms = MIN(vm.retry_ms * 2, RETRY_MAX_MS);
}

/*
 * check_tenant - fail early, with the operator's next step, when pvfsd is
 * not running or the tenant is not attached or is plugged by someone else.
 */
static void check_tenant(void)
{
	_cleanup_close_ int s = -1;
	json_t *result = NULL, *error = NULL, *t;
	const char *state;
	int r;

	r = rpc_connect(o.sock, &s);
	if (r < 0)
		die("cannot reach pvfsd at %s: %s (start pvfsd, or pass -s SOCKET)", o.sock,
		    strerror(-r));
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
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0)
		die("cannot listen on %s: %m", o.chardev);
	return fd;
}

static void print_qemu_args(void)
{
	printf("-m\n%" PRIu64 "M\n", o.mem_size / MiB);
	printf("-object\nmemory-backend-file,id=pvfs-ram,size=%" PRIu64
	       ",mem-path=%s,share=on\n", o.mem_size, o.mem_path);
	printf("-machine\n%s,memory-backend=pvfs-ram\n", o.machine);
	/* "pvfs-" makes a valid QEMU id of any tenant name. */
	printf("-chardev\nsocket,id=pvfs-%s,path=%s\n", o.tenant, o.chardev);
	printf("-device\nivshmem-doorbell,chardev=pvfs-%s,vectors=%u\n", o.tenant, o.queues);
}

static void usage(FILE *f)
{
	fprintf(f,
"Usage: pvfs-shim --tenant NAME --chardev PATH --mem-path FILE --mem-size SIZE [OPTIONS]\n\n"
"Serves QEMU's ivshmem-doorbell chardev for one VM and plugs it into pvfsd.\n\n"
"  -t, --tenant NAME           the tenant (attach it first: pvfsctl attach NAME --volume V)\n"
"  -s, --socket PATH           pvfsd control socket (default $PVFS_SOCKET or %s)\n"
"      --chardev PATH          UNIX socket QEMU's -chardev socket,path=PATH connects to\n"
"      --mem-path FILE         guest RAM file (QEMU memory-backend-file mem-path, share=on);\n"
"                              created and sized if missing or empty\n"
"      --mem-size SIZE         guest RAM (QEMU -m), a multiple of 1M, e.g. 1G\n"
"      --machine pc|q35        QEMU machine type, for the guest-physical layout (q35)\n"
"      --queues N              queue pairs = MSI-X vectors, 1-%u (2)\n"
"      --depth N               requests per queue, power of two 2-%u (128)\n"
"      --reconnect-timeout S   how long to re-plug a restarted pvfsd (60)\n"
"      --once                  exit when the first VM disconnects\n"
"      --print-qemu-args       print QEMU's options, one per line, and exit\n"
"  -h, --help\n\n"
"See docs/qemu.md.\n", rpc_socket_path(NULL), PVFS_MAX_QUEUES, PVFS_MAX_DEPTH);
}

static uint64_t num_arg(const char *opt, const char *s, uint64_t lo, uint64_t hi)
{
	uint64_t v;

	if (parse_u64(s, &v) < 0 || v < lo || v > hi)
		die("%s must be a number %" PRIu64 "-%" PRIu64 ", not '%s'", opt, lo, hi, s);
	return v;
}

static void parse_args(int argc, char **argv)
{
	enum { O_CHARDEV = 256, O_MEM_PATH, O_MEM_SIZE, O_MACHINE, O_QUEUES, O_DEPTH,
	       O_RECONNECT, O_ONCE, O_PRINT };
	static const struct option opts[] = {
		{ "tenant", required_argument, NULL, 't' },
		{ "socket", required_argument, NULL, 's' },
		{ "chardev", required_argument, NULL, O_CHARDEV },
		{ "mem-path", required_argument, NULL, O_MEM_PATH },
		{ "mem-size", required_argument, NULL, O_MEM_SIZE },
		{ "machine", required_argument, NULL, O_MACHINE },
		{ "queues", required_argument, NULL, O_QUEUES },
		{ "depth", required_argument, NULL, O_DEPTH },
		{ "reconnect-timeout", required_argument, NULL, O_RECONNECT },
		{ "once", no_argument, NULL, O_ONCE },
		{ "print-qemu-args", no_argument, NULL, O_PRINT },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *sock = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "t:s:h", opts, NULL)) != -1) {
		switch (c) {
		case 't': o.tenant = optarg; break;
		case 's': sock = optarg; break;
		case O_CHARDEV: o.chardev = optarg; break;
		case O_MEM_PATH: o.mem_path = optarg; break;
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
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (optind != argc || !o.tenant || !o.chardev || !o.mem_path || !o.mem_size) {
		usage(stderr);
		exit(2);
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
	if (o.print_args) {
		print_qemu_args();
		return 0;
	}

	check_tenant();
	/* Create the guest RAM file now, so it exists before QEMU opens it. */
	vm.mem_fd = open_guest_ram();
	if (vm.mem_fd < 0)
		return 1;
	close(vm.mem_fd);
	vm.mem_fd = -1;

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
	log_info("tenant %s: waiting for QEMU on %s (%u queue(s), guest RAM %s, %" PRIu64
		 " MiB, %s)", o.tenant, o.chardev, o.queues, o.mem_path, o.mem_size / MiB,
		 o.machine);

	while (!stop) {
		struct pollfd pfd[4] = {
			{ .fd = sig_fd, .events = POLLIN },
			{ .fd = listen_fd, .events = POLLIN },
			{ .fd = vm.fd, .events = POLLIN },
			{ .fd = vm.plug ? pvfs_plug_fd(vm.plug) : -1, .events = POLLIN },
		};
		int timeout = -1;

		/* Re-plugging: wake up for the next attempt. */
		if (vm.fd >= 0 && !vm.plug) {
			uint64_t now = now_ns();

			timeout = vm.next_try_ns > now ?
				  (int)((vm.next_try_ns - now) / 1000000 + 1) : 0;
		}
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
			if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
				vm_end(n == 0 ? "end of file" : strerror(errno));
				if (o.once)
					break;
				continue;
			}
		}
		if (pfd[3].revents) {
			char buf[64];

			/* pvfsd never sends on a plug connection: readable means it closed. */
			if (read(pfd[3].fd, buf, sizeof(buf)) <= 0)
				lost_pvfsd();
		}
		if (vm.fd >= 0 && !vm.plug && now_ns() >= vm.next_try_ns)
			replug();
		if (pfd[1].revents) {
			int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);

			if (fd < 0)
				continue;
			if (vm.fd >= 0) {
				log_warn("refusing a second QEMU connection: this shim serves one VM");
				close(fd);
				continue;
			}
			vm_begin(fd);
			if (vm.fd < 0 && o.once)
				break;
		}
	}
	vm_end("pvfs-shim exiting");
	close(listen_fd);
	unlink(o.chardev);
	return 0;
}
