/* SPDX-License-Identifier: MIT */
/*
 * main.c - pvfsd: command line and config, start-up order, the main
 * thread's event loop (control socket, metrics, timers, signals) and an
 * orderly shutdown: stop accepting, unplug every VM and wait for the
 * pollers to drain, then exit 0.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "control.h"
#include "log.h"
#include "metrics.h"
#include "placement.h"
#include "poller.h"
#include "pvfsd.h"
#include "state.h"
#include "stats.h"
#include "systemd.h"
#include "tenant.h"
#include "util.h"

static struct event_base *base;
static bool shutting_down;
static uint64_t last_heartbeat[64];
static uint64_t last_watchdog_ns;	/* last watchdog_cb */
static uint64_t wd_us;			/* watchdog check interval, 0: none */
static bool started;			/* READY=1 sent */
/* Longest name (and its '/') pvfsd makes in the runtime or state directory. */
#define DIR_NAME_MAX 32

static char socket_path[PATH_MAX];

static void usage(FILE *f)
{
	fprintf(f,
"Usage: pvfsd [OPTIONS]\n"
"Host daemon of pvfs: serves VMs' block I/O from shared-memory rings.\n\n"
"  -c, --config FILE          read FILE (default /etc/pvfsd/pvfsd.conf if it exists)\n"
"  -r, --runtime-dir DIR      control socket DIR/control.sock (default /run/pvfsd)\n"
"      --state-dir DIR        keep attached tenants in DIR/state.json (default: the\n"
"                             runtime dir with --runtime-dir, else /var/lib/pvfsd)\n"
"  -V, --volume-dir DIR       volumes may only be opened inside DIR (repeatable)\n"
"  -t, --io-threads N|auto    poller threads (default 1); auto: one per CPU of\n"
"                             --cpus (or per online CPU), one in use per\n"
"                             --tenants-per-poller busy tenants, the rest parked\n"
"      --cpus LIST            pin poller i to the i-th CPU of LIST (e.g. 2-5,8)\n"
"      --tenants-per-poller N busy tenants per active poller with auto (default 4)\n"
"      --rebalance yes|no     move tenants between pollers by load (default yes)\n"
"      --scheduler fair|fifo  cross-tenant scheduling (default fair)\n"
"      --inflight-cap N       requests in flight at once per device (default %d)\n"
"      --anticipation-us N    keep a tenant's turn for N us after its queue runs\n"
"                             empty (default %llu; 0 = fully work-conserving)\n"
"      --cost-learning yes|no refine calibrated cost models from completions\n"
"                             (default yes)\n"
"      --slot-shares count|cost  guaranteed in-flight slots by weight (count,\n"
"                             default) or by weight over cost (devices that\n"
"                             serve their queue in order)\n"
"      --poll-us MIN:MAX      adaptive spin window before sleeping (default 50:1000)\n"
"      --metrics-listen A:P   Prometheus endpoint (default 127.0.0.1:9477; none = off)\n"
"      --admin-group GROUP    members may use the control socket (default: root only)\n"
"      --max-connections N    control connections without a plugged VM (default %d)\n"
"      --allow-block-devices  allow block devices as volumes\n"
"      --test-hooks           enable the control methods that exist for tests\n"
"                             (test_drop_interrupts); never in production\n"
"      --allow-nbd GLOB       allow NBD volumes whose URI matches GLOB (repeatable)\n"
"      --nbd-timeout T        how long I/O waits for an NBD server: 30, 30s, 500ms\n"
"      --nbd-connections N    connections per NBD volume with multi-conn (default %d)\n"
"      --allow-rbd-pools LIST Ceph pools RBD volumes may come from (POOL[,POOL...])\n"
"      --ceph-conf PATH       a cluster's ceph.conf for RBD volumes (repeatable; first: default)\n"
"      --ceph-id NAME         a Ceph client name for RBD volumes (repeatable; first: default)\n"
"      --ceph-keyring PATH    the keyring, instead of the one ceph.conf names\n"
"      --rbd-timeout S        bound on Ceph connects and operations (default %d, 0: none)\n"
"  -v, --verbose              debug logging\n"
"  -h, --help                 this help\n"
"      --version              print the version\n", SCHED_INFLIGHT_CAP_DEFAULT,
		SCHED_ANTIC_NS_DEFAULT / 1000, PVFSD_MAX_CONNS_DEFAULT, PVFSD_NBD_CONNECTIONS_DEFAULT,
		PVFSD_RBD_TIMEOUT_DEFAULT);
}

