"""Opening the files an import reads: only regular files, and under a folder never through a link.

A link in the drop folder would publish whatever it points at (a file from elsewhere on the server),
a FIFO would block the reader for good, a link to /dev/zero would be read until memory runs out. So
an entry met while walking a folder is opened with every path component checked (O_NOFOLLOW, one
directory at a time), a FIFO is opened with O_NONBLOCK, and after opening the descriptor itself must
be a regular file (fstat), which closes the race between looking and opening. A file named on the
command line may be a link the operator made; it is followed, but it too must be a regular file.
"""

from __future__ import annotations

import codecs
import errno
import io
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

_READ = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC
_ROOT = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
NOT_FOLLOWED = "symbolic link, not followed"


class Refused(Exception):
    """The file is not read: `reason` says why (not a regular file, or too large)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Source:
    """A file to read: `root` itself (named by the operator: a link to it is followed), or `rel`
    ("a/b.txt") under the folder `root`, reached without following any link."""

    root: Path
    rel: str = ""

    @property
    def path(self) -> Path:
        return self.root / self.rel if self.rel else self.root


def kind(mode: int) -> str | None:
    """What a non-regular file is, in words; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISLNK(mode):
        return NOT_FOLLOWED
    for test, name in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return f"not a regular file ({name})"
    return "not a regular file"


def open_regular(source: Source) -> int:
    """A read-only descriptor of a regular file. Raises Refused for anything else, OSError when it
    cannot be opened."""
    if not source.rel:
        _refuse_unless_regular(os.stat(source.root).st_mode)  # a device is never even opened
        return _checked(os.open(source.root, _READ))
    *folders, name = source.rel.split("/")
    folder = os.open(source.root, _ROOT)  # the folder itself is configured or named: followed
    try:
        for part in folders:
            inner = _descend(folder, part)
            os.close(folder)
            folder = inner
        _refuse_unless_regular(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode)
        try:
            return _checked(os.open(name, _READ | os.O_NOFOLLOW, dir_fd=folder))
        except OSError as error:
            if error.errno == errno.ELOOP:  # it became a link after the look above
                raise Refused(NOT_FOLLOWED) from None
            raise
    finally:
        os.close(folder)


def _descend(folder: int, part: str) -> int:
    try:
        return os.open(part, _ROOT | os.O_NOFOLLOW, dir_fd=folder)
    except OSError as error:
        # a folder on the way swapped for a link after the walk (O_DIRECTORY makes Linux say ENOTDIR)
        if error.errno in (errno.ELOOP, errno.ENOTDIR) and _is_link(part, folder):
            raise Refused(f"{NOT_FOLLOWED} (folder {part!r})") from None
        raise


def _is_link(name: str, folder: int) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _checked(fd: int) -> int:
    try:
        _refuse_unless_regular(os.fstat(fd).st_mode)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _refuse_unless_regular(mode: int) -> None:
    reason = kind(mode)
    if reason is not None:
        raise Refused(reason)


def read_at_most(fd: int, limit: int) -> bytes | None:
    """The whole file, or None when it holds more than `limit` bytes (never reading more than one
    byte past the limit, whatever the file claims its size is)."""
    chunks: list[bytes] = []
    left = limit + 1
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return None if left <= 0 else b"".join(chunks)


def read_whole(source: Source, limit: int) -> bytes:
    """A regular file's bytes. Raises Refused when it is not one or holds more than `limit` bytes,
    OSError when it cannot be read."""
    fd = open_regular(source)
    with open(fd, "rb", buffering=0):  # closes fd
        return read_capped(fd, limit)


def read_capped(fd: int, limit: int) -> bytes:
    """The whole file, or Refused when it holds more than `limit` bytes (never held)."""
    size = os.fstat(fd).st_size
    if size > limit:
        raise Refused(f"file too large ({size} bytes, limit {limit})")
    data = read_at_most(fd, limit)
    if data is None:  # it grew while we read it
        raise Refused(f"file too large (over the limit of {limit} bytes)")
    return data


BLOCK = 1 << 20


@contextmanager
def streamed_text(source: Source, limit: int) -> Iterator[io.TextIOWrapper]:
    """A regular file of UTF-8 text, its lines read as they are used (newline="", as csv wants):
    memory bounded by a block, not by the file. The whole file is checked first, block by block, so
    that nothing of it is handed over when it is too large or not UTF-8: Refused says which ("file too
    large", "not UTF-8 text (byte N)"); OSError when it cannot be read."""
    fd = open_regular(source)
    with open(fd, "rb") as raw:  # closes fd
        size = os.fstat(fd).st_size
        if size > limit:
            raise Refused(f"file too large ({size} bytes, limit {limit})")
        decoder = codecs.getincrementaldecoder("utf-8")()
        seen = 0
        while block := raw.read(BLOCK):
            if seen + len(block) > limit:  # it grew while we read it
                raise Refused(f"file too large (over the limit of {limit} bytes)")
            try:
                decoder.decode(block)
            except UnicodeDecodeError as error:  # its object: the bytes held back from before + block
                at = seen - (len(error.object) - len(block)) + error.start
                raise Refused(f"not UTF-8 text (byte {at})") from None
            seen += len(block)
        held = len(decoder.getstate()[0])  # the start of a character cut off by the end
        if held:
            raise Refused(f"not UTF-8 text (byte {seen - held})")
        raw.seek(0)
        yield io.TextIOWrapper(raw, encoding="utf-8", newline="")
