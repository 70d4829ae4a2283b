#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""slowfs.py - a FUSE file system with one file whose reads the test holds.

Usage: slowfs.py MOUNTPOINT BACKING CTLDIR GATE_OFFSET

Serves BACKING read-only as MOUNTPOINT/vol.img. A read at or beyond
GATE_OFFSET blocks until the test releases it: the file system writes
"r OFFSET" to the FIFO CTLDIR/events when such a read starts, then reads
one byte from the FIFO CTLDIR/gate per read it lets go. "m" on events says
the file system is mounted. Reads below GATE_OFFSET are served at once
(multi-threaded), so a test can hold one request of a tenant in its backend
for as long as it likes without a sleep: the slow device the drain and
reset tests (integ_drain, integ_reset) need, which fsfreeze cannot give for
reads. Mounted without direct_io: with cache=writeback each held offset is
held once (the page cache keeps what it read); with cache=none (O_DIRECT)
every read reaches us, and pvfsd must send it to io-wq (FUSE's direct I/O
waits for us inside io_uring's submission: integ_drain checks that the
poller does not).

Needs python3-fusepy (scripts/install-deps) and /dev/fuse; the tests skip
without them.
"""
import errno
import os
import stat
import sys
import threading

from fusepy import FUSE, FuseOSError, Operations


class SlowFS(Operations):
    def __init__(self, backing, ctldir, gate_off):
        self.backing = os.open(backing, os.O_RDONLY)
        self.size = os.fstat(self.backing).st_size
        self.ctldir = ctldir
        self.gate_off = gate_off
        self.events_lock = threading.Lock()
        self.events = None
        self.gate = None

    def init(self, path):
        # Opened here, in the file system's thread: both FIFOs exist already.
        self.gate = os.open(os.path.join(self.ctldir, "gate"), os.O_RDWR)
        self.events = os.open(os.path.join(self.ctldir, "events"), os.O_WRONLY)
        os.write(self.events, b"m\n")

    def getattr(self, path, fh=None):
        if path == "/":
            return {"st_mode": stat.S_IFDIR | 0o755, "st_nlink": 2}
        if path == "/vol.img":
            return {"st_mode": stat.S_IFREG | 0o644, "st_nlink": 1, "st_size": self.size,
                    "st_blksize": 4096}
        raise FuseOSError(errno.ENOENT)

    def readdir(self, path, fh):
        return [".", "..", "vol.img"]

    def open(self, path, flags):
        if path != "/vol.img":
            raise FuseOSError(errno.ENOENT)
        if flags & (os.O_WRONLY | os.O_RDWR):
            raise FuseOSError(errno.EROFS)
        return 0

    def read(self, path, size, offset, fh):
        if offset >= self.gate_off:
            with self.events_lock:
                os.write(self.events, b"r %d\n" % offset)
            os.read(self.gate, 1)
        return os.pread(self.backing, size, offset)


def main():
    if len(sys.argv) != 5:
        sys.stderr.write(__doc__)
        return 2
    mnt, backing, ctldir, gate_off = sys.argv[1:]
    FUSE(SlowFS(backing, ctldir, int(gate_off)), mnt, foreground=True, nothreads=False,
         ro=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
