/* SPDX-License-Identifier: MIT */
/*
 * integ_metrics_limits - the metrics endpoint bounds what any local user can
 * make pvfsd spend (issue 8, item 6: an endless header line drove pvfsd's
 * main thread to 100% CPU and its RSS from 3.6 MB to 73 MB in 80 s). With
 * the limits documented in pvfsd(8) -- an 8 KiB request head, no request
 * body, 64 connections, 10 s per connection:
 *  - only GET and HEAD of /metrics are served: other paths get 404, other
 *    methods 405 with an Allow header, a request with a body 413;
 *  - an endless header line, endless header lines and a 100 MiB POST body
 *    are refused within a second, without pvfsd's RSS growing or its CPU
 *    time running with the flood;
 *  - connections beyond the limit are refused at once, idle and trickling
 *    (slowloris) ones are closed after the timeout, and meanwhile the
 *    control socket answers and a scrape gets an answer (503 while every
 *    slot is taken, 200 once they free);
 *  - a scrape of 1000 tenants (about 11 MB) is complete, and 16 scrapes
 *    that do not read do not cost pvfsd 16 copies of it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rpc.h"
#include "tlib.h"
#include "util.h"

/* pvfsd's documented limits (daemon/metrics.c, docs/man/pvfsd.8). */
#define MAX_CONNS	64
#define TIMEOUT_MS	10000
/* Slack on top of pvfsd's timeout for a loaded 2-core machine. */
#define SLACK_MS	4000
#define IDLE_CONNS	200
#define NR_TENANTS	1000

static struct sockaddr_in msa;

static uint64_t deadline_in(int ms)
{
	return now_ns() + (uint64_t)ms * 1000000ull;
}

static int ms_left(uint64_t deadline)
{
	uint64_t now = now_ns();

	return now >= deadline ? 0 : (int)((deadline - now) / 1000000ull) + 1;
}

static double secs_since(uint64_t t0)
{
	return (double)(now_ns() - t0) / 1e9;
}

/* metrics_addr - where pvfsd listens, from RUNTIME_DIR/metrics.addr. */
static void metrics_addr(struct tl_daemon *d)
{
	char path[400], line[128], *colon;
	FILE *f;

	snprintf(path, sizeof(path), "%s/metrics.addr", d->run);
	f = fopen(path, "re");
	if (!f || !fgets(line, sizeof(line), f))
		tl_fatal("no metrics address in %s", path);
	fclose(f);
	colon = strrchr(line, ':');
	if (!colon)
		tl_fatal("bad metrics address %s", line);
	*colon = '\0';
	msa.sin_family = AF_INET;
	msa.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, line, &msa.sin_addr) != 1)
		tl_fatal("bad metrics address %s", line);
}

