/* SPDX-License-Identifier: MIT */
/*
 * state.h - persistence of attached tenants and their QoS across pvfsd
 * restarts: a JSON file under the state directory, replaced atomically
 * (write a temporary file, fsync, rename, fsync the directory).
 */
#ifndef PVFSD_STATE_H
#define PVFSD_STATE_H

/* state_save - write every tenant's attach parameters; logs on failure. */
void state_save(void);
/* state_load - attach what the file lists; a tenant that fails is logged and skipped. */
int state_load(void);

#endif
