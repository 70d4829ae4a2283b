/* SPDX-License-Identifier: MIT */
/* systemd.c - see systemd.h. The rest of pvfsd never includes sd-daemon.h. */
#include <stdarg.h>
#include <stdio.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>

#include "log.h"
#include "systemd.h"

void svc_ready(void)
{
	sd_notify(0, "READY=1");
}

void svc_stopping(void)
{
	sd_notify(0, "STOPPING=1");
}

void svc_status(const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	sd_notifyf(0, "STATUS=%s", buf);
}

void svc_watchdog_ping(void)
{
	sd_notify(0, "WATCHDOG=1");
}

void svc_extend_start(uint64_t usec)
{
	sd_notifyf(0, "EXTEND_TIMEOUT_USEC=%llu", (unsigned long long)usec);
}

uint64_t svc_watchdog_interval_us(void)
{
	uint64_t usec = 0;

	if (sd_watchdog_enabled(0, &usec) <= 0)
		return 0;
	return usec / 2;
}

int svc_control_socket(void)
{
	int n = sd_listen_fds(1);

	if (n <= 0)
		return -1;
	if (n > 1)
		log_warn("socket activation passed %d sockets; using the first", n);
	if (sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_SEQPACKET, 1, NULL, 0) <= 0) {
		log_err("the socket-activated fd is not a listening SOCK_SEQPACKET Unix socket");
		return -1;
	}
	return SD_LISTEN_FDS_START;
}
