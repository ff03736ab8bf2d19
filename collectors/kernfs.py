"""Small sysfs and cgroupfs files, kept open and re-read with pread.

A kernfs attribute (sysfs, cgroupfs) is generated anew by every read from offset 0, so a
descriptor opened once and pread at 0 each tick gives fresh values for one syscall instead of
three. A file that cannot be opened or read is None (and is opened again next time: a device
that went away and came back, a cgroup that was removed and made again).
"""

from __future__ import annotations

import math
import os
from typing import Dict, Optional

NAN = math.nan
MAX_BYTES = 65536  # enough for io.stat with a few hundred devices; a bigger file is cut


class KernFile:
    """One attribute file, opened on first use."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: Optional[int] = None

    def read(self) -> Optional[str]:
        """The file's text, None when it cannot be read now."""
        if self._fd is None:
            try:
                self._fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                return None
        try:
            data = os.pread(self._fd, MAX_BYTES, 0)
        except OSError:
            self.close()
            return None
        return data.decode("utf-8", "replace")

    def number(self) -> float:
        """The file's first token as a number; NaN when absent, unreadable or not a number."""
        text = self.read()
        if not text:
            return NAN
        try:
            return float(text.split(None, 1)[0])
        except (ValueError, IndexError):
            return NAN

    def close(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None


class KernFiles:
    """Files under one directory by name, each a KernFile; close() closes them all."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._files: Dict[str, KernFile] = {}

    def file(self, name: str) -> KernFile:
        found = self._files.get(name)
        if found is None:
            found = self._files[name] = KernFile(os.path.join(self.directory, name))
        return found

    def path(self, name: str) -> str:
        return os.path.join(self.directory, name)

    def read(self, name: str) -> Optional[str]:
        return self.file(name).read()

    def number(self, name: str) -> float:
        return self.file(name).number()

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files.clear()


def read_small(path: str) -> Optional[str]:
    """A small file's text, read once; None when it cannot be read."""
    try:
        with open(path, "rb") as f:
            return f.read(MAX_BYTES).decode("utf-8", "replace")
    except OSError:
        return None


def keyed_numbers(text: Optional[str]) -> Dict[str, float]:
    """`key value` lines (memory.events, cpu.stat, memory.oom_control) as {key: value}."""
    found: Dict[str, float] = {}
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                found[parts[0]] = float(parts[1])
            except ValueError:
                continue
    return found
