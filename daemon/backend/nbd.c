/* SPDX-License-Identifier: MIT */
/*
 * nbd.c - the NBD backend: a volume served by an NBD server (qemu-storage-
 * daemon, nbdkit, rbd-nbd, ...), spoken to with libnbd's asynchronous API.
 *
 * Threads. nbd_backend_open() runs on the control thread: it parses the URI,
 * resolves the address, and connects (bounded by nbd_timeout) to read the
 * export's size, block sizes and flags; with multi-conn it opens the other
 * connections too. Everything else runs on the tenant's poller: each
 * connection's socket is polled through the poller's io_uring (a read watch
 * while connected, a write watch when libnbd wants to send), and
 * nbd_aio_notify_read/write drive libnbd's state machine; no libnbd call on
 * the poller blocks (its sockets are non-blocking, reconnects use the address
 * resolved at open, no DNS). No thread of its own.
 *
 * A request. READ/WRITE go out as one NBD command per run of host-contiguous
 * iovecs (libnbd has no vectored I/O; the guest's pages are used in place,
 * no copy), all on one connection, picked round-robin among those connected.
 * FUA is the server's, or a FLUSH after the write where it has none. libnbd
 * calls our completion callback inside notify (we must not call libnbd from
 * it): the callback only counts and lists; the connection's service routine
 * then completes the request to the poller, or, when the connection died
 * under it, puts it back on the waiting list.
 *
 * A server that goes away. The connection is closed and re-opened with
 * backoff (0, 50 ms, doubling to 1 s) on a timerfd watch; requests wait on
 * the waiting list and go out again on the first connection back (block I/O
 * is idempotent). A request that waited nbd_timeout fails with -EIO, and
 * while no connection has been up for nbd_timeout, new requests fail with
 * -EIO at once; reconnecting goes on, and the tenant is served again as soon
 * as the server is back. Never BROKEN.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libnbd.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "pvfs_ring.h"
#include "util.h"

#define NBD_MAX_CONNS		16
#define NBD_DEFAULT_PORT	10809
#define BACKOFF_FIRST_NS	50000000ull	/* 50 ms */
#define BACKOFF_MAX_NS		1000000000ull	/* 1 s */
#define TICK_NS			20000000ull	/* 20 ms: the waiting list's clock */
#define MAX_EXPORT		4096

enum conn_state {
	CONN_DOWN,		/* no handle; reconnect at retry_at */
	CONN_CONNECTING,	/* a handle in the handshake */
	CONN_READY,		/* a handle that takes commands */
};

static const char *const conn_state_names[] = {
	[CONN_DOWN] = "down", [CONN_CONNECTING] = "connecting", [CONN_READY] = "connected",
};

struct nbd_conn {
	struct nbd_backend *nb;
	struct nbd_handle *h;
	enum conn_state state;
	struct backend_watch rd, wr;
	struct backend_io *done;	/* finished during notify, to be serviced */
	/*
	 * Requests out on this connection (priv.link_*), so that a dead
	 * connection's are sent again whatever libnbd did with their commands.
	 */
	struct backend_io *out;
	uint32_t inflight;
	bool closing;			/* nbd_close runs: late callbacks are ignored */
	uint64_t retry_at;		/* CONN_DOWN: next attempt */
	uint64_t backoff_ns;
	bool was_ready;			/* a later READY is a reconnect */
};

struct nbd_backend {
	struct backend b;
	char uri[4096];
	bool is_unix;
	char export[MAX_EXPORT];
	char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct sockaddr_storage addr;
	socklen_t addrlen;
	uint64_t timeout_ns;
	bool can_fua, can_flush, can_trim, can_zero;
	uint32_t nr_conns;
	uint32_t rr;
	struct nbd_conn conns[NBD_MAX_CONNS];
	/* Requests without a connection, oldest first. */
	struct backend_io *wait_head, **wait_tail;
	uint64_t down_since;		/* no connection ready since; 0 while one is */
	int timer_fd;
	bool timer_on;			/* the timerfd is set to tick */
	struct backend_watch timer;
	bool unbinding;
	bool cancelled;			/* forced detach: no more waiting */
	/* Statistics: written on the owning thread, read with relaxed loads. */
	uint64_t reconnects, errors, queued;
	uint32_t connected;
	uint32_t state;			/* enum conn_state of the best connection */
};

#define NB(b) container_of(b, struct nbd_backend, b)

static void service(struct nbd_conn *c);
static void conn_lost(struct nbd_conn *c);

/* ---- URI, confinement of what a URI may say ---- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* pct_decode - src[0..n) with %XX decoded into dst (size dstlen); -EINVAL if bad. */
static int pct_decode(const char *src, size_t n, char *dst, size_t dstlen)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)src[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= n)
				return -EINVAL;
			hi = hexval(src[i + 1]);
			lo = hexval(src[i + 2]);
			if (hi < 0 || lo < 0)
				return -EINVAL;
			c = hi * 16 + lo;
			i += 2;
		}
		if (!c || o + 1 >= dstlen)
			return -EINVAL;
		dst[o++] = (char)c;
	}
	dst[o] = '\0';
	return 0;
}

