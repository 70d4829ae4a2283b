/* SPDX-License-Identifier: MIT */
/*
 * lifecycle.h - the host's side of a region's life cycle (lifecycle.c):
 * the reset handshake's ring reset, the terminal states, and the volume
 * properties under config_generation (pvfs_ring.h "Host states", "Reset",
 * "Volume properties"). Called by the poller that owns the tenant, or by
 * the control thread before the tenant is handed to one.
 */
#ifndef PVFSD_LIFECYCLE_H
#define PVFSD_LIFECYCLE_H

#include <stdbool.h>
#include <stdint.h>

struct tenant_io;

/*
 * lifecycle_plug_needs_reset - true if a host plugging tio's region must
 * start it empty: the guest asked for a reset nobody answered, or the last
 * host generation ended in a terminal state (the guest failed what was left).
 */
bool lifecycle_plug_needs_reset(const struct tenant_io *tio);
/*
 * lifecycle_reset_ring - steps 2 and 3 of the handshake, with nothing of
 * tio in flight: empty every queue at the guest's indices, free the
 * in-flight table, drop recovery work, then answer reset request req.
 */
void lifecycle_reset_ring(struct tenant_io *tio, uint32_t req);
/*
 * lifecycle_publish_volume - write the volume properties of tio (features,
 * capacity, block sizes, limits) into the region under config_generation.
 */
void lifecycle_publish_volume(struct tenant_io *tio, uint64_t features, uint32_t pbs);
/* lifecycle_set_capacity - a grown capacity, under config_generation. */
void lifecycle_set_capacity(struct tenant_io *tio, uint64_t capacity);

#endif
