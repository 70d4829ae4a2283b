/* SPDX-License-Identifier: MIT */
/*
 * fuzz_control - libFuzzer harness for pvfsd's control protocol: the real
 * control plane (daemon/control.c, tenant.c, state.c and a running poller
 * thread) in this process, listening on a socket in a temporary runtime
 * directory, fed one packet per input through a real SOCK_SEQPACKET
 * connection, with file descriptors attached as the input's first byte says.
 *
 * Input: byte 0 (mod 8) is the number of descriptors sent with the packet,
 * bytes 1-3 give each one's kind in 3 bits (a valid ring region, an eventfd,
 * a guest-RAM memfd, a volume file, a socket, /dev/null, a pipe, a
 * directory), so `plug` can be reached with the right and the wrong
 * descriptors; the rest is the packet. After it the harness sends a
 * sentinel `version` request and runs pvfsd's event loop until the sentinel
 * is answered. A crash, a sanitizer report, a hang (no sentinel answer in
 * 10 s), a reply that is not a well-formed JSON-RPC 2.0 response (object,
 * "jsonrpc": "2.0", "id", exactly one of result/error, an integer error code
 * and a non-empty message) or descriptors piling up in pvfsd abort the run.
 * An empty packet is end of file (proto/CONTROL.md): pvfsd must close the
 * connection without a reply.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <sanitizer/common_interface_defs.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "control.h"
#include "log.h"
#include "poller.h"
#include "pvfs_shim.h"
#include "pvfsd.h"
#include "rpc.h"
#include "sched.h"
#include "tenant.h"
#include "tlib.h"
#include "util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NVOLS 3
#define SENTINEL "{\"jsonrpc\":\"2.0\",\"method\":\"version\",\"id\":\"fuzz-sentinel\"}"
#define FAIL(...) do { fprintf(stderr, "fuzz_control: " __VA_ARGS__); fputc('\n', stderr); \
		       abort(); } while (0)

static char dir[64], voldir[128], sock_path[128], state_file[128];
static char vols[NVOLS][160];
static struct event_base *base;
static struct pvfs_region *region;	/* a valid region for plug: 1 queue, depth 8 */
static int fd_baseline;

static void on_drained(struct tenant_io *tio)
{
	tenant_drained(tio);
}

static void done_cb(evutil_socket_t fd, short what, void *arg)
{
	poller_reap_done(on_drained);
}

static void cleanup(void)
{
	for (int i = 0; i < NVOLS; i++)
		unlink(vols[i]);
	rmdir(voldir);
	unlink(sock_path);
	unlink(state_file);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct event *ev;
	const char *tmp = getenv("TMPDIR");

	log_init("fuzz_control", getenv("FUZZ_VERBOSE") ? LOG_DEBUG : LOG_CRIT);
	signal(SIGPIPE, SIG_IGN);
	snprintf(dir, sizeof(dir), "%s/pvfs-fuzz-XXXXXX", tmp && strlen(tmp) < 32 ? tmp : "/tmp");
	if (!mkdtemp(dir))
		FAIL("mkdtemp: %m");
	snprintf(voldir, sizeof(voldir), "%s/vols", dir);
	snprintf(sock_path, sizeof(sock_path), "%s/control.sock", dir);
	snprintf(state_file, sizeof(state_file), "%s/state.json", dir);
	atexit(cleanup);
	if (mkdir(voldir, 0700) < 0)
		FAIL("mkdir %s: %m", voldir);
	/* Named vol0.img .. vol2.img, so seeds and the dictionary can name them. */
	for (int i = 0; i < NVOLS; i++) {
		int fd;

		snprintf(vols[i], sizeof(vols[i]), "%s/vol%d.img", voldir, i);
		fd = open(vols[i], O_RDWR | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || ftruncate(fd, 1 << 20) < 0)
			FAIL("volume %s: %m", vols[i]);
		close(fd);
	}
	{
		struct pvfs_region_params rp = { .nr_queues = 1, .depth = 8, .max_segs = 16 };

		if (pvfs_region_create(&rp, &region) < 0)
			FAIL("cannot create a region");
	}
	cfg.runtime_dir = dir;
	cfg.state_file = state_file;
	/* Not root: pvfsd's admin group is ours, so the harness is authorized. */
	if (geteuid() != 0)
		cfg.admin_gid = getegid();
	if (config_set("volume-dir", voldir) < 0)
		FAIL("volume-dir %s refused", voldir);
	if (poller_start_all(1, cfg.sched_mode, cfg.inflight_cap) < 0)
		FAIL("cannot start a poller (io_uring)");
	base = event_base_new();
	if (!base || ctl_start(base, sock_path, -1) < 0)
		FAIL("cannot listen on %s", sock_path);
	ev = event_new(base, poller_done_fd(), EV_READ | EV_PERSIST, done_cb, NULL);
	event_add(ev, NULL);
	/*
	 * libFuzzer symbolizes each newly covered function it reports, which
	 * starts llvm-symbolizer on a pair of pipes that stay open; start it now
	 * so that those belong to the baseline and are not taken for a leak.
	 */
	{
		char sym[256];

		__sanitizer_symbolize_pc(__builtin_return_address(0), "%p %F %L", sym, sizeof(sym));
	}
	fd_baseline = tl_fd_count(getpid());
	return 0;
}

