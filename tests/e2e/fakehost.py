#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
#
# fakehost.py - a minimal stand-in for pvfs-shim + pvfsd, so the guest
# driver's whole data path can be tested in QEMU before (and independently
# of) the real daemon. It serves QEMU's ivshmem-doorbell chardev with the
# ivshmem-server protocol (QEMU docs/specs/ivshmem-spec.rst): QEMU is peer 1,
# this process is peer 0 (the region's doorbell_peer); peer 0's eventfds are
# the guest's doorbells, peer 1's are its MSI-X vectors. It then serves the
# rings with plain pread/pwrite on a volume file, translating guest-physical
# addresses through the guest RAM file (memory-backend-file, share=on; with
# q35 and <= 2 GiB of RAM, guest-physical address == file offset).
#
# It is deliberately simple and slow: NEED_WAKEUP stays set so the guest
# always rings, there is no in-flight table, and every request completes in
# order. The region (header included) is made by mkregion, whose --layout
# JSON gives every offset, so no layout is restated here.
#
# usage: fakehost.py --socket PATH --region FILE --layout JSON
#                    --guest-mem FILE --volume FILE [--vectors N]
# SIGTERM ends it; it prints a one-line summary of what it served.

import argparse
import ctypes
import errno
import json
import mmap
import os
import selectors
import signal
import socket
import struct
import sys

FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
FALLOC_FL_ZERO_RANGE = 0x10

libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]


def fallocate(fd, mode, off, length):
    if libc.fallocate(fd, mode, off, length) != 0:
        raise OSError(ctypes.get_errno(), "fallocate")