/*
 * parse_uri - nbd://HOST[:PORT][/EXPORT] or nbd+unix:///EXPORT?socket=PATH
 * (the NBD URI specification's forms without TLS). Fills the target and
 * the domain key; resolves HOST (control thread: getaddrinfo may block).
 */
static int parse_uri(struct nbd_backend *nb, const char *uri, bool resolve, char *err,
		     size_t errlen)
{
	const char *p, *auth, *auth_end, *path, *query;
	char host[256], port[16] = "10809";

	if (!strncmp(uri, "nbds", 4)) {
		snprintf(err, errlen, "volume %s: NBD over TLS (nbds://) is not supported; use "
			 "nbd:// on a trusted network or nbd+unix://", uri);
		return -EPROTONOSUPPORT;
	}
	if (!strncmp(uri, "nbd://", 6)) {
		auth = uri + 6;
	} else if (!strncmp(uri, "nbd+unix://", 11)) {
		auth = uri + 11;
		nb->is_unix = true;
	} else {
		snprintf(err, errlen, "volume %s: not an NBD URI (nbd://HOST[:PORT]/EXPORT or "
			 "nbd+unix:///EXPORT?socket=PATH)", uri);
		return -EINVAL;
	}
	auth_end = auth + strcspn(auth, "/?#");
	path = auth_end;
	query = strchr(path, '?');
	if (strchr(uri, '#') || memchr(auth, '@', (size_t)(auth_end - auth))) {
		snprintf(err, errlen, "volume %s: user names and fragments are not supported in "
			 "NBD URIs (no TLS: nothing secret belongs in a URI)", uri);
		return -EINVAL;
	}
	/* The export: the path without its leading '/', up to the query. */
	p = *path == '/' ? path + 1 : path;
	if (pct_decode(p, query ? (size_t)(query - p) : strlen(p), nb->export,
		       sizeof(nb->export)) < 0) {
		snprintf(err, errlen, "volume %s: bad export name", uri);
		return -EINVAL;
	}
	if (nb->is_unix) {
		const char *sock;

		if (auth_end != auth) {
			snprintf(err, errlen, "volume %s: nbd+unix:// takes no host (three slashes: "
				 "nbd+unix:///EXPORT?socket=PATH)", uri);
			return -EINVAL;
		}
		if (!query || strncmp(query, "?socket=", 8) || strchr(query + 8, '&')) {
			snprintf(err, errlen, "volume %s: nbd+unix:// needs exactly one parameter, "
				 "?socket=PATH", uri);
			return -EINVAL;
		}
		sock = query + 8;
		if (pct_decode(sock, strlen(sock), nb->sock_path, sizeof(nb->sock_path)) < 0 ||
		    nb->sock_path[0] != '/') {
			snprintf(err, errlen, "volume %s: the socket must be an absolute path of at "
				 "most %zu characters", uri, sizeof(nb->sock_path) - 1);
			return -EINVAL;
		}
		snprintf(nb->b.info.domain, sizeof(nb->b.info.domain), "nbd:unix:%.110s",
			 nb->sock_path);
		return 0;
	}
	if (query) {
		snprintf(err, errlen, "volume %s: nbd:// takes no parameters (TLS is not "
			 "supported)", uri);
		return -EINVAL;
	}
	/* HOST, [V6HOST], then :PORT */
	{
		const char *h = auth, *h_end, *colon;
		size_t hl;

		if (*h == '[') {
			h_end = memchr(h, ']', (size_t)(auth_end - h));
			if (!h_end) {
				snprintf(err, errlen, "volume %s: unterminated [IPv6 address]", uri);
				return -EINVAL;
			}
			h++;
			colon = h_end + 1 < auth_end && h_end[1] == ':' ? h_end + 1 : NULL;
		} else {
			colon = memchr(h, ':', (size_t)(auth_end - h));
			h_end = colon ? colon : auth_end;
		}
		hl = (size_t)(h_end - h);
		if (!hl || hl >= sizeof(host)) {
			snprintf(err, errlen, "volume %s: no host", uri);
			return -EINVAL;
		}
		memcpy(host, h, hl);
		host[hl] = '\0';
		if (colon) {
			size_t pl = (size_t)(auth_end - colon - 1);
			char *end;
			unsigned long v;

			if (!pl || pl >= sizeof(port)) {
				snprintf(err, errlen, "volume %s: bad port", uri);
				return -EINVAL;
			}
			memcpy(port, colon + 1, pl);
			port[pl] = '\0';
			v = strtoul(port, &end, 10);
			if (*end || !v || v > 65535) {
				snprintf(err, errlen, "volume %s: bad port %s", uri, port);
				return -EINVAL;
			}
		}
	}
	if (!resolve)
		return 0;
	{
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
		char num[256];
		int r = getaddrinfo(host, port, &hints, &ai);

		if (r) {
			snprintf(err, errlen, "volume %s: cannot resolve %s: %s", uri, host,
				 gai_strerror(r));
			return -EHOSTUNREACH;
		}
		memcpy(&nb->addr, ai->ai_addr, ai->ai_addrlen);
		nb->addrlen = ai->ai_addrlen;
		if (getnameinfo(ai->ai_addr, ai->ai_addrlen, num, sizeof(num), NULL, 0,
				NI_NUMERICHOST))
			snprintf(num, sizeof(num), "%s", host);
		freeaddrinfo(ai);
		/* By address: two names of one server are one scheduling domain. */
		snprintf(nb->b.info.domain, sizeof(nb->b.info.domain), "nbd:%.100s:%s", num, port);
	}
	return 0;
}