/* check_reply - a well-formed JSON-RPC 2.0 response; returns 1 for the sentinel's. */
static int check_reply(const char *buf, ssize_t n)
{
	json_error_t jerr;
	json_t *r = json_loadb(buf, (size_t)n, 0, &jerr), *id, *err;
	const char *ver;
	int sentinel;

	if (!r || !json_is_object(r))
		FAIL("reply is not a JSON object: %.*s", (int)n, buf);
	ver = json_string_value(json_object_get(r, "jsonrpc"));
	id = json_object_get(r, "id");
	err = json_object_get(r, "error");
	if (!ver || strcmp(ver, "2.0") || !id)
		FAIL("reply without jsonrpc 2.0 or id: %.*s", (int)n, buf);
	if (!!err == !!json_object_get(r, "result"))
		FAIL("reply needs exactly one of result and error: %.*s", (int)n, buf);
	if (err && (!json_is_integer(json_object_get(err, "code")) ||
		    !json_string_value(json_object_get(err, "message")) ||
		    !*json_string_value(json_object_get(err, "message"))))
		FAIL("error without an integer code and a message: %.*s", (int)n, buf);
	sentinel = json_is_string(id) && !strcmp(json_string_value(id), "fuzz-sentinel");
	if (sentinel && err)
		FAIL("version failed after the input: %.*s", (int)n, buf);
	json_decref(r);
	return sentinel;
}

static int make_fd(int kind)
{
	int fd = -1, p[2];

	switch (kind) {
	case 0:
		fd = fcntl(region->memfd, F_DUPFD_CLOEXEC, 0);
		break;
	case 1:
		fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		break;
	case 2:
		fd = memfd_create("fuzz-ram", MFD_CLOEXEC);
		if (fd >= 0 && ftruncate(fd, 1 << 20) < 0)
			FAIL("ftruncate memfd: %m");
		break;
	case 3:
		fd = open(vols[0], O_RDWR | O_CLOEXEC);
		break;
	case 4:
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) == 0) {
			close(p[1]);
			fd = p[0];
		}
		break;
	case 5:
		fd = open("/dev/null", O_RDWR | O_CLOEXEC);
		break;
	case 6:
		if (pipe2(p, O_CLOEXEC) == 0) {
			close(p[0]);
			fd = p[1];
		}
		break;
	default:
		fd = open(voldir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		break;
	}
	if (fd < 0)
		FAIL("cannot make descriptor kind %d: %m", kind);
	return fd;
}

static void send_packet(int s, const void *buf, size_t len, const int *fds, size_t nfds)
{
	ssize_t n = rpc_send_raw(s, buf, len, fds, nfds);

	if (n < 0)
		FAIL("sendmsg: %s", strerror((int)-n));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char buf[PVFS_CTL_MAX_MSG + 1];
	int fds[8], s;
	size_t nfds;
	uint32_t kinds;
	uint64_t deadline;
	int done = 0;

	if (size < 4 || size - 4 > PVFS_CTL_MAX_MSG)
		return 0;
	nfds = data[0] % 8u;
	kinds = data[1] | (uint32_t)data[2] << 8 | (uint32_t)data[3] << 16;
	for (size_t k = 0; k < nfds; k++)
		fds[k] = make_fd((int)(kinds >> (3 * k)) & 7);
	if (rpc_connect(sock_path, &s) < 0)
		FAIL("connect %s: %m", sock_path);
	/* Let pvfsd accept, so its packets queue on an accepted connection. */
	event_base_loop(base, EVLOOP_NONBLOCK);
	send_packet(s, data + 4, size - 4, fds, nfds);
	for (size_t i = 0; i < nfds; i++)
		close(fds[i]);
	/* An empty packet reads as end of file: pvfsd must close, not answer. */
	if (size > 4)
		send_packet(s, SENTINEL, strlen(SENTINEL), NULL, 0);

	deadline = now_ns() + 10000000000ull;
	while (!done) {
		struct pollfd pfd = { .fd = s, .events = POLLIN };
		ssize_t n;

		if (now_ns() > deadline)
			FAIL("no answer to the sentinel in 10 s");
		event_base_loop(base, EVLOOP_NONBLOCK | EVLOOP_ONCE);
		if (poll(&pfd, 1, 1) <= 0)
			continue;
		n = recv(s, buf, sizeof(buf), 0);
		if (size == 4 && n == 0)
			break;
		if (n <= 0)
			FAIL("pvfsd closed the connection without answering (%zd)", n);
		if (size == 4)
			FAIL("pvfsd answered an empty packet: %.*s", (int)n, buf);
		done = check_reply(buf, n);
	}
	close(s);
	/*
	 * Let pvfsd see the close, unplug what the connection plugged and
	 * drain it; then only the attached tenants' volumes may stay open.
	 */
	deadline = now_ns() + 10000000000ull;
	while (tl_fd_count(getpid()) > fd_baseline + (int)tenant_count()) {
		if (now_ns() > deadline) {
			fflush(stderr);
			system("ls -l /proc/$PPID/fd >&2 2>/dev/null || true");
			FAIL("descriptors pile up in pvfsd: %d, %d at start", tl_fd_count(getpid()),
			     fd_baseline);
		}
		event_base_loop(base, EVLOOP_NONBLOCK | EVLOOP_ONCE);
		poll(NULL, 0, 1);
	}
	return 0;
}
