// SPDX-License-Identifier: MIT
/* devkey.c - see devkey.h. */
#include <limits.h>
#include <stdio.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "devkey.h"

dev_t dev_whole_disk(dev_t dev)
{
	char path[PATH_MAX];
	unsigned ma, mi;
	FILE *f;
	int n;

	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/partition", major(dev), minor(dev));
	if (access(path, F_OK) < 0)
		return dev;
	/* The partition's sysfs directory sits inside its disk's. */
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/../dev", major(dev), minor(dev));
	f = fopen(path, "re");
	if (!f)
		return dev;
	n = fscanf(f, "%u:%u", &ma, &mi);
	fclose(f);
	return n == 2 ? makedev(ma, mi) : dev;
}

void dev_domain_key(dev_t dev, char *buf, size_t len)
{
	dev_t whole = dev_whole_disk(dev);

	snprintf(buf, len, "dev:%u:%u", major(whole), minor(whole));
}
