"""Tasks for the sandbox tests (module-level, so the forkserver's children can import them)."""

from __future__ import annotations

import os


def double(n: int) -> int:
    return n * 2


def spin(_n: int) -> None:
    while True:
        pass


def hog(megabytes: int) -> int:
    return len(bytearray(megabytes * 1024 * 1024))


def die(code: int) -> None:
    os._exit(code)


def pid(_n: int) -> int:
    return os.getpid()


def grow(megabytes: int) -> int:
    """Touch `megabytes` of memory, free it, return the pid: the worker's peak stays high."""
    block = bytearray(megabytes * 1024 * 1024)
    for i in range(0, len(block), 4096):
        block[i] = 1
    del block
    return os.getpid()