/* mconnect - a connected non-blocking socket to the endpoint, or -1. */
static int mconnect(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	socklen_t len = sizeof(int);
	int err = 0;

	if (fd < 0)
		tl_fatal("socket: %m");
	if (connect(fd, (struct sockaddr *)&msa, sizeof(msa)) == 0)
		return fd;
	if (errno != EINPROGRESS || poll(&pfd, 1, 5000) != 1 ||
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * held_conns - connections pvfsd holds open on the metrics port: the
 * entries of /proc/net/tcp with that local port, not listening, and still
 * owned by a file (inode 0 once closed). Unlike pvfsd's fd count this is
 * blind to its other fds, such as sd_notify's passing socket.
 */
static int held_conns(void)
{
	FILE *f = fopen("/proc/net/tcp", "re");
	char line[512];
	int n = 0;

	if (!f)
		tl_fatal("/proc/net/tcp: %m");
	while (fgets(line, sizeof(line), f)) {
		unsigned port, state;
		unsigned long inode;

		if (sscanf(line, " %*u: %*x:%x %*x:%*x %x %*x:%*x %*x:%*x %*x %*u %*u %lu", &port,
			   &state, &inode) == 3)
			n += port == ntohs(msa.sin_port) && state != 0x0a && inode;
	}
	fclose(f);
	return n;
}

/* held_conns_settled - held_conns once it is at most want, or after 2 s. */
static int held_conns_settled(int want)
{
	uint64_t deadline = deadline_in(2000);
	int n;

	while ((n = held_conns()) > want && ms_left(deadline))
		usleep(10000);	/* pvfsd closes on the client's EOF, asynchronously */
	return n;
}

static int send_all(int fd, const char *p, size_t n, uint64_t deadline)
{
	while (n) {
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		ssize_t w;

		if (!ms_left(deadline))
			return -ETIMEDOUT;
		if (poll(&pfd, 1, ms_left(deadline)) < 1)
			continue;
		w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

struct reply {
	int status;			/* 0: no status line received */
	char *buf;			/* everything received, NUL-terminated */
	size_t len;
	const char *body;		/* after the blank line; NULL if the head is incomplete */
	size_t body_len;
	long long content_length;	/* -1: no Content-Length */
	bool closed;			/* pvfsd closed (EOF or reset) before the deadline */
};

/* header - the value of the response header name (copied into out), or NULL. */
static const char *header(const struct reply *r, const char *name, char *out, size_t outlen)
{
	size_t nl = strlen(name);

	for (const char *p = strstr(r->buf, "\r\n"); p && (!r->body || p < r->body);
	     p = strstr(p + 2, "\r\n")) {
		const char *v = p + 2, *end;

		if (strncasecmp(v, name, nl) || v[nl] != ':')
			continue;
		v += nl + 1;
		v += strspn(v, " \t");
		end = strstr(v, "\r\n");
		snprintf(out, outlen, "%.*s", (int)(end ? end - v : (long)strlen(v)), v);
		return out;
	}
	return NULL;
}

/* recv_reply - read until pvfsd closes, an error, or the deadline. */
static void recv_reply(int fd, struct reply *r, uint64_t deadline)
{
	size_t cap = 1 << 16;
	const char *eoh;
	char v[64];

	memset(r, 0, sizeof(*r));
	r->content_length = -1;
	r->buf = malloc(cap);
	if (!r->buf)
		tl_fatal("out of memory");
	while (ms_left(deadline)) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, ms_left(deadline)) < 1)
			continue;
		n = recv(fd, r->buf + r->len, cap - r->len - 1, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0) {
			r->closed = true;
			break;
		}
		r->len += (size_t)n;
		if (cap - r->len < 4096) {
			cap *= 2;
			r->buf = realloc(r->buf, cap);
			if (!r->buf)
				tl_fatal("out of memory");
		}
	}
	r->buf[r->len] = '\0';
	if (!strncmp(r->buf, "HTTP/1.", 7) && r->len >= 12)
		r->status = atoi(r->buf + 9);
	eoh = strstr(r->buf, "\r\n\r\n");
	if (eoh) {
		r->body = eoh + 4;
		r->body_len = r->len - (size_t)(r->body - r->buf);
	}
	if (header(r, "Content-Length", v, sizeof(v)))
		r->content_length = atoll(v);
}

/* exchange - one request on a new connection; the reply as far as it came. */
static void exchange(const char *req, int timeout_ms, struct reply *r)
{
	uint64_t deadline = deadline_in(timeout_ms);
	int fd = mconnect();

	if (fd < 0) {
		memset(r, 0, sizeof(*r));
		r->buf = strdup("");
		r->content_length = -1;
		return;
	}
	/* A refusal can come before the request is all sent: read it either way. */
	send_all(fd, req, strlen(req), deadline);
	recv_reply(fd, r, deadline);
	close(fd);
}

static void reply_free(struct reply *r)
{
	free(r->buf);
	r->buf = NULL;
}

static bool complete(const struct reply *r)
{
	return r->closed && r->body && r->content_length >= 0 &&
	       (size_t)r->content_length == r->body_len;
}

static void check_requests(void)
{
	static const char *const refused[] = { "POST", "PUT", "DELETE", "OPTIONS", "PATCH",
					       "TRACE" };
	static const char *const not_found[] = { "/", "/other", "/metrics/x", "/metricsx",
						 "/favicon.ico" };
	char req[512], v[128];
	struct reply r;

	exchange("GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", 5000, &r);
	TL_CHECK(r.status == 200 && complete(&r) &&
		 strstr(r.body, "# TYPE pvfsd_build_info gauge\n"),
		 "GET /metrics: 200 and the whole exposition (status %d, %zu of %lld bytes)",
		 r.status, r.body_len, r.content_length);
	TL_CHECK(header(&r, "Content-Type", v, sizeof(v)) &&
		 !strcmp(v, "text/plain; version=0.0.4; charset=utf-8"),
		 "Content-Type is the text format 0.0.4 (%s)", header(&r, "Content-Type", v,
								       sizeof(v)) ?: "none");
	reply_free(&r);

	exchange("HEAD /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", 5000, &r);
	TL_CHECK(r.status == 200 && r.closed && r.body && r.body_len == 0,
		 "HEAD /metrics: 200 without a body (status %d, %zu body bytes)", r.status,
		 r.body ? r.body_len : 0);
	reply_free(&r);

	exchange("GET /metrics?x=1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", 5000, &r);
	TL_CHECK(r.status == 200 && complete(&r), "GET /metrics?x=1 (Prometheus' params): 200 "
		 "(status %d)", r.status);
	reply_free(&r);

	/* scripts/demo asks like this. */
	exchange("GET /metrics HTTP/1.0\r\n\r\n", 5000, &r);
	TL_CHECK(r.status == 200 && complete(&r), "HTTP/1.0 without Host: 200, Content-Length "
		 "and the whole body (status %d, %zu of %lld bytes)", r.status, r.body_len,
		 r.content_length);
	reply_free(&r);

	for (size_t i = 0; i < ARRAY_SIZE(not_found); i++) {
		snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\n"
			 "Connection: close\r\n\r\n", not_found[i]);
		exchange(req, 5000, &r);
		TL_CHECK(r.status == 404 && r.closed, "GET %s: 404 (status %d)", not_found[i],
			 r.status);
		reply_free(&r);
	}
	for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
		snprintf(req, sizeof(req), "%s /metrics HTTP/1.1\r\nHost: t\r\n"
			 "Connection: close\r\n%s\r\n", refused[i], strcmp(refused[i], "TRACE") &&
			 strcmp(refused[i], "DELETE") && strcmp(refused[i], "OPTIONS") ?
			 "Content-Length: 0\r\n" : "");
		exchange(req, 5000, &r);
		TL_CHECK(r.status == 405 && r.closed && header(&r, "Allow", v, sizeof(v)) &&
			 strstr(v, "GET") && strstr(v, "HEAD"),
			 "%s /metrics: 405 with Allow: GET, HEAD (status %d, Allow: %s)",
			 refused[i], r.status, header(&r, "Allow", v, sizeof(v)) ?: "none");
		reply_free(&r);
	}
	exchange("hello\r\n\r\n", 5000, &r);
	TL_CHECK(r.status == 400 && r.closed, "a malformed request line: 400 (status %d)",
		 r.status);
	reply_free(&r);
	/* A body that would never be sent: refused at once, not waited for. */
	exchange("GET /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 1048576\r\n\r\n", 3000, &r);
	TL_CHECK(r.status == 413 && r.closed, "GET announcing a 1 MiB body: 413 at once "
		 "(status %d)", r.status);
	reply_free(&r);
	exchange("GET /metrics HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n", 3000,
		 &r);
	TL_CHECK(r.status == 413 && r.closed, "GET with a chunked body: 413 at once (status %d)",
		 r.status);
	reply_free(&r);
}

