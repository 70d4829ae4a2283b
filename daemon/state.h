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
/*
 * state_load - attach what the file lists. A tenant that fails is logged and
 * kept: state_save writes its entry back unchanged until it is restored or
 * attached anew under its name.
 */
int state_load(void);

#endif