static int parse_args(int argc, char **argv, const char **config_file, const char **state_dir)
{
	enum { O_STATE = 256, O_SCHED, O_CAP, O_POLL, O_METRICS, O_ADMIN, O_BDEV, O_VERSION,
	       O_MAXCONN, O_CPUS, O_TPP, O_REBALANCE, O_TEST_HOOKS, O_ANTIC, O_LEARN, O_SLOTS,
	       O_ALLOW_NBD, O_NBD_TIMEOUT, O_NBD_CONNS, O_RBD_POOLS, O_CEPH_CONF, O_CEPH_ID,
	       O_CEPH_KEYRING, O_RBD_TIMEOUT };
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "runtime-dir", required_argument, NULL, 'r' },
		{ "state-dir", required_argument, NULL, O_STATE },
		{ "volume-dir", required_argument, NULL, 'V' },
		{ "io-threads", required_argument, NULL, 't' },
		{ "scheduler", required_argument, NULL, O_SCHED },
		{ "inflight-cap", required_argument, NULL, O_CAP },
		{ "anticipation-us", required_argument, NULL, O_ANTIC },
		{ "cost-learning", required_argument, NULL, O_LEARN },
		{ "slot-shares", required_argument, NULL, O_SLOTS },
		{ "poll-us", required_argument, NULL, O_POLL },
		{ "metrics-listen", required_argument, NULL, O_METRICS },
		{ "admin-group", required_argument, NULL, O_ADMIN },
		{ "allow-block-devices", no_argument, NULL, O_BDEV },
		{ "max-connections", required_argument, NULL, O_MAXCONN },
		{ "cpus", required_argument, NULL, O_CPUS },
		{ "tenants-per-poller", required_argument, NULL, O_TPP },
		{ "rebalance", required_argument, NULL, O_REBALANCE },
		{ "test-hooks", no_argument, NULL, O_TEST_HOOKS },
		{ "allow-nbd", required_argument, NULL, O_ALLOW_NBD },
		{ "nbd-timeout", required_argument, NULL, O_NBD_TIMEOUT },
		{ "nbd-connections", required_argument, NULL, O_NBD_CONNS },
		{ "allow-rbd-pools", required_argument, NULL, O_RBD_POOLS },
		{ "ceph-conf", required_argument, NULL, O_CEPH_CONF },
		{ "ceph-id", required_argument, NULL, O_CEPH_ID },
		{ "ceph-keyring", required_argument, NULL, O_CEPH_KEYRING },
		{ "rbd-timeout", required_argument, NULL, O_RBD_TIMEOUT },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, O_VERSION },
		{ 0 },
	};
	bool runtime_given = false;
	int c, r;

	/* First pass: only --config, so that the command line overrides the file. */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "c:r:V:t:vh", opts, NULL)) != -1)
		if (c == 'c')
			*config_file = optarg;
	optind = 1;
	opterr = 1;
	r = config_load(*config_file, *config_file != NULL);
	if (r < 0)
		return r;

	while ((c = getopt_long(argc, argv, "c:r:V:t:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			break;
		case 'r':
			cfg.runtime_dir = optarg;
			runtime_given = true;
			break;
		case O_STATE:
			*state_dir = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case O_VERSION:
			printf("pvfsd %s (ring ABI %u)\n", PVFSD_VERSION, PVFS_ABI_VERSION);
			exit(0);
		case 'v':
			log_init("pvfsd", LOG_DEBUG);
			break;
		case O_TEST_HOOKS:
			/* Command line only: a config file never turns test hooks on. */
			cfg.test_hooks = true;
			break;
		default:
			r = config_set_option(opts, c, optarg);
			if (r == -ENOENT) {
				usage(stderr);
				return -EINVAL;
			}
			if (r < 0)
				return r;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "pvfsd: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (!*state_dir)
		*state_dir = runtime_given ? cfg.runtime_dir : "/var/lib/pvfsd";
	if (cfg.io_threads_auto) {
		long online = sysconf(_SC_NPROCESSORS_ONLN);

		cfg.io_threads = cfg.nr_cpus ? cfg.nr_cpus : (int)MAX(1, MIN(online, 64));
	}
	return 0;
}

static void check_drained(void)
{
	for (struct tenant *t = tenant_first(); t; t = t->next)
		if (t->state == TENANT_DRAINING)
			return;
	event_base_loopexit(base, NULL);
}

static void on_drained(struct tenant_io *tio)
{
	tenant_drained(tio);
	if (shutting_down)
		check_drained();
}

static void done_cb(evutil_socket_t fd, short what, void *arg)
{
	poller_reap_done(on_drained);
}

static void changed_cb(evutil_socket_t fd, short what, void *arg)
{
	tenant_volumes_changed();
}

static void begin_shutdown(void)
{
	if (shutting_down)
		return;
	shutting_down = true;
	log_info("shutting down: unplugging %u tenant(s) and draining their I/O", tenant_count());
	svc_stopping();
	ctl_stop_accepting();
	tenant_stop_plugging();
	for (struct tenant *t = tenant_first(); t; t = t->next)
		tenant_unplug(t);
	check_drained();
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	if (sig == SIGHUP) {
		log_info("SIGHUP: reloading %s", cfg.config_file ? cfg.config_file : "(no config)");
		config_reload();
		ctl_config_changed();
		return;
	}
	begin_shutdown();
}

/* publish_status - STATUS= for systemctl status, sent only when it changes. */
static void publish_status(void)
{
	static unsigned last_running = -1u, last_total = -1u;
	unsigned running = 0, total = 0;

	for (struct tenant *t = tenant_first(); t; t = t->next) {
		total++;
		if (t->state == TENANT_RUNNING)
			running++;
	}
	if (running == last_running && total == last_total)
		return;
	last_running = running;
	last_total = total;
	svc_status("%u tenant(s), %u plugged, %d poller(s)", total, running, poller_count());
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	stats_tick();
	placement_tick();
	publish_status();
}

/*
 * watchdog_cb - ping only if every poller made progress since the last
 * check. A sleeping poller wakes at least twice a second, so a stuck
 * heartbeat means a stuck thread, and systemd should restart us.
 */
static void watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	bool ok = true;

	for (int i = 0; i < poller_count(); i++) {
		uint64_t hb = stat_get(&poller_stats(i)->heartbeat);

		if (hb == last_heartbeat[i]) {
			log_err("poller %d made no progress; withholding the watchdog ping", i);
			ok = false;
		}
		last_heartbeat[i] = hb;
	}
	if (ok)
		svc_watchdog_ping();
	last_watchdog_ns = now_ns();
}

/*
 * wait_tick - the control thread waits for a remote server (tenant.c,
 * run_blocking): keep systemd's watchdog fed at its interval, and before
 * READY=1 (restoring the state file) keep extending the start timeout.
 */
static void wait_tick(void)
{
	if (!started) {
		svc_extend_start(5000000);
		return;
	}
	if (wd_us && now_ns() - last_watchdog_ns >= wd_us * 1000)
		watchdog_cb(-1, 0, NULL);
}

/*
 * raise_fd_limit - a plugged VM costs pvfsd its control connection, a
 * volume fd and two eventfds per queue: a thousand VMs need thousands of
 * fds, far more than the soft limit of 1024 that a shell gives. pvfsd polls
 * with epoll and io_uring, never select(), so the soft limit may go up to
 * the hard one (systemd sets both with LimitNOFILE in pvfsd.service).
 */
static void raise_fd_limit(void)
{
	/* Idle connections and pvfsd's own fds, then 4 per single-queue VM. */
	const rlim_t reserve = cfg.max_conns + 64;
	const rlim_t want = reserve + PVFSD_MAX_TENANTS * 4;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < want)
		log_warn("the fd limit (RLIMIT_NOFILE) is %llu: enough for about %llu plugged "
			 "single-queue VMs, not %d; raise LimitNOFILE in pvfsd.service (or "
			 "ulimit -Hn) to at least %llu", (unsigned long long)rl.rlim_cur,
			 (unsigned long long)(rl.rlim_cur > reserve ? (rl.rlim_cur - reserve) / 4 : 0),
			 PVFSD_MAX_TENANTS, (unsigned long long)want);
}

