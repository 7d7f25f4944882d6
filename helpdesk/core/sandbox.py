"""Worker processes for reading untrusted bytes: every task has a deadline and a memory cap.

An enterprise can send a 15 KB PDF that keeps a parser busy for minutes, or a mail that needs
gigabytes to decode. Such work runs here, in processes we can kill: a task that overruns its
deadline gets its worker SIGKILLed and replaced, and comes back as `BudgetExceeded`; a worker that
dies (the memory cap, a crash) comes back as `WorkerDied`. Callers degrade, they never wait forever.

Workers die with their parent: they are forked by multiprocessing's forkserver (which exits when its
parent does) and ask the kernel for SIGKILL when the forkserver goes (PR_SET_PDEATHSIG), so a
SIGKILLed poller leaves no orphans behind.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import multiprocessing
import os
import resource
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any

_PR_SET_PDEATHSIG = 1


class BudgetExceeded(Exception):
    """The task ran past its deadline and its worker was killed."""


class WorkerDied(Exception):
    """The worker process ended while running the task (memory cap, crash, killed)."""


def _die_with_parent(parent: int) -> None:
    # The forkserver exits when the last holder of its "alive" pipe goes; it hands every child a copy,
    # so a busy child would keep it (and so itself) alive after our parent died. Drop the copy:
    # then the parent's death ends the forkserver, and the kernel's death signal below ends us,
    # even in the middle of C code that holds the GIL.
    from multiprocessing import forkserver

    alive = getattr(forkserver._forkserver, "_forkserver_alive_fd", None)
    if alive is not None:
        with contextlib.suppress(OSError):
            os.close(alive)
        forkserver._forkserver._forkserver_alive_fd = None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the pipe EOF below still ends an idle worker
        pass
    if os.getppid() != parent:  # the parent went before the request took effect
        os._exit(1)


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports kB


def _worker_main(conn: Connection, memory_bytes: int | None, recycle_bytes: int | None) -> None:
    _die_with_parent(os.getppid())
    if memory_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is for the parent, which then closes us
    while True:
        try:
            fn, args = conn.recv()
        except (EOFError, OSError):
            return
        started = time.process_time()
        try:
            reply: tuple[str, Any, float] = ("ok", fn(*args), 0.0)
        except BaseException as exc:  # reported to the caller, which decides what it means
            reply = ("error", exc, 0.0)
        reply = (reply[0], reply[1], time.process_time() - started)
        try:
            conn.send(reply)
        except Exception as exc:  # an unpicklable result or exception
            conn.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}"), reply[2]))
        del reply
        if recycle_bytes and _peak_rss() > recycle_bytes:
            return  # the parent starts a fresh worker: one huge mail leaves no bloated process behind


class _Worker:
    def __init__(self, context: Any, memory_bytes: int | None, recycle_bytes: int | None) -> None:
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=_worker_main, args=(child, memory_bytes, recycle_bytes), daemon=True
        )
        self.process.start()
        child.close()
        self.task: int | None = None
        self.deadline = 0.0

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()


class Sandbox:
    """A few worker processes; `run` maps a function over arguments, each call under a deadline."""

    def __init__(
        self,
        workers: int = 2,
        *,
        memory_mb: int | None = 1024,
        recycle_mb: int | None = 256,
        preload: Sequence[str] = (),
    ) -> None:
        """`memory_mb` caps a worker's address space; a worker whose peak resident memory passed
        `recycle_mb` after a task is replaced by a fresh one (None: keep it, e.g. a loaded OCR engine)."""
        self.size = max(1, workers)
        self.memory_bytes = memory_mb * 1024 * 1024 if memory_mb else None
        self.recycle_bytes = recycle_mb * 1024 * 1024 if recycle_mb else None
        # forkserver: children never inherit the web server's or scheduler's threads and connections
        self.context = multiprocessing.get_context("forkserver")
        if preload:
            self.context.set_forkserver_preload(list(preload))
        self.workers: list[_Worker] = []
        self.lock = threading.Lock()  # one run at a time; the scheduler's jobs share the sandbox
        #: what the workers did, for benchmarks: tasks finished and the CPU seconds they took
        self.tasks_done = 0
        self.cpu_seconds = 0.0

    def _spawn(self) -> _Worker:
        return _Worker(self.context, self.memory_bytes, self.recycle_bytes)

    def run(self, fn: Callable[..., Any], calls: Sequence[tuple[Any, ...]], timeout: float) -> list[Any]:
        """fn(*args) for each args in `calls`, in parallel; each result, or the exception it ended with."""
        with self.lock:
            return self._run(fn, calls, timeout)

    def _run(self, fn: Callable[..., Any], calls: Sequence[tuple[Any, ...]], timeout: float) -> list[Any]:
        results: list[Any] = [None] * len(calls)
        todo = deque(range(len(calls)))
        while len(self.workers) < min(self.size, len(calls)):
            self.workers.append(self._spawn())
        busy: dict[Connection, _Worker] = {}
        while todo or busy:
            for worker in list(self.workers):
                if worker.task is None and todo and not worker.process.is_alive():
                    self._replace(worker)  # it retired (memory) or died while idle
                    continue
                if worker.task is None and todo:
                    index = todo.popleft()
                    try:
                        worker.conn.send((fn, calls[index]))
                    except OSError:  # the worker died before it took the task (or cannot take it)
                        results[index] = WorkerDied("处理进程无法接收任务（可能超出内存上限）")
                        self._replace(worker)
                        continue
                    worker.task, worker.deadline = index, time.monotonic() + timeout
                    busy[worker.conn] = worker
            if not busy:
                continue
            wait_for = max(0.0, min(w.deadline for w in busy.values()) - time.monotonic())
            sentinels = {w.process.sentinel: w for w in busy.values()}
            for ready in wait([*busy, *sentinels], timeout=wait_for):
                worker = busy.get(ready) or sentinels[ready]  # type: ignore[index, call-overload]
                if worker.task is None:
                    continue
                index = worker.task
                try:
                    kind, value, cpu = worker.conn.recv() if worker.conn.poll() else ("died", None, 0.0)
                except (EOFError, OSError):
                    kind, value, cpu = "died", None, 0.0
                if kind == "died":
                    worker.process.join(2)  # the pipe may close a moment before the exit is seen
                    code = worker.process.exitcode
                    results[index] = WorkerDied(f"处理进程意外结束（退出码 {code}），可能超出内存上限")
                    worker.task = None
                    busy.pop(worker.conn, None)
                    self._replace(worker)
                    continue
                results[index] = value
                self.tasks_done += 1
                self.cpu_seconds += cpu
                worker.task = None
                busy.pop(worker.conn, None)
            now = time.monotonic()
            for worker in [w for w in busy.values() if w.deadline <= now]:
                results[worker.task] = BudgetExceeded(f"超过 {timeout:g} 秒仍未完成，已中止")  # type: ignore[index]
                worker.task = None
                busy.pop(worker.conn, None)
                self._replace(worker)
        return results

    def _replace(self, worker: _Worker) -> None:
        worker.kill()
        self.workers[self.workers.index(worker)] = self._spawn()

    def pids(self) -> list[int]:
        return [w.process.pid for w in self.workers if w.process.pid is not None]

    def close(self) -> None:
        for worker in self.workers:
            worker.conn.close()
            worker.process.join(2)
            worker.kill()
        self.workers = []


_shared: dict[str, tuple[int, Sandbox]] = {}
_shared_lock = threading.Lock()


def shared(name: str, factory: Callable[[], Sandbox]) -> Sandbox:
    """One sandbox per name per process (a forked child makes its own), closed at exit."""
    with _shared_lock:
        owner, box = _shared.get(name, (0, None))  # type: ignore[assignment]
        if box is None or owner != os.getpid():
            box = factory()
            _shared[name] = (os.getpid(), box)
        return box


def close_shared() -> None:
    with _shared_lock:
        for owner, box in _shared.values():
            if owner == os.getpid():
                box.close()
        _shared.clear()


atexit.register(close_shared)