class Host:
    def __init__(self, args):
        self.lay = json.load(open(args.layout))
        rfd = os.open(args.region, os.O_RDWR)
        self.region_fd = rfd
        self.shm = mmap.mmap(rfd, os.fstat(rfd).st_size)
        gfd = os.open(args.guest_mem, os.O_RDWR)
        self.mem = mmap.mmap(gfd, os.fstat(gfd).st_size)
        os.close(gfd)
        self.vol = os.open(args.volume, os.O_RDWR)
        self.u32 = struct.Struct("<I")
        lay = self.lay
        self.nq = self.get32(lay["region_hdr.nr_queues"])
        self.depth = self.get32(lay["region_hdr.queue_depth"])
        self.max_segs = self.get32(lay["region_hdr.max_segs"])
        self.capacity = struct.unpack_from("<Q", self.shm, lay["region_hdr.capacity"])[0]
        self.vectors = args.vectors or self.nq
        self.doorbells = [os.eventfd(0, os.EFD_NONBLOCK) for _ in range(self.vectors)]
        self.irqs = [os.eventfd(0, os.EFD_NONBLOCK) for _ in range(self.vectors)]
        self.sq_head = [0] * self.nq
        self.cq_tail = [0] * self.nq
        self.stats = {"ops": 0, "bytes": 0, "errors": 0, "doorbells": 0, "irqs": 0}
        for q in range(self.nq):
            ctrl = self.qbase(q)
            # Resume where the ring is; ask for a doorbell on every submit.
            self.sq_head[q] = self.get32(ctrl + self.lay["queue_ctrl.sq_head"])
            self.cq_tail[q] = self.get32(ctrl + self.lay["queue_ctrl.cq_tail"])
            self.put32(ctrl + self.lay["queue_ctrl.sq_flags"], self.lay["sq_need_wakeup"])

    def get32(self, off):
        return self.u32.unpack_from(self.shm, off)[0]

    def put32(self, off, val):
        self.u32.pack_into(self.shm, off, val & 0xFFFFFFFF)

    def qbase(self, q):
        return self.lay["hdr_size"] + q * self.lay["queue_stride"]

    # -- ivshmem-server protocol: 8-byte little-endian messages, fds attached --
    def serve_client(self, conn):
        def send(val, fd=None):
            data = [struct.pack("<q", val)]
            if fd is None:
                conn.sendmsg(data)
            else:
                socket.send_fds(conn, data, [fd])

        send(0)                         # protocol version
        send(1)                         # QEMU's peer id
        send(-1, self.region_fd)        # the shared memory
        for fd in self.doorbells:       # peer 0 (us): the doorbell targets
            send(0, fd)
        for fd in self.irqs:            # peer 1 (QEMU): its own vectors
            send(1, fd)

    # -- the data plane --
    def do_io(self, op, off, length, segs):
        lay = self.lay
        if off + length > self.capacity or off < 0:
            return -errno.EINVAL
        if op == lay["op_read"] or op == lay["op_write"]:
            if sum(s[1] for s in segs) != length:
                return -errno.EINVAL
            pos = off
            for addr, slen in segs:
                if addr + slen > len(self.mem):
                    return -errno.EINVAL
                if op == lay["op_read"]:
                    data = os.pread(self.vol, slen, pos)
                    data += bytes(slen - len(data))     # past EOF of a sparse file
                    self.mem[addr:addr + slen] = data
                else:
                    os.pwrite(self.vol, self.mem[addr:addr + slen], pos)
                pos += slen
            return length
        if op == lay["op_flush"]:
            os.fsync(self.vol)
            return 0
        if op == lay["op_discard"]:
            fallocate(self.vol, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, length)
            return 0
        if op == lay["op_write_zeroes"]:
            fallocate(self.vol, FALLOC_FL_ZERO_RANGE, off, length)
            return 0
        return -errno.EOPNOTSUPP

    def serve_queue(self, q):
        lay = self.lay
        base = self.qbase(q)
        tail = self.get32(base + lay["queue_ctrl.sq_tail"])
        head = self.sq_head[q]
        if tail == head:
            return
        if (tail - head) & 0xFFFFFFFF > self.depth:
            print(f"fakehost: q{q}: corrupt SQ (head {head} tail {tail})", file=sys.stderr)
            return
        mask = self.depth - 1
        while head != tail:
            sqe = base + lay["sq_off"] + (head & mask) * lay["sqe_size"]
            op = self.shm[sqe + lay["sqe.opcode"]]
            tag = struct.unpack_from("<H", self.shm, sqe + lay["sqe.tag"])[0]
            nsegs = struct.unpack_from("<H", self.shm, sqe + lay["sqe.nr_segs"])[0]
            length = self.get32(sqe + lay["sqe.len"])
            off = struct.unpack_from("<Q", self.shm, sqe + lay["sqe.offset"])[0]
            head = (head + 1) & 0xFFFFFFFF
            segs = []
            if nsegs > self.max_segs or tag > mask:
                res = -errno.EINVAL
            else:
                st = base + lay["seg_off"] + tag * self.max_segs * lay["seg_size"]
                for i in range(nsegs):
                    segs.append(struct.unpack_from("<QI", self.shm, st + i * lay["seg_size"]))
                try:
                    res = self.do_io(op, off, length, segs)
                except OSError as e:
                    res = -e.errno
            self.stats["ops"] += 1
            if res < 0:
                self.stats["errors"] += 1
                print(f"fakehost: q{q} tag {tag} op {op} off {off} len {length}: {res}",
                      file=sys.stderr)
            else:
                self.stats["bytes"] += res
            cqe = base + lay["cq_off"] + (self.cq_tail[q] & mask) * lay["cqe_size"]
            struct.pack_into("<H", self.shm, cqe + lay["cqe.tag"], tag)
            struct.pack_into("<i", self.shm, cqe + lay["cqe.result"], res)
            self.cq_tail[q] = (self.cq_tail[q] + 1) & 0xFFFFFFFF
        # x86 keeps these stores in program order: CQEs before the tail.
        self.sq_head[q] = head
        self.put32(base + lay["queue_ctrl.sq_head"], head)
        self.put32(base + lay["queue_ctrl.cq_tail"], self.cq_tail[q])
        if q < len(self.irqs):
            os.eventfd_write(self.irqs[q], 1)
            self.stats["irqs"] += 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--socket", required=True)
    ap.add_argument("--region", required=True)
    ap.add_argument("--layout", required=True)
    ap.add_argument("--guest-mem", required=True)
    ap.add_argument("--volume", required=True)
    ap.add_argument("--vectors", type=int, default=0)
    args = ap.parse_args()

    host = Host(args)
    running = True

    def stop(*_):
        nonlocal running
        running = False
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    try:
        os.unlink(args.socket)
    except FileNotFoundError:
        pass
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(args.socket)
    srv.listen(1)
    sel = selectors.DefaultSelector()
    sel.register(srv, selectors.EVENT_READ, "accept")
    for fd in host.doorbells:
        sel.register(fd, selectors.EVENT_READ, "doorbell")
    clients = []
    while running:
        # The timeout is a safety net only: every submit rings a doorbell.
        for key, _ in sel.select(timeout=0.2):
            if key.data == "accept":
                conn, _ = srv.accept()
                host.serve_client(conn)
                clients.append(conn)    # closing it would tell QEMU we left
            else:
                try:
                    os.eventfd_read(key.fd)
                    host.stats["doorbells"] += 1
                except BlockingIOError:
                    pass
        for q in range(host.nq):
            host.serve_queue(q)
    print("fakehost: " + " ".join(f"{k} {v}" for k, v in host.stats.items()), flush=True)


if __name__ == "__main__":
    main()
