"""Where recordings and summaries go: checked before anything runs, put in place atomically.

The contract (README, "What memmap guarantees about your data"): nothing is written over an
existing file until the run has started, `--force` included. So an output goes through three
steps:

1. `check_output(path, force)` looks and touches nothing. It follows symbolic links to the file
   they name (a link to a recording stays a link; its target is replaced) and refuses what
   memmap must never write: a directory, anything that is not a regular file (a device node, a
   FIFO, a socket), a link to nothing, a folder that does not exist, an existing file without
   --force. `same_file` tells when two options name one file (by path, or through links).
2. `PendingFile(target)` creates a temporary file beside the target (`.NAME.memmap-XXXX.tmp`),
   at once, so that an unwritable folder fails before sampling starts. The recording's header
   goes there.
3. `publish()`, once the run has started, puts it in place in one step: linked to the name where
   no file is (without --force, a file that appeared meanwhile is not overwritten), renamed over
   it with --force. Until then a failed start costs nothing but the temporary file, which
   `discard()` removes. A recording holds an exclusive flock on its file while it is written: a
   second memmap asked to replace it is refused, instead of both reporting success.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
from typing import NamedTuple, Optional, Tuple

from ..collector import UsageError

_KINDS = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"))
PUBLISH_TRIES = 5


class Target(NamedTuple):
    """An output file that passed `check_output`: what the user wrote, and where it leads."""

    path: str                              # as given (for messages)
    real: str                              # through every symbolic link
    ident: Optional[Tuple[int, int]]       # (device, inode) when the file exists
    force: bool

    @property
    def folder(self) -> str:
        return os.path.dirname(self.real) or "."


def _kind(mode: int) -> str:
    for test, word in _KINDS:
        if test(mode):
            return word
    return "not a regular file"


def check_output(path: str, force: bool) -> Target:
    """Check that `path` may be written (see the module docstring); UsageError naming why not.

    Nothing is created, truncated or removed."""
    if not path:
        raise UsageError("the output file name is empty")
    if path.endswith(os.sep):
        raise UsageError(f"{path} names a directory (it ends in {os.sep}); give a file name")
    try:
        st: Optional[os.stat_result] = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise UsageError(f"{path} is a symbolic link to {os.readlink(path)}, which does "
                             "not exist; give the file itself") from None
        st = None
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise UsageError(f"{path} is a directory, not a file")
        if not stat.S_ISREG(st.st_mode):
            raise UsageError(f"{path} is {_kind(st.st_mode)}, not a regular file; memmap "
                             "writes only regular files")
        if not force:
            raise UsageError(f"{path} exists; use --force to overwrite it")
        if not os.access(path, os.W_OK):
            raise UsageError(f"{path} is not writable for you; not replaced, even with --force")
    real = os.path.realpath(path)
    folder = os.path.dirname(real) or "."
    if not os.path.isdir(folder):
        raise UsageError(f"cannot write {path}: no such directory {folder}")
    return Target(path, real, (st.st_dev, st.st_ino) if st is not None else None, force)


def same_file(a: Target, b: Target) -> bool:
    """Whether two outputs are one file (the same path through links, or hard links)."""
    return a.real == b.real or (a.ident is not None and a.ident == b.ident)


class PendingFile:
    """A temporary file beside `target`, put in place by `publish()` (see the module docstring).

    `fd` is open for writing (close-on-exec) and holds an exclusive flock."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.published = False
        base = os.path.basename(target.real)[:200]  # the temporary name must fit NAME_MAX too
        self.fd, self.tmp = -1, ""
        for _ in range(PUBLISH_TRIES):
            tmp = os.path.join(target.folder, f".{base}.memmap-{os.urandom(4).hex()}.tmp")
            try:
                self.fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
                                  | os.O_APPEND, 0o644)
            except FileExistsError:
                continue
            except OSError as exc:
                raise UsageError(f"cannot write {target.path}: {exc.strerror}") from None
            self.tmp = tmp
            break
        else:
            raise UsageError(f"cannot write {target.path}: no free temporary name beside it")
        fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new file: nobody else has it

    def publish(self) -> None:
        """Put the temporary file in place of the target, in one step; UsageError (and the
        target untouched) when another file appeared there without --force, or another memmap
        is recording to it."""
        if self.published:
            return
        for _ in range(PUBLISH_TRIES):
            if self._link() or self._replace():
                self.published = True
                return
        raise UsageError(f"{self.target.path} keeps changing while memmap starts; "
                         "not overwritten")

    def _link(self) -> bool:
        """Where no file is: a hard link, which fails if one appeared. False when one exists."""
        try:
            os.link(self.tmp, self.target.real)
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                raise UsageError(f"cannot write {self.target.path}: {exc.strerror}") from None
            return self._reserve()  # a file system without hard links
        os.unlink(self.tmp)
        return True

    def _reserve(self) -> bool:
        """Without hard links: create the name exclusively, then rename over our own file."""
        try:
            os.close(os.open(self.target.real, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        except FileExistsError:
            return False
        except OSError as exc:
            raise UsageError(f"cannot write {self.target.path}: {exc.strerror}") from None
        os.replace(self.tmp, self.target.real)
        return True

    def _replace(self) -> bool:
        """A file is there: with --force, rename over it unless another memmap holds it.
        False when it went away meanwhile (try again)."""
        if not self.target.force:
            raise UsageError(f"{self.target.path} appeared while memmap was starting; "
                             "use --force to overwrite it")
        try:
            old = os.open(self.target.real, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW
                          | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise UsageError(f"cannot replace {self.target.path}: {exc.strerror}") from None
        try:
            st = os.fstat(old)
            if not stat.S_ISREG(st.st_mode):
                raise UsageError(f"{self.target.path} is now {_kind(st.st_mode)}; not replaced")
            try:
                fcntl.flock(old, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise UsageError(f"{self.target.path} is being written by another memmap "
                                 "(it holds a lock on it); not replaced") from None
            try:
                now = os.stat(self.target.real, follow_symlinks=False)
            except FileNotFoundError:
                return False
            if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
                return False  # replaced meanwhile: look again
            with contextlib.suppress(OSError):  # a private recording stays private (0600)
                os.fchmod(self.fd, stat.S_IMODE(st.st_mode))
            try:
                os.replace(self.tmp, self.target.real)
            except OSError as exc:  # e.g. another user's file in a sticky folder such as /tmp
                raise UsageError(f"cannot replace {self.target.path}: {exc.strerror}") from None
            return True
        finally:
            os.close(old)

    def discard(self) -> None:
        """Remove the temporary file (the run did not start); the target is untouched."""
        if not self.published and self.tmp:
            try:
                os.unlink(self.tmp)
            except FileNotFoundError:
                pass
        self.tmp = ""


def write_whole(target: Target, data: bytes) -> None:
    """Write `data` to `target` whole or not at all (a temporary file, then published)."""
    pending = PendingFile(target)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(pending.fd, view):]
        os.fsync(pending.fd)
        pending.publish()
    finally:
        os.close(pending.fd)
        pending.discard()