/* ---- connections ---- */

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * conn_start - a new handle, and the connection started without blocking:
 * the handshake goes on as the socket becomes ready (notify_read/write).
 */
static int conn_start(struct nbd_conn *c)
{
	struct nbd_backend *nb = c->nb;
	struct nbd_handle *h = nbd_create();
	int r;

	if (!h)
		return -ENOMEM;
	/* Reads land in guest memory as they are: no zeroing before each one. */
	if (nbd_set_pread_initialize(h, false) < 0 || nbd_set_export_name(h, nb->export) < 0 ||
	    nbd_set_request_structured_replies(h, true) < 0)
		goto fail;
	if (nb->is_unix)
		r = nbd_aio_connect_unix(h, nb->sock_path);
	else
		r = nbd_aio_connect(h, (const struct sockaddr *)&nb->addr, nb->addrlen);
	if (r < 0)
		goto fail;
	c->h = h;
	c->state = CONN_CONNECTING;
	return 0;
fail:
	r = nbd_get_errno();
	nbd_close(h);
	return -(r ? r : EIO);
}

static void update_stats(struct nbd_backend *nb)
{
	uint32_t n = 0, best = CONN_DOWN;

	for (uint32_t i = 0; i < nb->nr_conns; i++) {
		if (nb->conns[i].state == CONN_READY)
			n++;
		if (nb->conns[i].state > best)
			best = nb->conns[i].state;
	}
	__atomic_store_n(&nb->connected, n, __ATOMIC_RELAXED);
	__atomic_store_n(&nb->state, best, __ATOMIC_RELAXED);
}

/* ---- the control thread: open, wait for the handshake, close ---- */

/* conn_wait - drive a starting connection with poll() until ready or deadline. */
static int conn_wait(struct nbd_conn *c, uint64_t deadline)
{
	while (nbd_aio_is_connecting(c->h) || nbd_aio_is_negotiating(c->h) ||
	       nbd_aio_is_created(c->h)) {
		struct pollfd pfd = { .fd = nbd_aio_get_fd(c->h) };
		unsigned dir = nbd_aio_get_direction(c->h);
		uint64_t now = mono_ns();
		int r;

		if (now >= deadline)
			return -ETIMEDOUT;
		if (pfd.fd < 0)
			return -EIO;
		pfd.events = (short)(((dir & LIBNBD_AIO_DIRECTION_READ) ? POLLIN : 0) |
				     ((dir & LIBNBD_AIO_DIRECTION_WRITE) ? POLLOUT : 0));
		r = poll(&pfd, 1, (int)((deadline - now) / 1000000 + 1));
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r <= 0)
			continue;
		if ((pfd.revents & (POLLIN | POLLHUP | POLLERR)) && nbd_aio_notify_read(c->h) < 0)
			break;
		if ((pfd.revents & POLLOUT) && nbd_aio_notify_write(c->h) < 0)
			break;
	}
	if (nbd_aio_is_ready(c->h)) {
		c->state = CONN_READY;
		c->was_ready = true;
		return 0;
	}
	return -(nbd_get_errno() ? nbd_get_errno() : ECONNREFUSED);
}

static void nbd_close_backend(struct backend *b)
{
	struct nbd_backend *nb = NB(b);

	for (uint32_t i = 0; i < nb->nr_conns; i++)
		if (nb->conns[i].h)
			nbd_close(nb->conns[i].h);
	if (nb->timer_fd >= 0)
		close(nb->timer_fd);
	free(nb);
}

/* ---- the poller: watches and the service routine ---- */

static void arm(struct backend_watch *w, struct nbd_backend *nb)
{
	if (w->armed || nb->unbinding || !nb->b.host)
		return;
	if (nb->b.host->watch(nb->b.host, w) < 0)
		backend_want_pass(&nb->b);	/* io_uring full: again at the end of the pass */
}

/* timer_set - the tick on (and watched) while anything waits or reconnects, or off. */
static void timer_set(struct nbd_backend *nb, bool on)
{
	struct itimerspec its = { 0 };

	if (nb->timer_on != on) {
		if (on) {
			its.it_value.tv_nsec = TICK_NS;
			its.it_interval.tv_nsec = TICK_NS;
		}
		/* A timerfd is never blocking to set. */
		timerfd_settime(nb->timer_fd, 0, &its, NULL);
		nb->timer_on = on;
	}
	if (on)
		arm(&nb->timer, nb);
}

