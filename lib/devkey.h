/* SPDX-License-Identifier: MIT */
/*
 * devkey.h - the scheduling domain of a local volume (devkey.c): the disk
 * it is on, named the same way by pvfsd (which groups tenants by it) and
 * pvfsctl (which checks that a calibration probe runs on that disk).
 */
#ifndef PVFS_DEVKEY_H
#define PVFS_DEVKEY_H

#include <stddef.h>
#include <sys/types.h>

/*
 * dev_whole_disk - the disk that block device dev is a partition of (from
 * sysfs), or dev itself when it is not a partition or sysfs cannot tell.
 */
dev_t dev_whole_disk(dev_t dev);

/*
 * dev_domain_key - "dev:MAJOR:MINOR" of dev's whole disk, for a volume on
 * device dev (st_dev of a file, st_rdev of a block device): two partitions
 * of one disk share a domain.
 */
void dev_domain_key(dev_t dev, char *buf, size_t len);

#endif
