"""The sandbox for untrusted bytes: deadlines, memory caps, dead workers, no orphans."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpdesk.core.sandbox import BudgetExceeded, Sandbox, WorkerDied
from tests.intake import sandbox_tasks as tasks

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def box():
    sandbox = Sandbox(2, memory_mb=512, recycle_mb=200)
    yield sandbox
    sandbox.close()


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_results_come_back_in_order(box):
    assert box.run(tasks.double, [(i,) for i in range(10)], timeout=30) == [i * 2 for i in range(10)]


def test_a_task_past_its_deadline_is_killed_and_the_others_still_run(box):
    started = time.monotonic()
    results = box.run(tasks.spin, [(0,)], timeout=1) + box.run(tasks.double, [(4,)], timeout=30)
    assert isinstance(results[0], BudgetExceeded) and "1 秒" in str(results[0])
    assert results[1] == 8
    assert time.monotonic() - started < 20


def test_memory_over_the_cap_and_a_dying_worker_come_back_as_errors(box):
    over, died, fine = (
        box.run(tasks.hog, [(2000,)], 30) + box.run(tasks.die, [(3,)], 30) + box.run(tasks.double, [(1,)], 30)
    )
    assert isinstance(over, MemoryError | WorkerDied)
    assert isinstance(died, WorkerDied) and "3" in str(died)
    assert fine == 2  # the replaced worker works


def test_a_worker_that_grew_past_the_recycle_size_is_replaced(box):
    [first] = box.run(tasks.grow, [(300,)], 60)
    deadline = time.monotonic() + 10
    while alive(first) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(first)  # it retired after the task
    assert box.run(tasks.double, [(5,)], 30) == [10]
    [small] = box.run(tasks.pid, [(0,)], 30)
    assert box.run(tasks.pid, [(0,)], 30) == [small]  # a worker that stayed small is kept


def test_workers_die_with_their_parent():
    script = (
        "import sys, threading, time\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from helpdesk.core.sandbox import Sandbox\n"
        "from tests.intake import sandbox_tasks as tasks\n"
        "if __name__ == '__main__':\n"
        "    box = Sandbox(2, memory_mb=None)\n"
        "    threading.Thread(target=box.run, args=(tasks.spin, [(0,), (1,)], 600), daemon=True).start()\n"
        "    time.sleep(3)\n"
        "    print(' '.join(map(str, box.pids())), flush=True)\n"
        "    time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        line = parent.stdout.readline() if parent.stdout else ""
        pids = [int(p) for p in line.split()]
        assert len(pids) == 2 and all(alive(p) for p in pids)
        os.kill(parent.pid, signal.SIGKILL)  # no chance to clean up
        parent.wait(10)
        deadline = time.monotonic() + 10
        while any(alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(alive(p) for p in pids), "sandbox workers outlived their parent"
    finally:
        if parent.poll() is None:
            parent.kill()
