"""One training process per run folder: an exclusive lock on ``RUN/.lock`` held for the whole run.

The lock is ``flock`` on the open file, so the kernel releases it when the holder dies in any way
(SIGKILL, a node reboot's lost NFS client, a crash): a lock file left behind by a dead process is
simply taken over. The file names its holder (pid, host, start time) for the error message of a
second process, and is removed on a clean release, so a lock file that is found unlocked but still
names a holder is the trace of a process that died while holding it.
"""

import fcntl
import json
import os
import socket
import time
from typing import Optional

LOCK_NAME = ".lock"


class RunLocked(Exception):
    """Another live process holds the run folder's lock; the message names it."""


class RunLock:
    """The lock of one run folder; :meth:`acquire` takes it, :meth:`release` (idempotent) gives it back.

    Unheld it does nothing, so every rank of a torchrun job can own one and release it, while rank 0
    alone acquires.
    """

    def __init__(self):
        self.path: Optional[str] = None
        self._fd: Optional[int] = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, run_dir: str) -> Optional[str]:
        """Locks ``run_dir`` or raises :class:`RunLocked` (one line naming the holder). Returns a line
        saying whose stale lock was taken over, or None. Raises OSError where the folder cannot
        hold a lock file."""
        path = os.path.join(run_dir, LOCK_NAME)
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _describe(_read(fd))
                os.close(fd)
                raise RunLocked(f"{run_dir} is in use by {holder} (lock {path}); a run folder trains in one job "
                                f"at a time: wait for that one to end, or stop it first") from None
            except OSError:
                os.close(fd)
                raise
            # A holder that released between our open and our flock removed the file we hold:
            # locking that orphan would let a third process lock the new file beside us.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        stale = _read(fd)
        me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(me) + "\n").encode(), 0)
        except OSError:
            pass  # a full disk: the lock holds without its holder's name, and the run reports the disk itself
        self.path, self._fd = path, fd
        if stale is None:
            return None
        return f"took over the stale lock of {_describe(stale)}, which ended without releasing it ({path})"

    def release(self) -> None:
        """Removes the lock file, then unlocks (in that order: a process waiting on this file then
        sees it gone and opens a fresh one)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.unlink(self.path)
        except OSError:
            pass  # gone already, or a read-only folder: the unlock below is what matters
        os.close(fd)


def _read(fd: int) -> Optional[dict]:
    """The holder a lock file names, or None for an empty or unreadable one."""
    try:
        data = os.pread(fd, 4096, 0)
        holder = json.loads(data.decode()) if data.strip() else None
    except (OSError, ValueError):
        return None
    return holder if isinstance(holder, dict) else None


def _describe(holder: Optional[dict]) -> str:
    if holder is None:
        return "another process (its lock file names none yet)"
    return f"pid {holder.get('pid')} on host {holder.get('host')} (since {holder.get('started')})"