/* conn_arm - watch the socket the way libnbd wants it now. */
static void conn_arm(struct nbd_conn *c)
{
	unsigned dir;
	int fd;

	if (c->state == CONN_DOWN || !c->h)
		return;
	fd = nbd_aio_get_fd(c->h);
	if (fd < 0)
		return;
	dir = nbd_aio_get_direction(c->h);
	if (!c->rd.armed)
		c->rd.fd = fd;
	if (!c->wr.armed)
		c->wr.fd = fd;
	if (dir & LIBNBD_AIO_DIRECTION_READ)
		arm(&c->rd, c->nb);
	if (dir & LIBNBD_AIO_DIRECTION_WRITE)
		arm(&c->wr, c->nb);
}

static void finish(struct nbd_backend *nb, struct backend_io *io, int32_t res)
{
	__atomic_store_n(&nb->queued, nb->queued - 1, __ATOMIC_RELAXED);
	/* A cancel is about what was submitted before it (nbd_cancel). */
	if (!nb->queued)
		nb->cancelled = false;
	if (res < 0)
		__atomic_store_n(&nb->errors, nb->errors + 1, __ATOMIC_RELAXED);
	nb->b.host->complete(nb->b.host, io, res);
}

/* wait_push - io waits for a connection; all of it goes out again (a FUA write too). */
static void wait_push(struct nbd_backend *nb, struct backend_io *io, uint64_t now)
{
	io->priv.stage = 0;
	if (!io->priv.since)
		io->priv.since = now;
	io->priv.next = NULL;
	*nb->wait_tail = io;
	nb->wait_tail = &io->priv.next;
	timer_set(nb, true);
}

static void out_add(struct nbd_conn *c, struct backend_io *io)
{
	io->priv.owner = c;
	io->priv.link_prev = NULL;
	io->priv.link_next = c->out;
	if (c->out)
		c->out->priv.link_prev = io;
	c->out = io;
	c->inflight++;
}

static void out_del(struct nbd_conn *c, struct backend_io *io)
{
	if (io->priv.link_prev)
		io->priv.link_prev->priv.link_next = io->priv.link_next;
	else
		c->out = io->priv.link_next;
	if (io->priv.link_next)
		io->priv.link_next->priv.link_prev = io->priv.link_prev;
	io->priv.link_next = io->priv.link_prev = NULL;
	c->inflight--;
}

/* part_put - one command (or issue()'s guard) of io is done; list io when all are. */
static void part_put(struct nbd_conn *c, struct backend_io *io)
{
	if (--io->priv.parts == 0) {
		out_del(c, io);
		io->priv.next = c->done;
		c->done = io;
	}
}

/* part_done - libnbd's completion callback: no libnbd call here, only counting. */
static int part_done(void *user_data, int *error)
{
	struct backend_io *io = user_data;
	struct nbd_conn *c = io->priv.owner;

	if (c->closing)
		return 1;	/* conn_lost sends it again */
	if (*error && !io->priv.error)
		io->priv.error = *error;
	part_put(c, io);
	return 1;	/* retire the command */
}

/*
 * issue - send io's commands on c (stage 0: the request; stage 1: the FLUSH
 * that makes a write FUA on a server without FUA). parts counts the commands
 * libnbd took plus a guard, dropped at the end, so that a callback run
 * inside an nbd_aio_* call cannot finish io early. A command libnbd refuses
 * fails io with its errno; the service routine sorts out what that means.
 */
static void issue(struct nbd_conn *c, struct backend_io *io)
{
	struct nbd_backend *nb = c->nb;
	nbd_completion_callback cb = { .callback = part_done, .user_data = io };
	int64_t r = 0;

	io->priv.error = 0;
	io->priv.parts = 1;
	out_add(c, io);
	if (io->priv.stage == 0 && (io->op == PVFS_OP_READ || io->op == PVFS_OP_WRITE)) {
		uint32_t flags = io->op == PVFS_OP_WRITE && io->fua && nb->can_fua ?
				 LIBNBD_CMD_FLAG_FUA : 0;
		uint64_t off = io->offset;

		/* One command per run of host-contiguous iovecs. */
		for (uint32_t i = 0; i < io->nr_iov && r >= 0;) {
			char *base = io->iov[i].iov_base;
			size_t len = io->iov[i].iov_len;

			for (i++; i < io->nr_iov && base + len == io->iov[i].iov_base; i++)
				len += io->iov[i].iov_len;
			io->priv.parts++;
			if (io->op == PVFS_OP_READ)
				r = nbd_aio_pread(c->h, base, len, off, cb, 0);
			else
				r = nbd_aio_pwrite(c->h, base, len, off, cb, flags);
			if (r < 0)
				io->priv.parts--;
			off += len;
		}
	} else if (io->op != PVFS_OP_FLUSH || nb->can_flush || io->priv.stage == 1) {
		/* Counted first: the callback may run inside the call. */
		io->priv.parts++;
		if (io->priv.stage == 1 || io->op == PVFS_OP_FLUSH)
			r = nbd_aio_flush(c->h, cb, 0);
		else if (io->op == PVFS_OP_DISCARD)
			r = nbd_aio_trim(c->h, io->len, io->offset, cb, 0);
		else
			r = nbd_aio_zero(c->h, io->len, io->offset, cb, 0);
		if (r < 0)
			io->priv.parts--;
	}
	/* (A FLUSH to a server without a cache has nothing to do: only the guard.) */
	if (r < 0 && !io->priv.error) {
		int e = nbd_get_errno();

		io->priv.error = e ? e : ENOTCONN;
	}
	part_put(c, io);	/* the guard */
	backend_want_pass(&nb->b);
}