/*
 * flood - send head, then unit over and over for up to 3 s (or max bytes),
 * until pvfsd answers or closes the connection. Checks that it did within
 * 1 s with one of the statuses in want (0 ends the list), and that pvfsd's
 * peak RSS and CPU time did not follow the flood.
 */
static void flood(const char *what, const char *head, const char *unit, size_t max,
		  pid_t pid, const int *want)
{
	static char chunk[1 << 16];
	size_t ul = strlen(unit), cl = sizeof(chunk) / ul * ul, sent = 0;
	uint64_t t0, end, rss0 = tl_rss_kb(pid), rss_peak = rss0, cpu0 = tl_cpu_ns(pid), next_rss;
	struct reply r = { .buf = NULL };
	bool answered = false, status_ok = false;
	double secs;
	int fd;

	for (size_t i = 0; i < cl; i += ul)
		memcpy(chunk + i, unit, ul);
	fd = mconnect();
	if (fd < 0)
		tl_fatal("%s: connect: %m", what);
	t0 = now_ns();
	end = deadline_in(3000);
	next_rss = t0;
	if (send_all(fd, head, strlen(head), end) < 0)
		answered = true;
	while (!answered && ms_left(end) && sent < max) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN | POLLOUT };
		ssize_t w;

		if (now_ns() >= next_rss) {
			rss_peak = MAX(rss_peak, tl_rss_kb(pid));
			next_rss = now_ns() + 50000000ull;
		}
		if (poll(&pfd, 1, MIN(ms_left(end), 50)) < 1)
			continue;
		if (pfd.revents & (POLLIN | POLLERR | POLLHUP)) {
			answered = true;
			break;
		}
		w = send(fd, chunk, MIN(cl, max - sent), MSG_NOSIGNAL);
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			answered = true;
		else if (w > 0)
			sent += (size_t)w;
	}
	secs = secs_since(t0);
	rss_peak = MAX(rss_peak, tl_rss_kb(pid));
	/* What pvfsd said, if anything (a reset may have overtaken it). */
	recv_reply(fd, &r, deadline_in(2000));
	for (const int *s = want; *s; s++)
		status_ok |= r.status == *s;
	TL_CHECK(answered && secs < 1.0 && (status_ok || (r.closed && !r.status)),
		 "%s: pvfsd answers or closes within 1 s (%s after %.2f s and %zu bytes, "
		 "status %d)", what, answered ? "answered" : "no answer", secs, sent, r.status);
	TL_CHECK(status_ok, "%s: the answer is status %d (got %d)", what, want[0], r.status);
	if (tl_rss_meaningful())
		TL_CHECK(rss_peak - rss0 < 4096, "%s: pvfsd's RSS peaked %llu kB above its %llu kB",
			 what, (unsigned long long)(rss_peak - rss0), (unsigned long long)rss0);
	close(fd);
	TL_CHECK(tl_cpu_ns(pid) - cpu0 < 500000000ull, "%s: pvfsd used %.0f ms of CPU", what,
		 (double)(tl_cpu_ns(pid) - cpu0) / 1e6);
	reply_free(&r);
}

