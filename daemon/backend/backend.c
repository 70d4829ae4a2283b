/* SPDX-License-Identifier: MIT */
/*
 * backend.c - what every backend shares: telling the kinds apart by how a
 * volume is written, and closing one. Control thread.
 */
#include <string.h>

#include "backend.h"

const char *backend_kind(const char *volume)
{
	if (!strncmp(volume, "nbd://", 6) || !strncmp(volume, "nbd+unix://", 11) ||
	    !strncmp(volume, "nbds://", 7) || !strncmp(volume, "nbds+unix://", 12))
		return "nbd";
	if (!strncmp(volume, "rbd:", 4))
		return "rbd";
	return "file";
}

void backend_close(struct backend *b)
{
	if (b)
		b->ops->close(b);
}
