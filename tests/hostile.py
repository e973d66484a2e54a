"""For the tests that put hostile entries in front of an import: FIFOs, links to /dev/zero, names with
escape codes. What a regression would do with them (block for ever, read until memory runs out)
must fail the test, not hang it or take the machine down: `finishes` puts a deadline on a call,
`memory_cap` a ceiling on what the process may allocate meanwhile.
"""

from __future__ import annotations

import os
import re
import resource
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")
DEADLINE = 30.0  # seconds; what is tested takes well under one, on a loaded 2-core machine too
ESCAPE_NAME = "\x1b[31mđỏ\x1b[0m\x1b]0;pwned\x07 \u202etxt.jsonl"  # colours, window title, bidi


def finishes(
    call: Callable[[], T], *, seconds: float = DEADLINE, unblock: Callable[[], None] = lambda: None
) -> T:
    """call() in a thread with a deadline. Past it, unblock() frees the thread (so the test run can
    end) and the test fails."""
    outcome: list[T] = []
    raised: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as error:  # noqa: BLE001 - handed to the test's thread below
            raised.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        unblock()
        thread.join(5)
        pytest.fail(f"still running after {seconds} s (blocked?)")
    if raised:
        raise raised[0]
    return outcome[0]


def make_fifo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return path


def release_fifo(path: Path) -> None:
    """Open and close the write end: a reader blocked opening the FIFO then reads its end."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:  # nobody is reading it
        return
    os.close(fd)


@contextmanager
def memory_cap(extra_bytes: int = 512_000_000) -> Iterator[None]:
    """Within the block, allocating more than `extra_bytes` beyond what the process holds now raises
    MemoryError (RLIMIT_DATA) instead of growing until the machine swaps."""
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    status = Path("/proc/self/status").read_text()
    held = int(re.search(r"VmData:\s+(\d+) kB", status)[1]) * 1024  # type: ignore[index]
    cap = held + extra_bytes if hard == resource.RLIM_INFINITY else min(held + extra_bytes, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))


def no_controls(text: str) -> bool:
    """No C0/C1 control (but newline) and no bidi control: nothing a terminal would act upon."""
    return not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", text)


def make_nested(root: Path, levels: int, name: str, data: bytes, *, part: str = "n" * 20) -> None:
    """`levels` folders named `part`, one in the other, under `root`, and the file `name` at the bottom:
    with the default 260 levels deeper than PATH_MAX, so made one folder at a time (dir_fd)."""
    folder = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(levels):
            os.mkdir(part, dir_fd=folder)
            inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY, dir_fd=folder)
            os.close(folder)
            folder = inner
        fd = os.open(name, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=folder)
        with open(fd, "wb") as handle:
            handle.write(data)
    finally:
        os.close(folder)