static int lock_runtime_dir(void)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/pvfsd.lock", cfg.runtime_dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		return -EADDRINUSE;
	}
	return fd;	/* held until exit */
}

int main(int argc, char **argv)
{
	const char *config_file = NULL, *state_dir = NULL;
	char state_file[PATH_MAX];
	struct event *ev_done, *ev_changed, *ev_sig[4], *ev_tick, *ev_wd = NULL;
	struct timeval one_sec = { 1, 0 };
	int r, lock_fd, sock, changed_fd;

	log_init("pvfsd", LOG_INFO);
	signal(SIGPIPE, SIG_IGN);
	if (parse_args(argc, argv, &config_file, &state_dir) < 0)
		return 2;
	raise_fd_limit();
	/*
	 * Every file pvfsd makes is DIR/NAME with NAME below DIR_NAME_MAX bytes
	 * (state.json.tmp, control.sock, ...): then PATH_MAX buffers hold them all.
	 */
	if (strlen(cfg.runtime_dir) > PATH_MAX - DIR_NAME_MAX ||
	    strlen(state_dir) > PATH_MAX - DIR_NAME_MAX) {
		log_err("runtime or state directory path longer than %d bytes",
			PATH_MAX - DIR_NAME_MAX);
		return 2;
	}
	if (mkdir(cfg.runtime_dir, 0755) < 0 && errno != EEXIST) {
		log_err("cannot create runtime directory %s: %m", cfg.runtime_dir);
		return 1;
	}
	lock_fd = lock_runtime_dir();
	if (lock_fd < 0) {
		log_err("%s: %s", cfg.runtime_dir, lock_fd == -EADDRINUSE ?
			"another pvfsd is running with this runtime directory" : strerror(-lock_fd));
		return 1;
	}
	if (mkdir(state_dir, 0700) < 0 && errno != EEXIST) {
		log_err("cannot create state directory %s: %m", state_dir);
		return 1;
	}
	snprintf(state_file, sizeof(state_file), "%s/state.json", state_dir);
	cfg.state_file = state_file;
	snprintf(socket_path, sizeof(socket_path), "%s/%s", cfg.runtime_dir, PVFS_CTL_SOCKET_NAME);

	r = poller_start_all(cfg.io_threads, cfg.sched_mode, cfg.inflight_cap);
	if (r < 0) {
		log_err("cannot start %d poller thread(s): %s%s", cfg.io_threads, strerror(-r),
			r == -EPERM || r == -ENOSYS ? " (is io_uring disabled? see "
			"/proc/sys/kernel/io_uring_disabled)" : "");
		return 1;
	}
	/* Before the restored volumes: a change from then on wakes the control thread. */
	changed_fd = tenant_changed_fd();
	if (changed_fd < 0) {
		log_err("cannot create an eventfd: %s", strerror(-changed_fd));
		return 1;
	}
	tenant_set_wait_tick(wait_tick);
	state_load();

	base = event_base_new();
	if (!base)
		return 1;
	sock = svc_control_socket();
	r = ctl_start(base, socket_path, sock);
	if (r < 0) {
		log_err("cannot listen on %s: %s", socket_path, strerror(-r));
		return 1;
	}
	r = metrics_start(base, cfg.metrics_listen);
	if (r < 0) {
		log_err("cannot serve metrics on %s: %s", cfg.metrics_listen, strerror(-r));
		return 1;
	}
	ev_done = event_new(base, poller_done_fd(), EV_READ | EV_PERSIST, done_cb, NULL);
	event_add(ev_done, NULL);
	ev_changed = event_new(base, changed_fd, EV_READ | EV_PERSIST, changed_cb, NULL);
	event_add(ev_changed, NULL);
	ev_sig[0] = evsignal_new(base, SIGTERM, signal_cb, NULL);
	ev_sig[1] = evsignal_new(base, SIGINT, signal_cb, NULL);
	ev_sig[2] = evsignal_new(base, SIGHUP, signal_cb, NULL);
	for (int i = 0; i < 3; i++)
		event_add(ev_sig[i], NULL);
	ev_tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
	event_add(ev_tick, &one_sec);
	wd_us = svc_watchdog_interval_us();
	if (wd_us) {
		struct timeval tv = { (time_t)(wd_us / 1000000), (suseconds_t)(wd_us % 1000000) };

		ev_wd = event_new(base, -1, EV_PERSIST, watchdog_cb, NULL);
		event_add(ev_wd, &tv);
	}

	log_info("ready: control socket %s, %d poller(s)%s, scheduler %s, %d volume dir(s)",
		 socket_path, cfg.io_threads, cfg.io_threads_auto ? " (auto)" : "", cfg.sched_mode == SCHED_MODE_FAIR ? "fair" : "fifo",
		 cfg.nr_volume_dirs);
	publish_status();
	/* Only now: the socket listens, so a client started after READY connects. */
	svc_ready();
	started = true;

	event_base_dispatch(base);

	/* Before the pollers stop: that frees the scheduling domains tenants point to. */
	tenant_free_all();
	poller_stop_all();
	metrics_stop();
	ctl_shutdown();
	if (sock < 0)
		unlink(socket_path);
	event_free(ev_done);
	event_free(ev_changed);
	for (int i = 0; i < 3; i++)
		event_free(ev_sig[i]);
	event_free(ev_tick);
	if (ev_wd)
		event_free(ev_wd);
	event_base_free(base);
	config_free();
	close(lock_fd);
	log_info("stopped");
	return 0;
}
