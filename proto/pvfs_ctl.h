/* SPDX-License-Identifier: MIT */
/*
 * pvfs_ctl.h - constants of the pvfsd control protocol: JSON-RPC 2.0 over a
 * Unix SOCK_SEQPACKET socket, one message per packet, file descriptors passed
 * with SCM_RIGHTS. proto/CONTROL.md documents every method; this header holds
 * the numbers both sides must agree on.
 */
#ifndef PVFS_CTL_H
#define PVFS_CTL_H

#define PVFS_CTL_DEFAULT_SOCKET	"/run/pvfsd/control.sock"
#define PVFS_CTL_SOCKET_ENV	"PVFS_SOCKET"
#define PVFS_CTL_SOCKET_NAME	"control.sock"

#define PVFS_CTL_MAX_MSG	65536	/* bytes in one packet; larger is rejected */
#define PVFS_CTL_MAX_FDS	64	/* fds in one packet; more is rejected */
#define PVFS_CTL_MAX_MEMREGIONS	8	/* guest memory table entries */
#define PVFS_CTL_MAX_NAME	63	/* tenant name: [A-Za-z0-9_.-], not starting with '.' */

/*
 * Error codes. JSON-RPC's own codes for malformed messages; otherwise the
 * negated errno that best names the condition. These values are stable.
 */
#define PVFS_RPC_PARSE_ERROR	 (-32700)	/* not JSON */
#define PVFS_RPC_INVALID_REQUEST (-32600)	/* JSON but not a JSON-RPC 2.0 request */
#define PVFS_RPC_NO_METHOD	 (-32601)	/* unknown method */
#define PVFS_RPC_INVALID_PARAMS	 (-32602)	/* missing, unknown or mistyped parameter */
#define PVFS_RPC_INTERNAL	 (-32603)

#endif