static struct nbd_conn *pick(struct nbd_backend *nb)
{
	for (uint32_t n = 0; n < nb->nr_conns; n++) {
		struct nbd_conn *c = &nb->conns[(nb->rr + n) % nb->nr_conns];

		if (c->state == CONN_READY) {
			nb->rr = (nb->rr + n + 1) % nb->nr_conns;
			return c;
		}
	}
	return NULL;
}

/* lost_error - an errno that says the connection, not the server, failed the command. */
static bool lost_error(int e)
{
	return e == ENOTCONN || e == ESHUTDOWN || e == ECONNRESET || e == EPIPE ||
	       e == ECONNABORTED || e == ETIMEDOUT;
}

/* reap_done - what finished on c: complete it, send its FLUSH, or let it wait. */
static void reap_done(struct nbd_conn *c, bool dead, uint64_t now)
{
	struct nbd_backend *nb = c->nb;

	while (c->done) {
		struct backend_io *io = c->done;

		c->done = io->priv.next;
		if (io->priv.error && (dead || lost_error(io->priv.error)) && !nb->cancelled) {
			wait_push(nb, io, now);
		} else if (io->priv.error) {
			finish(nb, io, nb->cancelled && dead ? -ECANCELED : -io->priv.error);
		} else if (io->op == PVFS_OP_WRITE && io->fua && !nb->can_fua && nb->can_flush &&
			   io->priv.stage == 0) {
			io->priv.stage = 1;
			issue(c, io);
		} else {
			finish(nb, io, io->op == PVFS_OP_READ || io->op == PVFS_OP_WRITE ?
				       (int32_t)io->len : 0);
		}
	}
}

/* drain_waiting - send what waits on connections that are back. */
static void drain_waiting(struct nbd_backend *nb)
{
	struct nbd_conn *c;

	while (nb->wait_head && (c = pick(nb))) {
		struct backend_io *io = nb->wait_head;

		nb->wait_head = io->priv.next;
		if (!nb->wait_head)
			nb->wait_tail = &nb->wait_head;
		issue(c, io);
	}
}

/*
 * expire_waiting - fail what is older than nbd_timeout (everything after a
 * forced detach). Requests put back by a dead connection join the end of the
 * list with their first submission time, so the whole list is looked at.
 */
static void expire_waiting(struct nbd_backend *nb, uint64_t now)
{
	struct backend_io **pp = &nb->wait_head;

	nb->wait_tail = &nb->wait_head;
	while (*pp) {
		struct backend_io *io = *pp;

		if (!nb->cancelled && now - io->priv.since < nb->timeout_ns) {
			nb->wait_tail = &io->priv.next;
			pp = &io->priv.next;
			continue;
		}
		*pp = io->priv.next;
		finish(nb, io, nb->cancelled ? -ECANCELED : -EIO);
	}
}

/*
 * service - after libnbd ran (notify, submit): sort out what finished, notice
 * a dead connection, and watch the socket the way libnbd now wants.
 */
static void service(struct nbd_conn *c)
{
	struct nbd_backend *nb = c->nb;
	uint64_t now = mono_ns();
	bool dead = c->h && (nbd_aio_is_dead(c->h) || nbd_aio_is_closed(c->h));

	if (c->state == CONN_CONNECTING && !dead && nbd_aio_is_ready(c->h)) {
		c->state = CONN_READY;
		c->backoff_ns = 0;
		if (c->was_ready)
			__atomic_store_n(&nb->reconnects, nb->reconnects + 1, __ATOMIC_RELAXED);
		c->was_ready = true;
		nb->down_since = 0;
		update_stats(nb);
	}
	reap_done(c, dead, now);
	if (dead) {
		conn_lost(c);
		return;
	}
	if (c->state == CONN_READY)
		drain_waiting(nb);
	conn_arm(c);
}

/*
 * conn_lost - the connection died (or its handshake failed): close it and
 * schedule a reconnect. libnbd failed every command that was out on it
 * (reap_done put them back on the waiting list) when it went dead.
 */
static void conn_lost(struct nbd_conn *c)
{
	struct nbd_backend *nb = c->nb;
	uint64_t now = mono_ns();

	if (c->h) {
		/* Our watches hold the socket's file in io_uring; cancel, then close. */
		nb->b.host->unwatch(nb->b.host, &c->rd);
		nb->b.host->unwatch(nb->b.host, &c->wr);
		c->closing = true;
		nbd_close(c->h);
		c->closing = false;
		c->h = NULL;
	}
	/* What libnbd did not fail before it died waits for the next connection. */
	while (c->out) {
		struct backend_io *io = c->out;

		out_del(c, io);
		wait_push(nb, io, now);
	}
	c->done = NULL;
	c->state = CONN_DOWN;
	c->retry_at = now + c->backoff_ns;
	c->backoff_ns = c->backoff_ns ? MIN(c->backoff_ns * 2, BACKOFF_MAX_NS) : BACKOFF_FIRST_NS;
	update_stats(nb);
	if (!nb->connected && !nb->down_since)
		nb->down_since = now;
	timer_set(nb, true);
}

