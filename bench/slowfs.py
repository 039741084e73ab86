#!/usr/bin/env python3
"""A slow mount, as sshfs or NFS over a long link is: FUSE over SOURCE at MOUNTPOINT, each call
that reaches it (stat, list, open, read, write) waits DELAY_MS first. While the file STALL
exists every call waits until it is gone, as a mount whose server stopped answering does.

    bench/slowfs.py SOURCE MOUNTPOINT DELAY_MS STALL
Runs in the foreground until unmounted (fusermount -u MOUNTPOINT). Needs fusepy and libfuse2.
"""

import errno
import os
import sys
import time

from fuse import FUSE, FuseOSError, Operations


class Slow(Operations):
    def __init__(self, source, delay_ms, stall):
        self.source = os.path.realpath(source)
        self.delay = delay_ms / 1000
        self.stall = stall

    def _wait(self, path):
        time.sleep(self.delay)
        while os.path.exists(self.stall):
            time.sleep(0.05)
        return self.source + path

    def __call__(self, op, path, *args):
        try:
            return super().__call__(op, path, *args)
        except OSError as e:
            raise FuseOSError(e.errno or errno.EIO) from e

    def getattr(self, path, fh=None):
        st = os.lstat(self._wait(path))
        return {k: getattr(st, k) for k in (
            "st_atime", "st_ctime", "st_gid", "st_mode", "st_mtime", "st_nlink", "st_size",
            "st_uid", "st_ino")}

    def readdir(self, path, fh):
        return [".", ".."] + os.listdir(self._wait(path))

    def readlink(self, path):
        return os.readlink(self._wait(path))

    def access(self, path, mode):
        if not os.access(self._wait(path), mode):
            raise FuseOSError(errno.EACCES)

    def statfs(self, path):
        st = os.statvfs(self._wait(path))
        return {k: getattr(st, k) for k in (
            "f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree", "f_files",
            "f_flag", "f_frsize", "f_namemax")}

    def open(self, path, flags):
        return os.open(self._wait(path), flags)

    def create(self, path, mode, fi=None):
        return os.open(self._wait(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)

    def read(self, path, size, offset, fh):
        self._wait(path)
        return os.pread(fh, size, offset)

    def write(self, path, data, offset, fh):
        self._wait(path)
        return os.pwrite(fh, data, offset)

    def truncate(self, path, length, fh=None):
        os.truncate(self._wait(path), length)

    def flush(self, path, fh):
        return 0

    def release(self, path, fh):
        os.close(fh)

    def fsync(self, path, datasync, fh):
        os.fsync(fh)

    def unlink(self, path):
        os.unlink(self._wait(path))

    def mkdir(self, path, mode):
        os.mkdir(self._wait(path), mode)

    def rmdir(self, path):
        os.rmdir(self._wait(path))

    def rename(self, old, new):
        os.rename(self._wait(old), self.source + new)

    def chmod(self, path, mode):
        os.chmod(self._wait(path), mode)

    def utimens(self, path, times=None):
        os.utime(self._wait(path), times)


if __name__ == "__main__":
    source, mountpoint, delay_ms, stall = sys.argv[1:5]
    FUSE(Slow(source, float(delay_ms), stall), mountpoint, foreground=True, nothreads=False)