static void check_floods(pid_t pid)
{
	static const int too_large[] = { 431, 0 }, uri_too_long[] = { 414, 0 },
			 refused[] = { 405, 413, 0 };

	flood("an endless header line", "GET /metrics HTTP/1.1\r\nHost: t\r\nX-Long: ", "a",
	      SIZE_MAX, pid, too_large);
	flood("endless header lines", "GET /metrics HTTP/1.1\r\nHost: t\r\n", "X-Hdr: v\r\n",
	      SIZE_MAX, pid, too_large);
	flood("an endless request line", "GET /", "a", SIZE_MAX, pid, uri_too_long);
	flood("a 100 MiB POST body", "POST /metrics HTTP/1.1\r\nHost: t\r\n"
	      "Content-Length: 104857600\r\n\r\n", "0123456789abcdef", 100u << 20, pid, refused);
}

struct conn {
	int fd;
	uint64_t opened, closed;	/* closed: 0 while open */
	bool got_503;
};

/*
 * check_conn_limit - a slowloris connection trickling header lines, then
 * IDLE_CONNS connections that send nothing. pvfsd keeps at most MAX_CONNS,
 * refuses the rest at once (503), serves the control socket and answers a
 * scrape meanwhile, closes the held ones after its timeout, and then serves
 * scrapes again.
 */