/*
 * readable - the socket has something to read (or an end, or an error) now.
 * io_uring's poll completes with the events of the wake-up that fired it,
 * not with a fresh look: a sender that queued data and woke us late (after
 * an earlier notify had read that data already) leaves POLLIN with nothing
 * to read. libnbd takes a read notification as a promise: told so in READY,
 * it waits in REPLY.START for a reply and does not send the commands queued
 * meanwhile; with no reply due (a connection gone idle, e.g. at a move's
 * quiescent point) nothing ever comes and those commands hang.
 */
static bool readable(int fd)
{
	char byte;

	return recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) >= 0 ||
	       (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static void on_read(struct backend_watch *w, int res)
{
	struct nbd_conn *c = container_of(w, struct nbd_conn, rd);

	if (c->state == CONN_DOWN || !c->h || res == -ECANCELED)
		return;
	if (res > 0 && !(res & (POLLERR | POLLHUP)) && !readable(nbd_aio_get_fd(c->h))) {
		/* A stale wake-up: watch again, tell libnbd nothing. */
		conn_arm(c);
		return;
	}
	nbd_aio_notify_read(c->h);
	service(c);
}

static void on_write(struct backend_watch *w, int res)
{
	struct nbd_conn *c = container_of(w, struct nbd_conn, wr);

	if (c->state == CONN_DOWN || !c->h || res == -ECANCELED)
		return;
	nbd_aio_notify_write(c->h);
	service(c);
}

/*
 * stalled - a request has been out on c for nbd_timeout: the server (or the
 * way to it) stopped answering without closing the connection.
 */
static bool stalled(const struct nbd_conn *c, uint64_t now)
{
	for (const struct backend_io *io = c->out; io; io = io->priv.link_next)
		if (now - io->priv.since >= c->nb->timeout_ns)
			return true;
	return false;
}

/* on_tick - the timer: reconnect what is due, expire what waited too long. */
static void on_tick(struct backend_watch *w, int res)
{
	struct nbd_backend *nb = container_of(w, struct nbd_backend, timer);
	uint64_t now = mono_ns(), ticks;
	bool busy = nb->wait_head != NULL;

	if (read(nb->timer_fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		ticks = 0;
	if (nb->unbinding)
		return;
	for (uint32_t i = 0; i < nb->nr_conns; i++) {
		struct nbd_conn *c = &nb->conns[i];

		if (c->state != CONN_READY || c->out)
			busy = true;
		/*
		 * A server that stopped answering (a host gone without a reset, a
		 * hung server): a request out for nbd_timeout ends the connection;
		 * what was out on it then fails below, having waited its time.
		 */
		if (c->state == CONN_READY && stalled(c, now)) {
			conn_lost(c);
			continue;
		}
		/* Reconnect once the old socket's watches are out of io_uring. */
		if (c->state == CONN_DOWN && now >= c->retry_at && !c->rd.armed && !c->wr.armed) {
			if (conn_start(c) < 0) {
				conn_lost(c);
				continue;
			}
			service(c);
		}
	}
	expire_waiting(nb, now);
	if (!busy)
		timer_set(nb, false);
	else
		arm(&nb->timer, nb);
}

/* ---- backend_ops on the poller ---- */

static int nbd_submit(struct backend *b, struct backend_io *io)
{
	struct nbd_backend *nb = NB(b);
	uint64_t now = mono_ns();
	struct nbd_conn *c;

	if (io->op == PVFS_OP_DISCARD && !nb->can_trim)
		return -EOPNOTSUPP;
	if (io->op == PVFS_OP_WRITE_ZEROES && !nb->can_zero)
		return -EOPNOTSUPP;
	io->priv.stage = 0;
	/* nbd_timeout counts from here, whatever happens to the connections. */
	io->priv.since = now;
	c = pick(nb);
	if (!c) {
		/* Down longer than the timeout: fail at once, until the server is back. */
		if (nb->down_since && now - nb->down_since >= nb->timeout_ns) {
			__atomic_store_n(&nb->errors, nb->errors + 1, __ATOMIC_RELAXED);
			return -EIO;
		}
		__atomic_store_n(&nb->queued, nb->queued + 1, __ATOMIC_RELAXED);
		wait_push(nb, io, now);
		arm(&nb->timer, nb);
		return 0;
	}
	__atomic_store_n(&nb->queued, nb->queued + 1, __ATOMIC_RELAXED);
	issue(c, io);
	/* The clock that catches a server that stopped answering. */
	if (!nb->timer_on)
		timer_set(nb, true);
	return 0;
}

/* nbd_pass - after the poller's dispatch: service the connections we sent on. */
static void nbd_pass(struct backend *b)
{
	struct nbd_backend *nb = NB(b);

	for (uint32_t i = 0; i < nb->nr_conns; i++)
		if (nb->conns[i].h)
			service(&nb->conns[i]);
	if (nb->timer_on)
		arm(&nb->timer, nb);
}

static int nbd_bind(struct backend *b, struct backend_host *h)
{
	struct nbd_backend *nb = NB(b);

	b->host = h;
	nb->unbinding = false;
	nb->cancelled = false;
	/*
	 * Unbound, nobody tried to reconnect: requests get their full
	 * nbd_timeout from now, while the first attempts run.
	 */
	if (nb->down_since)
		nb->down_since = mono_ns();
	for (uint32_t i = 0; i < nb->nr_conns; i++) {
		struct nbd_conn *c = &nb->conns[i];

		if (c->state != CONN_READY)
			timer_set(nb, true);
		conn_arm(c);
	}
	if (nb->timer_on)
		arm(&nb->timer, nb);
	return 0;
}

static void nbd_cancel(struct backend *b)
{
	struct nbd_backend *nb = NB(b);

	/*
	 * Requests out on a live connection still complete; the waiting ones
	 * fail now, and so do those a dead connection hands back until all of
	 * them are finished (finish() ends it). Not for longer: a guest's reset
	 * cancels too (poller.c start_reset), and its next requests must still
	 * wait for a server that restarts, not fail.
	 */
	nb->cancelled = nb->queued > 0;
	expire_waiting(nb, mono_ns());
}

static bool nbd_unbind(struct backend *b)
{
	struct nbd_backend *nb = NB(b);

	nb->unbinding = true;
	for (uint32_t i = 0; i < nb->nr_conns; i++) {
		b->host->unwatch(b->host, &nb->conns[i].rd);
		b->host->unwatch(b->host, &nb->conns[i].wr);
	}
	b->host->unwatch(b->host, &nb->timer);
	if (b->watches)
		return false;
	b->host = NULL;
	return true;
}

static void nbd_stats(const struct backend *b, struct backend_stats *st)
{
	const struct nbd_backend *nb = NB(b);
	uint32_t state = __atomic_load_n(&nb->state, __ATOMIC_RELAXED);

	st->state = state == CONN_DOWN ? "reconnecting" : conn_state_names[state];
	st->connections = __atomic_load_n(&nb->connected, __ATOMIC_RELAXED);
	st->reconnects = __atomic_load_n(&nb->reconnects, __ATOMIC_RELAXED);
	st->errors = __atomic_load_n(&nb->errors, __ATOMIC_RELAXED);
	st->queue_depth = __atomic_load_n(&nb->queued, __ATOMIC_RELAXED);
}

static const struct backend_ops nbd_ops = {
	.kind = "nbd",
	.close = nbd_close_backend,
	.stats = nbd_stats,
	.bind = nbd_bind,
	.submit = nbd_submit,
	.cancel = nbd_cancel,
	.unbind = nbd_unbind,
	.pass = nbd_pass,
};

/* ---- open ---- */

static uint32_t pow2_at_least(uint64_t v, uint32_t lo, uint32_t hi)
{
	uint32_t p = lo;

	while (p < v && p < hi)
		p <<= 1;
	return p;
}

/*
 * open_offline - the server is down, but the volume's geometry is known (a
 * restored tenant): open with no connection; the poller connects once bound.
 * The geometry is checked as if a server had sent it.
 */
static int open_offline(struct nbd_backend *nb, const struct nbd_params *np)
{
	const struct backend_info *k = np->known;
	struct nbd_conn *c0 = &nb->conns[0];

	if (k->lbs < 512 || k->lbs > 4096 || (k->lbs & (k->lbs - 1)) || k->pbs < k->lbs ||
	    k->pbs > 65536 || (k->pbs & (k->pbs - 1)) || !k->capacity ||
	    (k->capacity & (k->lbs - 1)))
		return -EINVAL;
	if (c0->h)
		nbd_close(c0->h);
	c0->h = NULL;
	c0->state = CONN_DOWN;
	nb->nr_conns = 1;
	nb->b.info.capacity = k->capacity;
	nb->b.info.lbs = k->lbs;
	nb->b.info.pbs = k->pbs;
	nb->b.info.features = (k->features & (BACKEND_F_FLUSH | BACKEND_F_FUA | BACKEND_F_DISCARD |
					      BACKEND_F_WRITE_ZEROES)) |
			      (np->readonly ? BACKEND_F_RO : 0);
	nb->can_flush = nb->b.info.features & BACKEND_F_FLUSH;
	nb->can_fua = nb->b.info.features & BACKEND_F_FUA;
	nb->can_trim = nb->b.info.features & BACKEND_F_DISCARD;
	nb->can_zero = nb->b.info.features & BACKEND_F_WRITE_ZEROES;
	nb->down_since = mono_ns();
	update_stats(nb);
	return 0;
}

int nbd_uri_check(const char *uri, char *err, size_t errlen)
{
	struct nbd_backend *nb = calloc(1, sizeof(*nb));
	int r;

	if (!nb) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r = parse_uri(nb, uri, false, err, errlen);
	free(nb);
	return r;
}

int nbd_backend_open(const char *uri, const struct nbd_params *np, struct backend **ret,
		     char *err, size_t errlen)
{
	struct nbd_backend *nb;
	struct nbd_conn *c0;
	uint64_t deadline;
	int64_t size, bs;
	int r;

	if (strlen(uri) >= sizeof(nb->uri)) {
		snprintf(err, errlen, "volume URI too long (at most %zu characters)",
			 sizeof(nb->uri) - 1);
		return -ENAMETOOLONG;
	}
	nb = calloc(1, sizeof(*nb));
	if (!nb) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	nb->b.ops = &nbd_ops;
	nb->timer_fd = -1;
	snprintf(nb->uri, sizeof(nb->uri), "%s", uri);
	nb->wait_tail = &nb->wait_head;
	nb->timeout_ns = np->timeout_ms * 1000000ull;
	r = parse_uri(nb, uri, true, err, errlen);
	if (r < 0)
		goto out_free;
	nb->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (nb->timer_fd < 0) {
		r = -errno;
		snprintf(err, errlen, "timerfd: %m");
		goto out_free;
	}
	nb->timer = (struct backend_watch){ .b = &nb->b, .fd = nb->timer_fd, .events = POLLIN,
					    .fn = on_tick };
	for (uint32_t i = 0; i < NBD_MAX_CONNS; i++) {
		struct nbd_conn *c = &nb->conns[i];

		c->nb = nb;
		c->rd = (struct backend_watch){ .b = &nb->b, .fd = -1, .events = POLLIN,
						.fn = on_read };
		c->wr = (struct backend_watch){ .b = &nb->b, .fd = -1, .events = POLLOUT,
						.fn = on_write };
	}

	deadline = mono_ns() + nb->timeout_ns;
	c0 = &nb->conns[0];
	nb->nr_conns = 1;
	r = conn_start(c0);
	if (r == 0)
		r = conn_wait(c0, deadline);
	if (r < 0) {
		snprintf(err, errlen, "volume %s: cannot connect to the NBD server: %s%s%s", uri,
			 strerror(-r), nbd_get_error() ? ": " : "",
			 nbd_get_error() ? nbd_get_error() : "");
		if (np->known && open_offline(nb, np) == 0) {
			*ret = &nb->b;
			return 1;
		}
		goto out_free;
	}
	size = nbd_get_size(c0->h);
	if (size <= 0) {
		snprintf(err, errlen, "volume %s: the export is empty or its size unknown", uri);
		r = -EINVAL;
		goto out_free;
	}
	nb->can_flush = nbd_can_flush(c0->h) > 0;
	nb->can_fua = nbd_can_fua(c0->h) > 0;
	nb->can_trim = nbd_can_trim(c0->h) > 0;
	nb->can_zero = nbd_can_zero(c0->h) > 0;
	if (!np->readonly && nbd_is_read_only(c0->h) > 0) {
		snprintf(err, errlen, "volume %s: the export is read-only; attach with --read-only",
			 uri);
		r = -EROFS;
		goto out_free;
	}
	bs = nbd_get_block_size(c0->h, LIBNBD_SIZE_MINIMUM);
	nb->b.info.lbs = pow2_at_least(bs > 0 ? (uint64_t)bs : 1, 512, 4096);
	bs = nbd_get_block_size(c0->h, LIBNBD_SIZE_PREFERRED);
	nb->b.info.pbs = pow2_at_least(bs > 0 ? (uint64_t)bs : 4096, nb->b.info.lbs, 65536);
	bs = nbd_get_block_size(c0->h, LIBNBD_SIZE_MAXIMUM);
	nb->b.info.max_io_bytes = bs > 0 && bs < (int64_t)UINT32_MAX ? (uint32_t)bs : 0;
	nb->b.info.capacity = (uint64_t)size & ~(uint64_t)(nb->b.info.lbs - 1);
	if (!nb->b.info.capacity) {
		snprintf(err, errlen, "volume %s: the export is smaller than a block", uri);
		r = -EINVAL;
		goto out_free;
	}
	nb->b.info.features = (nb->can_flush ? BACKEND_F_FLUSH : 0) |
			      (nb->can_fua ? BACKEND_F_FUA : 0) |
			      (nb->can_trim ? BACKEND_F_DISCARD : 0) |
			      (nb->can_zero ? BACKEND_F_WRITE_ZEROES : 0) |
			      (np->readonly ? BACKEND_F_RO : 0);
	nb->b.info.direct = false;
	/* More connections only where the server says they see each other's writes. */
	if (nbd_can_multi_conn(c0->h) > 0 && np->connections > 1) {
		uint32_t want = MIN(np->connections, NBD_MAX_CONNS);

		for (uint32_t i = 1; i < want; i++) {
			struct nbd_conn *c = &nb->conns[i];

			if (conn_start(c) < 0 || conn_wait(c, deadline) < 0) {
				if (c->h)
					nbd_close(c->h);
				c->h = NULL;
				c->state = CONN_DOWN;
				break;
			}
			nb->nr_conns++;
		}
	}
	update_stats(nb);
	*ret = &nb->b;
	return 0;

out_free:
	nbd_close_backend(&nb->b);
	return r;
}
