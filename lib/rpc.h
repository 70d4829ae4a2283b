/* SPDX-License-Identifier: MIT */
/*
 * rpc.h - JSON-RPC 2.0 messages over a Unix SOCK_SEQPACKET socket, with file
 * descriptors attached by SCM_RIGHTS. Used by pvfsd's control plane, pvfsctl
 * and libpvfs-shim. One packet carries exactly one message; the limits are in
 * proto/pvfs_ctl.h. All functions return 0 or a negative errno and do not log.
 */
#ifndef PVFS_RPC_H
#define PVFS_RPC_H

#include <stddef.h>
#include <sys/types.h>
#include <jansson.h>

/* rpc_send - send msg (not consumed) with nfds descriptors attached. */
int rpc_send(int sock, json_t *msg, const int *fds, size_t nfds);

/*
 * rpc_send_raw - send len bytes as one packet (one sendmsg) with nfds (at
 * most PVFS_CTL_MAX_FDS) descriptors attached as SCM_RIGHTS. Returns the
 * bytes sent or -errno. Also for other protocols on Unix sockets (the
 * ivshmem server's) and for tests that send malformed packets.
 */
ssize_t rpc_send_raw(int sock, const void *buf, size_t len, const int *fds, size_t nfds);

/*
 * rpc_recv_raw - receive one packet into buf (PVFS_CTL_MAX_MSG + 1 bytes) and
 * up to max_fds descriptors. Returns the byte count (0 = peer closed, or an
 * empty packet, which reads as end of file) or -EMSGSIZE (packet too large),
 * -ETOOMANYREFS (too many fds), or another -errno. Unless it returns a
 * positive count, every fd that came with the packet is closed and
 * *ret_nfds is 0. Received fds are O_CLOEXEC.
 */
ssize_t rpc_recv_raw(int sock, char *buf, size_t bufsz, int *fds, size_t max_fds,
		     size_t *ret_nfds);

/* rpc_connect - connect to the control socket at path. */
int rpc_connect(const char *path, int *ret_sock);

/* rpc_socket_path - -s argument, else $PVFS_SOCKET, else the default. */
const char *rpc_socket_path(const char *arg);

/*
 * rpc_call - send a request and wait up to timeout_ms for its response.
 * params is consumed. On a JSON-RPC error response returns -EREMOTEIO and
 * sets *ret_error (the "error" object, new reference); on success sets
 * *ret_result (new reference). An error response with a null id (the peer
 * could not read the request, or refused the connection and closed it) is
 * this call's error too. Received fds (at most max_fds) are stored in
 * fds/ret_nfds when those are non-NULL.
 */
int rpc_call(int sock, const char *method, json_t *params, const int *fds, size_t nfds,
	     int timeout_ms, json_t **ret_result, json_t **ret_error);

#endif