static void check_conn_limit(struct tl_daemon *d)
{
	static const char slow[] = "GET /metrics HTTP/1.1\r\nHost: t\r\n";
	static struct conn c[1 + IDLE_CONNS];
	int held = held_conns_settled(0), refused = -1, s;
	uint64_t end, next_trickle, t_check;
	unsigned open_late = 0;
	double slow_secs;
	struct reply r;
	bool checked = false;

	TL_CHECK(held == 0, "the connections so far are closed in pvfsd (%d open)", held);
	c[0].fd = mconnect();
	c[0].opened = now_ns();
	if (c[0].fd < 0 || send_all(c[0].fd, slow, strlen(slow), deadline_in(1000)) < 0)
		tl_fatal("slowloris connection");
	for (int i = 1; i <= IDLE_CONNS; i++) {
		c[i].fd = mconnect();
		c[i].opened = now_ns();
		if (c[i].fd < 0)
			tl_fatal("idle connection %d: %m", i);
	}
	t_check = now_ns() + 2000000000ull;
	end = c[0].opened + (uint64_t)(TIMEOUT_MS + SLACK_MS) * 1000000ull;
	next_trickle = now_ns();
	for (;;) {
		struct pollfd pfd[1 + IDLE_CONNS];
		int idx[1 + IDLE_CONNS], n = 0, open = 0;

		for (int i = 0; i <= IDLE_CONNS; i++) {
			if (c[i].closed)
				continue;
			open++;
			pfd[n] = (struct pollfd){ .fd = c[i].fd, .events = POLLIN };
			idx[n++] = i;
		}
		if (!open || !ms_left(end))
			break;
		if (!checked && now_ns() >= t_check) {
			uint64_t t0;
			json_t *res = NULL, *err = NULL;

			checked = true;
			refused = 0;
			for (int i = 1; i <= IDLE_CONNS; i++)
				refused += c[i].closed && c[i].got_503;
			held = held_conns();
			t0 = now_ns();
			TL_CHECK(rpc_connect(d->sock, &s) == 0 &&
				 rpc_call(s, "version", NULL, NULL, 0, 2000, &res, &err) == 0 &&
				 secs_since(t0) < 2.0,
				 "with %d connections at the endpoint the control socket answers "
				 "`version` (%.2f s)", IDLE_CONNS + 1, secs_since(t0));
			close(s);
			json_decref(res);
			json_decref(err);
			t0 = now_ns();
			exchange("GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
				 2000, &r);
			TL_CHECK((r.status == 200 && complete(&r)) || (r.status == 503 && r.closed),
				 "... and a scrape is answered (status %d in %.2f s)", r.status,
				 secs_since(t0));
			reply_free(&r);
		}
		if (!c[0].closed && now_ns() >= next_trickle) {
			/* Always less than a second apart: no idle timeout ever fires. */
			if (send(c[0].fd, "X-Slow: 1\r\n", 11, MSG_NOSIGNAL) < 0 && errno != EAGAIN)
				c[0].closed = now_ns();
			next_trickle = now_ns() + 500000000ull;
		}
		if (poll(pfd, (nfds_t)n, MIN(ms_left(end), 100)) < 1)
			continue;
		for (int k = 0; k < n; k++) {
			struct conn *cc = &c[idx[k]];
			char buf[512];
			ssize_t got;

			if (!pfd[k].revents)
				continue;
			got = recv(cc->fd, buf, sizeof(buf) - 1, 0);
			if (got < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (got > 0) {
				buf[got] = '\0';
				cc->got_503 |= !strncmp(buf, "HTTP/1.1 503 ", 13);
				continue;
			}
			cc->closed = now_ns();
		}
	}
	for (int i = 1; i <= IDLE_CONNS; i++)
		open_late += !c[i].closed;
	slow_secs = c[0].closed ? (double)(c[0].closed - c[0].opened) / 1e9 : -1;
	for (int i = 0; i <= IDLE_CONNS; i++)
		close(c[i].fd);

	TL_CHECK(refused >= IDLE_CONNS + 1 - MAX_CONNS, "connections beyond %d are refused with "
		 "503 at once (%d of %d within 2 s)", MAX_CONNS, refused, IDLE_CONNS);
	TL_CHECK(held <= MAX_CONNS, "pvfsd holds at most %d of them (%d)", MAX_CONNS, held);
	TL_CHECK(slow_secs >= TIMEOUT_MS / 1000.0 - 1, "a slowloris connection trickling a "
		 "header line every 0.5 s is closed after the %d s timeout (after %.1f s)",
		 TIMEOUT_MS / 1000, slow_secs);
	TL_CHECK(open_late == 0, "idle connections are closed after the timeout (%u still open "
		 "after %.0f s)", open_late, (TIMEOUT_MS + SLACK_MS) / 1000.0);
	exchange("GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", 5000, &r);
	TL_CHECK(r.status == 200 && complete(&r), "then a scrape is served again (status %d)",
		 r.status);
	reply_free(&r);
	held = held_conns_settled(0);
	TL_CHECK(held == 0, "no connection stays open in pvfsd (%d open)", held);
}

/* check_large - a scrape of NR_TENANTS tenants, alone and 16 at once. */
static void check_large(void)
{
	struct tl_daemon d = { 0 };
	char path[600], req[] = "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
	struct reply r, rs[16];
	int fds[16], ready = 0, whole = 0;
	bool seen[16] = { false };
	uint64_t rss0, rss1, t0, end;
	FILE *f;

	snprintf(d.dir, sizeof(d.dir), "/tmp/pvfs-test.XXXXXX");
	if (!mkdtemp(d.dir))
		tl_fatal("mkdtemp: %m");
	snprintf(d.vols, sizeof(d.vols), "%s/vols", d.dir);
	snprintf(d.run, sizeof(d.run), "%s/run", d.dir);
	if (mkdir(d.vols, 0755) < 0 || mkdir(d.run, 0700) < 0)
		tl_fatal("mkdir: %m");
	/* Restored from the state file: 1000 attaches by RPC would each rewrite it. */
	snprintf(path, sizeof(path), "%s/state.json", d.run);
	f = fopen(path, "we");
	if (!f)
		tl_fatal("%s: %m", path);
	fprintf(f, "{\"version\": 1, \"tenants\": [");
	for (int i = 0; i < NR_TENANTS; i++) {
		char vol[32];

		snprintf(vol, sizeof(vol), "t%03d.img", i);
		tl_volume(&d, vol, 1 << 20);
		fprintf(f, "%s{\"name\": \"t%03d\", \"volume\": \"%s\", \"cache\": \"writeback\"}",
			i ? ", " : "", i, vol);
	}
	fprintf(f, "]}\n");
	fclose(f);
	tl_daemon_start(&d, "--metrics-listen", "127.0.0.1:0", NULL);
	metrics_addr(&d);

	t0 = now_ns();
	exchange(req, 20000, &r);
	TL_CHECK(r.status == 200 && complete(&r) && strstr(r.body, "{tenant=\"t999\"}"),
		 "a scrape of %d tenants is complete (status %d, %zu of %lld bytes in %.2f s)",
		 NR_TENANTS, r.status, r.body_len, r.content_length, secs_since(t0));
	reply_free(&r);

	/* 16 scrapes at once whose clients read nothing yet. */
	rss0 = tl_rss_kb(d.pid);
	end = deadline_in(10000);
	for (int i = 0; i < 16; i++) {
		fds[i] = mconnect();
		if (fds[i] < 0 || send_all(fds[i], req, strlen(req), end) < 0)
			tl_fatal("scrape %d: connect or send", i);
	}
	while (ready < 16 && ms_left(end)) {
		struct pollfd pfd[16];

		for (int i = 0; i < 16; i++)
			pfd[i] = (struct pollfd){ .fd = seen[i] ? -1 : fds[i], .events = POLLIN };
		if (poll(pfd, 16, ms_left(end)) < 1)
			continue;
		for (int i = 0; i < 16; i++)
			if (pfd[i].revents) {
				seen[i] = true;
				ready++;
			}
	}
	rss1 = tl_rss_kb(d.pid);
	for (int i = 0; i < 16; i++) {
		recv_reply(fds[i], &rs[i], deadline_in(5000));
		whole += rs[i].status == 200 && complete(&rs[i]);
		close(fds[i]);
	}
	TL_CHECK(ready == 16 && whole == 16, "16 concurrent scrapes of %d tenants: %d answered, "
		 "%d complete", NR_TENANTS, ready, whole);
	if (tl_rss_meaningful())
		TL_CHECK(rss1 - rss0 < 3 * rs[0].body_len / 1024,
			 "... pvfsd's RSS grew %llu kB for them, less than 3 renderings of %zu kB",
			 (unsigned long long)(rss1 - rss0), rs[0].body_len / 1024);
	for (int i = 0; i < 16; i++)
		reply_free(&rs[i]);
	TL_CHECK(tl_daemon_stop(&d) == 0, "pvfsd with %d tenants exits 0", NR_TENANTS);
	tl_daemon_cleanup(&d);
}

int main(void)
{
	struct tl_daemon d = { 0 };

	tl_daemon_start(&d, "--metrics-listen", "127.0.0.1:0", NULL);
	metrics_addr(&d);
	check_requests();
	check_floods(d.pid);
	check_conn_limit(&d);
	TL_CHECK(tl_daemon_stop(&d) == 0, "pvfsd exits 0");
	tl_daemon_cleanup(&d);
	check_large();
	return tl_done();
}
