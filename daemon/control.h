/* SPDX-License-Identifier: MIT */
/* control.h - the control socket (control.c). Main thread only. */
#ifndef PVFSD_CONTROL_H
#define PVFSD_CONTROL_H

struct event_base;

/* ctl_start - listen on path, or on inherited_fd (socket activation) if >= 0. */
int ctl_start(struct event_base *base, const char *path, int inherited_fd);
/* ctl_config_changed - apply a reloaded admin group to the socket file. */
void ctl_config_changed(void);
/* ctl_stop_accepting - refuse new connections (shutdown has begun). */
void ctl_stop_accepting(void);
/* ctl_shutdown - close every connection and the socket. */
void ctl_shutdown(void);

#endif
