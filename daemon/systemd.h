/* SPDX-License-Identifier: MIT */
/*
 * systemd.h - pvfsd's only contact with libsystemd (systemd.c): readiness,
 * status, watchdog and socket activation. Every call is a no-op outside
 * systemd (no NOTIFY_SOCKET / LISTEN_FDS).
 */
#ifndef PVFSD_SYSTEMD_H
#define PVFSD_SYSTEMD_H

#include <stdint.h>

void svc_ready(void);
void svc_stopping(void);
void svc_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void svc_watchdog_ping(void);
/* svc_extend_start - before READY=1: ask for usec more than the start timeout. */
void svc_extend_start(uint64_t usec);
/* svc_watchdog_interval_us - how often to ping (half the timeout), 0 if disabled. */
uint64_t svc_watchdog_interval_us(void);
/* svc_control_socket - the socket-activated control socket, or -1. */
int svc_control_socket(void);

#endif
